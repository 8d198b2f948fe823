package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Random;

/** Input layouts under test and small helpers shared by the core tests. */
public final class Nets {

    private Nets() {
    }

    /** One input layout: its InputType, a concrete shape, and the channel axis. */
    public record Layout(String name, InputType inputType, long[] shape, int channelAxis) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** Every rank and format the layer supports, 3 channels (4 for FF), small sizes. */
    public static List<Layout> layouts() {
        return List.of(
                new Layout("FF", InputType.feedForward(4), new long[]{6, 4}, 1),
                new Layout("RNN-NCW", InputType.recurrent(3, 5, RNNFormat.NCW), new long[]{3, 3, 5}, 1),
                new Layout("RNN-NWC", InputType.recurrent(3, 5, RNNFormat.NWC), new long[]{3, 5, 3}, 2),
                new Layout("RNN-NCW-T1", InputType.recurrent(3, 1, RNNFormat.NCW), new long[]{5, 3, 1}, 1),
                new Layout("CNN-NCHW", InputType.convolutional(4, 5, 3, CNN2DFormat.NCHW), new long[]{2, 3, 4, 5}, 1),
                new Layout("CNN-NCHW-1x1", InputType.convolutional(1, 1, 3, CNN2DFormat.NCHW), new long[]{4, 3, 1, 1}, 1),
                new Layout("CNN-NHWC-1x1", InputType.convolutional(1, 1, 3, CNN2DFormat.NHWC), new long[]{4, 1, 1, 3}, 3),
                new Layout("CNN-NHWC", InputType.convolutional(4, 5, 3, CNN2DFormat.NHWC), new long[]{2, 4, 5, 3}, 3),
                new Layout("CNN3D-NCDHW", InputType.convolutional3D(Convolution3D.DataFormat.NCDHW, 2, 3, 4, 3),
                        new long[]{2, 3, 2, 3, 4}, 1),
                new Layout("CNN3D-NDHWC", InputType.convolutional3D(Convolution3D.DataFormat.NDHWC, 2, 3, 4, 3),
                        new long[]{2, 2, 3, 4, 3}, 4));
    }

    /** A network holding one layer (a BatchNorm, or a reference layer), types inferred from the InputType. */
    public static MultiLayerNetwork single(org.deeplearning4j.nn.conf.layers.Layer layer, InputType inputType, DataType dataType) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .dataType(dataType)
                .list()
                .layer(layer)
                .setInputType(inputType)
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        net.initGradientsView();
        return net;
    }

    /** Gaussian values with the given mean and spread, rounded to the data type. */
    public static INDArray random(long[] shape, DataType dataType, double mean, double std, long seed) {
        Random r = new Random(seed);
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        double[] values = new double[(int) n];
        for (int i = 0; i < values.length; i++) {
            values[i] = mean + std * r.nextGaussian();
        }
        return Nd4j.createFromArray(values).reshape(shape).castTo(dataType);
    }

    /**
     * Masked sequences for the population pass: {@code count} batches of [4, 3, 6] NCW, DOUBLE, each with a
     * mask of its own (example e of batch b valid for its first {@code 1 + (e + b) % 5} steps, padding 1000) and
     * labels [4, 2, 6] masked alike.
     *
     * @param count how many batches
     * @param seed  the first batch's seed
     * @return the batches
     */
    public static java.util.List<org.nd4j.linalg.dataset.DataSet> maskedSequences(int count, long seed) {
        java.util.List<org.nd4j.linalg.dataset.DataSet> batches = new java.util.ArrayList<>();
        for (int b = 0; b < count; b++) {
            INDArray x = random(new long[]{4, 3, 6}, DataType.DOUBLE, b, 1 + b, seed + b);
            INDArray mask = Nd4j.ones(DataType.DOUBLE, 4, 6);
            for (int e = 0; e < 4; e++) {
                for (int t = 1 + (e + b) % 5; t < 6; t++) {
                    mask.putScalar(e, t, 0);
                    for (int c = 0; c < 3; c++) {
                        x.putScalar(new long[]{e, c, t}, 1000);
                    }
                }
            }
            batches.add(new org.nd4j.linalg.dataset.DataSet(x, random(new long[]{4, 2, 6}, DataType.DOUBLE, 0, 1,
                    seed + 100 + b), mask, mask));
        }
        return batches;
    }

    /** Row-major values of an array as doubles. */
    public static double[] values(INDArray a) {
        return a.dup('c').castTo(DataType.DOUBLE).reshape(a.length()).toDoubleVector();
    }

    /** The BatchNorm layer at index 0 of a network. */
    public static Layer first(MultiLayerNetwork net) {
        return net.getLayer(0);
    }

    /**
     * Whether this JVM's kernel path computes a data type otherwise than the default run does, so a test of that
     * type here checks something the default run does not: on the plain path ({@code -Ddl4jbn.kernels=plain})
     * only FLOAT, whose Vector API loops the path replaces; DOUBLE and the 16-bit types run the same passes
     * there. On every other path, every type.
     *
     * @param type a network data type
     * @return whether to run that type's cases here
     */
    public static boolean distinctOnThisPath(DataType type) {
        return !"plain".equalsIgnoreCase(System.getProperty("dl4jbn.kernels", "").trim()) || type == DataType.FLOAT;
    }
}
