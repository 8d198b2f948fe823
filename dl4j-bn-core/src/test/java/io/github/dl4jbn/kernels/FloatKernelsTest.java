package io.github.dl4jbn.kernels;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.FloatBuffer;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The float kernels against the double kernels (themselves checked against the paper's reference in
 * BatchNormLayerTest) on the same float inputs: channels-first and channels-last views, tensors small enough
 * for one thread and large enough to be split, and a large mean with a small spread.
 */
class FloatKernelsTest {

    @ParameterizedTest(name = "[{0}, {1}, {2}] mean {3} std {4}")
    @CsvSource({
            "6, 5, 1, 0, 1",            // FF, one thread
            "4, 3, 7, 2, 3",            // NCW, one thread
            "64, 16, 640, -1, 2",       // NCHW, split over two threads
            "40000, 16, 1, 3, 0.5",     // NHWC (channels-last), split
            "5000, 3, 1, 10000, 0.01",  // large mean, small spread, channels-last, split over flush blocks
            "2, 3, 40000, 10000, 0.01"  // large mean, small spread, long channels-first rows
    })
    void floatKernelsMatchTheDoubleKernels(int outer, int channels, int inner, double mean, double std) {
        ChannelView view = new ChannelView(outer, channels, inner);
        Random r = new Random(outer * 31L + inner);
        float[] x = new float[view.size()];
        float[] dy = new float[view.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (mean + std * r.nextGaussian() * (1 + (i / inner) % channels));
            dy[i] = (float) r.nextGaussian();
        }
        double[] xd = new double[x.length];
        double[] dyd = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            xd[i] = x[i];
            dyd[i] = dy[i];
        }
        double[] meanD = new double[channels];
        double[] varD = new double[channels];
        double[] meanF = new double[channels];
        double[] varF = new double[channels];
        BatchNormKernels.batchMeanAndVariance(xd, view, meanD, varD);
        FloatBatchNormKernels.batchMeanAndVariance(FloatBuffer.wrap(x), view, meanF, varF);
        for (int c = 0; c < channels; c++) {
            assertEquals(meanD[c], meanF[c], 1e-6 * Math.sqrt(varD[c]) + 1e-7 * Math.abs(meanD[c]), "mean " + c);
            assertEquals(varD[c], varF[c], 1e-5 * varD[c], "var " + c);
        }
        double[] gamma = new double[channels];
        double[] beta = new double[channels];
        for (int c = 0; c < channels; c++) {
            gamma[c] = 0.5 + c;
            beta[c] = 1 - c;
        }
        double[] invStd = new double[channels];
        BatchNormKernels.inverseStd(varD, 1e-5, invStd, channels);
        double[] yd = new double[x.length];
        float[] yf = new float[x.length];
        BatchNormKernels.normalize(xd, view, meanD, invStd, gamma, beta, yd);
        FloatBatchNormKernels.normalize(FloatBuffer.wrap(x), view, meanD, invStd, gamma, beta, FloatBuffer.wrap(yf));
        for (int i = 0; i < x.length; i++) {
            assertEquals(yd[i], yf[i], 1e-5 * (1 + Math.abs(yd[i])), "y " + i);
        }
        for (boolean through : new boolean[]{true, false}) {
            double[] dxd = new double[x.length];
            float[] dxf = new float[x.length];
            double[] dgD = new double[channels];
            double[] dbD = new double[channels];
            double[] dgF = new double[channels];
            double[] dbF = new double[channels];
            BatchNormKernels.backward(xd, dyd, view, meanD, invStd, gamma, through, dxd, dgD, dbD);
            FloatBatchNormKernels.backward(FloatBuffer.wrap(x), FloatBuffer.wrap(dy), view, meanD, invStd, gamma, through, FloatBuffer.wrap(dxf), dgF, dbF);
            int m = view.valuesPerChannel();
            for (int c = 0; c < channels; c++) {
                assertEquals(dbD[c], dbF[c], 1e-5 * Math.sqrt(m), "dbeta " + c);
                assertEquals(dgD[c], dgF[c], 1e-5 * Math.sqrt(m), "dgamma " + c);
            }
            for (int i = 0; i < x.length; i++) {
                int c = (i / inner) % channels;
                double scale = gamma[c] * invStd[c];
                assertEquals(dxd[i], dxf[i], 1e-5 * scale * (1 + Math.abs(dyd[i])), "dx " + i + " through=" + through);
            }
        }
    }
}
