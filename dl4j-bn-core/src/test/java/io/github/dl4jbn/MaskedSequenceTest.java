package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.VarianceEstimate;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.adapter.SingletonDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static io.github.dl4jbn.Compare.assertClose;
import static io.github.dl4jbn.Nets.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Masked sequences (a recurrent input with DL4J's {@code [mb, T]} features mask, and a feed-forward one with the
 * {@code [mb * T, 1]} mask an RNN-to-FF preprocessor makes): the padded steps take part in nothing. The same
 * calls give the same bits whatever the padded steps hold (0, 1e3, NaN); the valid steps match
 * {@link ReferenceBatchNorm} run on the valid steps alone (statistics, output, dx, dgamma, dbeta, the running
 * statistics with m the valid count); the padded steps' output and dx are 0, also through an activation.
 */
class MaskedSequenceTest {

    private static final int EXAMPLES = 5;
    private static final int CHANNELS = 3;
    private static final int STEPS = 7;

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (RNNFormat format : RNNFormat.values()) {
            for (DataType type : new DataType[]{DataType.FLOAT, DataType.DOUBLE}) {
                for (Activation activation : new Activation[]{Activation.IDENTITY, Activation.SIGMOID}) {
                    cases.add(Arguments.of(format, type, activation));
                }
            }
        }
        return cases.stream();
    }

    /** Example e is valid for its first 2 + e steps (2 to 6 of 7): every example has padding. */
    private static INDArray mask(DataType type) {
        double[][] m = new double[EXAMPLES][STEPS];
        for (int e = 0; e < EXAMPLES; e++) {
            for (int t = 0; t < 2 + e; t++) {
                m[e][t] = 1;
            }
        }
        return Nd4j.createFromArray(m).castTo(type);
    }

    private static long[] shape(RNNFormat format) {
        return format == RNNFormat.NCW ? new long[]{EXAMPLES, CHANNELS, STEPS} : new long[]{EXAMPLES, STEPS, CHANNELS};
    }

    /** Whether element i of the input (row-major) is at a valid step. */
    private static boolean valid(int i, RNNFormat format, INDArray mask) {
        int e = i / (CHANNELS * STEPS);
        int t = format == RNNFormat.NCW ? i % STEPS : (i / CHANNELS) % STEPS;
        return mask.getDouble(e, t) != 0;
    }

    private static int channelOf(int i, RNNFormat format) {
        return format == RNNFormat.NCW ? (i / STEPS) % CHANNELS : i % CHANNELS;
    }

    /** What one training step and one inference call give: y, dx, dgamma, dbeta, running mean, variance, y'. */
    private static double[][] step(RNNFormat format, DataType type, Activation activation, double padding) {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().decay(0.5).activation(activation).build(),
                InputType.recurrent(CHANNELS, STEPS, format), type);
        Layer l = net.getLayer(0);
        l.setParam(BatchNormParamInitializer.GAMMA, Nd4j.createFromArray(0.5, 1.5, 2.0).castTo(type));
        l.setParam(BatchNormParamInitializer.BETA, Nd4j.createFromArray(0.1, -0.2, 0.3).castTo(type));
        INDArray mask = mask(type);
        INDArray x = Nets.random(shape(format), type, 2, 3, 1);
        INDArray dy = Nets.random(shape(format), type, 0, 1, 2);
        for (int i = 0; i < x.length(); i++) {
            if (!valid(i, format, mask)) {
                x.putScalar(i, padding);
                dy.putScalar(i, padding);
            }
        }
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        l.setMaskArray(mask);
        l.setInput(x, mgr);
        double[] y = values(l.activate(true, mgr));
        Pair<Gradient, INDArray> back = l.backpropGradient(dy, mgr);
        double[] yInference = values(l.activate(false, mgr));
        return new double[][]{y, values(back.getSecond()),
                values(back.getFirst().getGradientFor(BatchNormParamInitializer.GAMMA)),
                values(back.getFirst().getGradientFor(BatchNormParamInitializer.BETA)),
                values(l.getParam(BatchNormParamInitializer.MEAN)), values(l.getParam(BatchNormParamInitializer.VAR)),
                yInference, values(x), values(dy)};
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void paddedStepsChangeNoBit(RNNFormat format, DataType type, Activation activation) {
        double[][] zero = step(format, type, activation, 0);
        String[] names = {"y", "dx", "dgamma", "dbeta", "running mean", "running variance", "inference y"};
        for (double padding : new double[]{1e3, Double.NaN}) {
            double[][] other = step(format, type, activation, padding);
            for (int k = 0; k < names.length; k++) {
                assertArrayEquals(zero[k], other[k], 0.0, names[k] + " with padding " + padding);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void validStepsMatchTheReferenceOnTheValidStepsAlone(RNNFormat format, DataType type, Activation activation) {
        double[][] got = step(format, type, activation, Double.NaN);
        double[] x = got[7];
        double[] dy = got[8];
        INDArray mask = mask(DataType.DOUBLE);
        int valid = (int) mask.sumNumber().doubleValue();
        double[] xv = new double[CHANNELS * valid];
        double[] dyv = new double[CHANNELS * valid];
        int[] filled = new int[CHANNELS];
        for (int i = 0; i < x.length; i++) {
            if (valid(i, format, mask)) {
                int c = channelOf(i, format);
                xv[c * valid + filled[c]] = x[i];
                dyv[c * valid + filled[c]] = dy[i];
                filled[c]++;
            } else {
                assertEquals(0.0, got[0][i], "y at a padded step");
                assertEquals(0.0, got[1][i], "dx at a padded step");
                assertEquals(0.0, got[6][i], "inference y at a padded step");
            }
        }
        double rel = type == DataType.DOUBLE ? 1e-12 : 2e-6;
        double abs = type == DataType.DOUBLE ? 1e-12 : 2e-6;
        double[] gamma = {0.5, 1.5, 2.0};
        double[] beta = {0.1, -0.2, 0.3};
        ReferenceBatchNorm ref = new ReferenceBatchNorm(new long[]{1, CHANNELS, valid}, 1);
        ReferenceBatchNorm.Stats s = ref.stats(xv);
        double[] runningMean = new double[CHANNELS];
        double[] runningVar = new double[CHANNELS];
        for (int c = 0; c < CHANNELS; c++) {
            runningMean[c] = 0.5 * s.mean()[c];                   // decay 0.5 from mean 0, variance 1
            runningVar[c] = 0.5 + 0.5 * s.biasedVar()[c] * valid / (valid - 1.0);   // m/(m-1) with m the valid count
        }
        assertClose(runningMean, got[4], rel, abs, "running mean");
        assertClose(runningVar, got[5], rel, abs, "running variance");
        boolean identity = activation == Activation.IDENTITY;
        double[] yRef = ref.forward(xv, s.mean(), s.biasedVar(), gamma, beta, 1e-5);
        double[] yInferenceRef = ref.forward(xv, runningMean, runningVar, gamma, beta, 1e-5);
        double[] dz = identity ? dyv : sigmoidBackprop(yRef, dyv);
        ReferenceBatchNorm.Grads g = ref.backwardTraining(xv, dz, gamma, 1e-5);
        assertClose(g.dgamma(), got[2], rel, 10 * abs, "dgamma");
        assertClose(g.dbeta(), got[3], rel, 10 * abs, "dbeta");
        Arrays.fill(filled, 0);
        for (int i = 0; i < x.length; i++) {
            if (valid(i, format, mask)) {
                int c = channelOf(i, format);
                int j = c * valid + filled[c]++;
                assertEquals(identity ? yRef[j] : sigmoid(yRef[j]), got[0][i], rel + abs, "y at valid element " + i);
                assertEquals(identity ? yInferenceRef[j] : sigmoid(yInferenceRef[j]), got[6][i], rel + abs,
                        "inference y at valid element " + i);
                assertEquals(g.dx()[j], got[1][i], 10 * (rel + abs) * (1 + Math.abs(g.dx()[j])), "dx at valid element " + i);
            }
        }
    }

    private static double sigmoid(double z) {
        return 1 / (1 + Math.exp(-z));
    }

    private static double[] sigmoidBackprop(double[] z, double[] dy) {
        double[] out = new double[z.length];
        for (int i = 0; i < z.length; i++) {
            double s = sigmoid(z[i]);
            out[i] = dy[i] * s * (1 - s);
        }
        return out;
    }

    /**
     * The issue's own case, through DataSet and fit: [4, 3, 6] NCW into BatchNorm then an LSTM, examples 2 and 3
     * padded from step 3 on (padding 1000), decay 0: the running mean is the mean over the valid steps.
     */
    @Test
    void fitWithAMaskedDataSetAveragesTheValidStepsOnly() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).updater(new Sgd(0.1))
                .list()
                .layer(new BatchNorm.Builder().decay(0).varianceEstimate(VarianceEstimate.BIASED).build())
                .layer(new LSTM.Builder().nOut(4).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(3, 6, RNNFormat.NCW))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        INDArray x = Nets.random(new long[]{4, 3, 6}, DataType.DOUBLE, 0, 1, 3);
        INDArray mask = Nd4j.ones(DataType.DOUBLE, 4, 6);
        for (int e = 2; e < 4; e++) {
            for (int t = 3; t < 6; t++) {
                mask.putScalar(e, t, 0);
                for (int c = 0; c < 3; c++) {
                    x.putScalar(new long[]{e, c, t}, 1000);
                }
            }
        }
        DataSet data = new DataSet(x, Nets.random(new long[]{4, 2, 6}, DataType.DOUBLE, 0, 1, 4), mask, mask);
        net.fit(new SingletonDataSetIterator(data));
        double[] mean = values(net.getLayer(0).getParam(BatchNormParamInitializer.MEAN));
        for (int c = 0; c < 3; c++) {
            double sum = 0;
            int n = 0;
            for (int e = 0; e < 4; e++) {
                for (int t = 0; t < 6; t++) {
                    if (mask.getDouble(e, t) != 0) {
                        sum += x.getDouble(e, c, t);
                        n++;
                    }
                }
            }
            assertEquals(sum / n, mean[c], 1e-12, "running mean of channel " + c);
        }
    }

    /**
     * A feed-forward input after an RNN-to-FF preprocessor: rows [mb * T, C] with a [mb * T, 1] mask. The masked
     * rows are left out, as the valid steps of the sequence they came from.
     */
    @Test
    void aFeedForwardRowMaskLeavesOutTheMaskedRows() {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().build(), InputType.feedForward(3), DataType.DOUBLE);
        Layer l = net.getLayer(0);
        INDArray x = Nets.random(new long[]{8, 3}, DataType.DOUBLE, 1, 2, 5);
        INDArray mask = Nd4j.createFromArray(1.0, 1, 0, 1, 0, 0, 1, 1).reshape(8, 1);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        l.setMaskArray(mask);
        l.setInput(x, mgr);
        double[] y = values(l.activate(true, mgr));
        INDArray validRows = Nd4j.pullRows(x, 1, new int[]{0, 1, 3, 6, 7});
        ReferenceBatchNorm ref = new ReferenceBatchNorm(validRows.shape(), 1);
        double[] xv = values(validRows);
        ReferenceBatchNorm.Stats s = ref.stats(xv);
        double[] expected = ref.forward(xv, s.mean(), s.biasedVar(), new double[]{1, 1, 1}, new double[3], 1e-5);
        int[] rows = {0, 1, 3, 6, 7};
        for (int k = 0; k < rows.length; k++) {
            for (int c = 0; c < 3; c++) {
                assertEquals(expected[k * 3 + c], y[rows[k] * 3 + c], 1e-12, "row " + rows[k] + ", channel " + c);
            }
        }
        for (int row : new int[]{2, 4, 5}) {
            for (int c = 0; c < 3; c++) {
                assertEquals(0.0, y[row * 3 + c], "masked row " + row);
            }
        }
    }

    /**
     * Algorithm 2 over masked batches: the input layer's population statistics are E_B of the batch means over
     * the valid steps and E_B of m/(m-1) times their biased variances, m each batch's valid count, computed here
     * by hand.
     */
    @Test
    void thePopulationPassAveragesTheValidStepsOfEachBatch() {
        List<DataSet> batches = Nets.maskedSequences(5, 40);
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).list()
                .layer(new BatchNorm.Builder().build())
                .layer(new LSTM.Builder().nOut(4).build())
                .layer(new BatchNorm.Builder().build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(3, 6, RNNFormat.NCW)).build());
        net.init();
        assertEquals(batches.size(), PopulationStatistics.estimate(net,
                new org.deeplearning4j.datasets.iterator.ExistingDataSetIterator(batches)));
        double[] mean = new double[3];
        double[] var = new double[3];
        for (DataSet d : batches) {
            for (int c = 0; c < 3; c++) {
                double sum = 0;
                double sumSq = 0;
                int n = 0;
                for (int e = 0; e < d.getFeatures().size(0); e++) {
                    for (int t = 0; t < 6; t++) {
                        if (d.getFeaturesMaskArray().getDouble(e, t) != 0) {
                            double v = d.getFeatures().getDouble(e, c, t);
                            sum += v;
                            sumSq += v * v;
                            n++;
                        }
                    }
                }
                double mu = sum / n;
                mean[c] += mu / batches.size();
                var[c] += (sumSq / n - mu * mu) * n / (n - 1.0) / batches.size();
            }
        }
        assertClose(mean, values(net.getLayer(0).getParam(BatchNormParamInitializer.MEAN)), 1e-12, 1e-12, "population mean");
        assertClose(var, values(net.getLayer(0).getParam(BatchNormParamInitializer.VAR)), 1e-10, 1e-12, "population variance");
    }

    @Test
    void theMaskGoesOnUnchanged() {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().build(), InputType.recurrent(CHANNELS, STEPS), DataType.FLOAT);
        INDArray mask = mask(DataType.FLOAT);
        Pair<INDArray, MaskState> out = net.getLayer(0).feedForwardMaskArray(mask, MaskState.Active, EXAMPLES);
        assertSame(mask, out.getFirst());
        assertEquals(MaskState.Active, out.getSecond());
    }

    @Test
    void aMaskOnAConvolutionalInputOrOfTheWrongShapeIsAClearError() {
        MultiLayerNetwork cnn = Nets.single(new BatchNorm.Builder().name("bn-cnn").build(),
                InputType.convolutional(4, 4, 2, CNN2DFormat.NCHW), DataType.FLOAT);
        Layer l = cnn.getLayer(0);
        l.setMaskArray(Nd4j.ones(DataType.FLOAT, 3, 1, 4, 4));
        l.setInput(Nd4j.rand(DataType.FLOAT, 3, 2, 4, 4), LayerWorkspaceMgr.noWorkspaces());
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class,
                () -> l.activate(true, LayerWorkspaceMgr.noWorkspaces()));
        assertTrue(e.getMessage().contains("bn-cnn") && e.getMessage().contains("[3, 1, 4, 4]"), e.getMessage());

        MultiLayerNetwork rnn = Nets.single(new BatchNorm.Builder().name("bn-rnn").build(),
                InputType.recurrent(CHANNELS, STEPS), DataType.FLOAT);
        Layer r = rnn.getLayer(0);
        r.setMaskArray(Nd4j.ones(DataType.FLOAT, EXAMPLES, STEPS - 1));
        r.setInput(Nd4j.rand(DataType.FLOAT, EXAMPLES, CHANNELS, STEPS), LayerWorkspaceMgr.noWorkspaces());
        e = assertThrows(DL4JInvalidInputException.class, () -> r.activate(true, LayerWorkspaceMgr.noWorkspaces()));
        assertTrue(e.getMessage().contains("bn-rnn") && e.getMessage().contains("[5, 7]")
                && e.getMessage().contains("[5, 6]"), e.getMessage());
    }
}
