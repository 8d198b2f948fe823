package io.github.dl4jbn.scaleout;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A synthetic 4-class problem whose features are far from standardized (per-feature offsets in [-3, 3] and
 * scales in [0.5, 4]), so that an input BatchNorm has statistics worth getting right; the class is the argmax of a
 * fixed random linear map of the standardized features plus noise (about 90% separable).
 */
final class Blobs {

    static final int FEATURES = 16;
    static final int CLASSES = 4;
    static final int BATCH = 60;

    private Blobs() {
    }

    /** {@code count} examples drawn with the given seed; the problem itself (offsets, scales, map) is fixed. */
    static DataSet draw(int count, long seed) {
        Random problem = new Random(1234);
        double[] offset = new double[FEATURES];
        double[] scale = new double[FEATURES];
        double[][] map = new double[CLASSES][FEATURES];
        for (int f = 0; f < FEATURES; f++) {
            offset[f] = -3 + 6 * problem.nextDouble();
            scale[f] = 0.5 + 3.5 * problem.nextDouble();
            for (int k = 0; k < CLASSES; k++) {
                map[k][f] = problem.nextGaussian();
            }
        }
        Random r = new Random(seed);
        float[][] x = new float[count][FEATURES];
        float[][] y = new float[count][CLASSES];
        for (int i = 0; i < count; i++) {
            double[] z = new double[FEATURES];
            for (int f = 0; f < FEATURES; f++) {
                z[f] = r.nextGaussian();
                x[i][f] = (float) (offset[f] + scale[f] * z[f]);
            }
            int best = 0;
            double bestScore = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < CLASSES; k++) {
                double s = 0.5 * r.nextGaussian();
                for (int f = 0; f < FEATURES; f++) {
                    s += map[k][f] * z[f];
                }
                if (s > bestScore) {
                    bestScore = s;
                    best = k;
                }
            }
            y[i][best] = 1f;
        }
        return new DataSet(Nd4j.create(x).castTo(DataType.FLOAT), Nd4j.create(y).castTo(DataType.FLOAT));
    }

    /** Mini-batches of {@link #BATCH} in a fixed order. */
    static List<DataSet> batches(DataSet all) {
        List<DataSet> out = new ArrayList<>();
        for (DataSet d : all.batchBy(BATCH)) {
            out.add(d);
        }
        return out;
    }
}
