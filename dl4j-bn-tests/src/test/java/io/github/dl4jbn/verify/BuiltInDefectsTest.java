package io.github.dl4jbn.verify;

import io.github.dl4jbn.Compare;
import io.github.dl4jbn.Nets;
import io.github.dl4jbn.ReferenceBatchNorm;
import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.VarianceEstimate;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.constraint.NonNegativeConstraint;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where DL4J 1.0.0-M2.1's built-in BatchNormalization is wrong: for each defect, one test shows ours matches the
 * double-precision reference, and one records the built-in layer's behaviour as observed today, so that a DL4J
 * upgrade that changes it is noticed.
 */
class BuiltInDefectsTest {

    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();

    private static INDArray gaussian(long[] shape, long seed, double mean, double std) {
        return Nets.random(shape, DataType.DOUBLE, mean, std, seed);
    }

    private static MultiLayerNetwork single(org.deeplearning4j.nn.conf.layers.Layer layer, InputType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).list()
                .layer(layer).setInputType(type).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        net.initGradientsView();
        return net;
    }

    private static INDArray train(MultiLayerNetwork net, INDArray x) {
        return net.getLayer(0).activate(x, true, NO_WS);
    }

    /** The reference training output for one feature axis and fixed gamma/beta. */
    private static INDArray reference(INDArray x, int channelAxis, double gamma, double beta) {
        ReferenceBatchNorm ref = new ReferenceBatchNorm(x.shape(), channelAxis);
        double[] xv = Nets.values(x);
        ReferenceBatchNorm.Stats s = ref.stats(xv);
        int c = (int) x.size(channelAxis);
        double[] g = new double[c];
        double[] b = new double[c];
        java.util.Arrays.fill(g, gamma);
        java.util.Arrays.fill(b, beta);
        return Nd4j.createFromArray(ref.forward(xv, s.mean(), s.biasedVar(), g, b, 1e-5)).reshape(x.shape());
    }

    @Nested
    class Rank3Input {
        final INDArray x = gaussian(new long[]{4, 3, 5}, 1, 1, 2);       // NCW, statistics per channel over batch and time

        @Test
        void oursNormalizesPerChannelOverBatchAndTime() {
            MultiLayerNetwork net = single(new BatchNorm.Builder().build(), InputType.recurrent(3, 5));
            Compare.assertClose(reference(x, 1, 1, 0), train(net, x), 1e-12, 1e-12, "rank 3");
            INDArray dx = net.getLayer(0).backpropGradient(Nd4j.onesLike(x), NO_WS).getSecond();
            assertEquals(x.shape().length, dx.rank());
        }

        @Test
        void builtInRejectsItOrTakesTheBatchAxisAsChannelsAndThenThrowsInBackprop() {
            MultiLayerNetwork net = single(new BatchNormalization.Builder().useLogStd(false).build(), InputType.recurrent(3, 5));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> train(net, x),
                    "observed: a batch of 4 is rejected");
            assertTrue(e.getMessage().contains("[1, 4, 3, 5]"), "observed: reshaped to rank 4 with the batch as channels: " + e.getMessage());
            INDArray batchOfThree = gaussian(new long[]{3, 3, 5}, 3, 1, 2);    // batch size equal to the channel count
            INDArray out = train(net, batchOfThree);
            assertTrue(Compare.worstRelative(reference(batchOfThree, 1, 1, 0), out, 1e-6, 1e-6) > 1e-2,
                    "observed: not normalized per channel over batch and time");
            assertThrows(RuntimeException.class, () -> net.getLayer(0).backpropGradient(Nd4j.onesLike(out), NO_WS),
                    "observed: backprop throws on rank-3 input");
        }
    }

    @Nested
    class LockedGammaBeta {
        final INDArray x = gaussian(new long[]{6, 4}, 2, 3, 2);

        @Test
        void oursAppliesBothFixedValues() {
            MultiLayerNetwork g2b0 = single(new BatchNorm.Builder().lockGammaBeta(true).gamma(2).beta(0).build(), InputType.feedForward(4));
            MultiLayerNetwork g1b3 = single(new BatchNorm.Builder().lockGammaBeta(true).gamma(1).beta(3).build(), InputType.feedForward(4));
            Compare.assertClose(reference(x, 1, 2, 0), train(g2b0, x), 1e-12, 1e-12, "gamma=2 beta=0");
            Compare.assertClose(reference(x, 1, 1, 3), train(g1b3, x), 1e-12, 1e-12, "gamma=1 beta=3");
        }

        @Test
        void builtInDropsBothWhenGammaIsOneOrBetaIsZero() {
            MultiLayerNetwork g2b0 = single(new BatchNormalization.Builder().useLogStd(false).lockGammaBeta(true).gamma(2).beta(0).build(), InputType.feedForward(4));
            MultiLayerNetwork g1b3 = single(new BatchNormalization.Builder().useLogStd(false).lockGammaBeta(true).gamma(1).beta(3).build(), InputType.feedForward(4));
            Compare.assertClose(reference(x, 1, 1, 0), train(g2b0, x), 1e-10, 1e-10, "observed: gamma=2 ignored");
            Compare.assertClose(reference(x, 1, 1, 0), train(g1b3, x), 1e-10, 1e-10, "observed: beta=3 ignored");
        }
    }

    @Nested
    class GammaBetaConstraints {
        private INDArray constrainedGamma(org.deeplearning4j.nn.conf.layers.Layer layer) {
            MultiLayerNetwork net = single(layer, InputType.feedForward(3));
            net.getLayer(0).setParam("gamma", Nd4j.createFromArray(-1.0, 2.0, -3.0));
            net.applyConstraints(0, 0);
            return net.getLayer(0).getParam("gamma");
        }

        @Test
        void oursAppliesThem() {
            assertEquals(Nd4j.createFromArray(0.0, 2.0, 0.0),
                    constrainedGamma(new BatchNorm.Builder().constrainGamma(new NonNegativeConstraint()).build()));
        }

        @Test
        void builtInIgnoresThem() {
            assertEquals(Nd4j.createFromArray(-1.0, 2.0, -3.0), constrainedGamma(new BatchNormalization.Builder()
                    .useLogStd(false).constrainGamma(new NonNegativeConstraint()).build()), "observed: constraint ignored");
        }
    }

    @Nested
    class ClippingAndRunningStatistics {
        /** BN first, so its batch statistics are those of the data whatever the training does. */
        private double[] runningMeanAfterTraining(org.deeplearning4j.nn.conf.layers.Layer bn, double[] expected) {
            MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(3)
                    .updater(new Sgd(0.1))
                    .gradientNormalization(GradientNormalization.ClipElementWiseAbsoluteValue).gradientNormalizationThreshold(0.01)
                    .list().layer(bn)
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(1).activation(Activation.IDENTITY).build())
                    .setInputType(InputType.feedForward(2)).build();
            MultiLayerNetwork net = new MultiLayerNetwork(conf);
            net.init();
            double[] mean = new double[2];
            for (int step = 0; step < 5; step++) {
                INDArray x = gaussian(new long[]{8, 2}, 10 + step, 5, 1);
                net.fit(new DataSet(x, Nd4j.zeros(DataType.DOUBLE, 8, 1)));
                double[] batchMean = x.mean(0).toDoubleVector();
                for (int c = 0; c < 2; c++) {
                    mean[c] = 0.9 * mean[c] + 0.1 * batchMean[c];
                }
            }
            System.arraycopy(mean, 0, expected, 0, 2);
            return net.getLayer(0).getParam("mean").toDoubleVector();
        }

        @Test
        void oursFollowsTheMovingAverage() {
            double[] expected = new double[2];
            double[] actual = runningMeanAfterTraining(new BatchNorm.Builder().varianceEstimate(VarianceEstimate.BIASED).build(), expected);
            Compare.assertClose(Nd4j.createFromArray(expected), Nd4j.createFromArray(actual), 1e-12, 1e-12, "running mean");
        }

        @Test
        void builtInStatisticsAreClippedLikeGradients() {
            double[] expected = new double[2];
            double[] actual = runningMeanAfterTraining(new BatchNormalization.Builder().useLogStd(false).build(), expected);
            for (int c = 0; c < 2; c++) {
                assertEquals(5 * 0.01, Math.abs(actual[c]), 1e-12, "observed: 5 steps of at most 0.01 each");
                assertTrue(expected[c] > 1.5, "the true moving average is far away: " + expected[c]);
            }
        }
    }

    @Nested
    class BatchOfOne {
        final INDArray one = Nd4j.createFromArray(new double[][]{{3.0, -1.0, 7.0}});

        @Test
        void oursRefusesToTrain() {
            MultiLayerNetwork net = single(new BatchNorm.Builder().build(), InputType.feedForward(3));
            DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class, () -> train(net, one));
            assertTrue(e.getMessage().contains("more than one value per channel"), e.getMessage());
        }

        @Test
        void builtInSilentlyOutputsBeta() {
            MultiLayerNetwork net = single(new BatchNormalization.Builder().useLogStd(false).build(), InputType.feedForward(3));
            net.getLayer(0).setParam("beta", Nd4j.createFromArray(0.5, -0.5, 2.0));
            Compare.assertClose(Nd4j.createFromArray(new double[][]{{0.5, -0.5, 2.0}}), train(net, one), 1e-12, 1e-12, "observed: beta");
        }
    }
}
