package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.VarianceEstimate;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static io.github.dl4jbn.Compare.assertClose;
import static io.github.dl4jbn.Nets.values;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The population statistics after K training batches equal the exact recurrence: the moving average in DL4J's
 * convention, or the plain average E_B of Algorithm 2; with the biased or the unbiased (m/(m-1)) variance.
 */
class RunningStatisticsTest {

    private static final int K = 7;

    private static BatchNorm layer(boolean cumulative, VarianceEstimate estimate) {
        BatchNorm.Builder b = new BatchNorm.Builder().varianceEstimate(estimate);
        return (cumulative ? b.cumulativeAverage() : b.decay(0.8)).build();
    }

    /** Expected running mean and variance after the given batches, from the reference statistics. */
    private static double[][] expected(INDArray[] batches, long[] shape, int channelAxis, boolean cumulative,
                                       VarianceEstimate estimate) {
        ReferenceBatchNorm ref = new ReferenceBatchNorm(shape, channelAxis);
        int channels = (int) shape[channelAxis];
        double[] mean = new double[channels];
        double[] var = new double[channels];
        java.util.Arrays.fill(var, 1.0);
        for (int k = 0; k < batches.length; k++) {
            ReferenceBatchNorm.Stats s = ref.stats(values(batches[k]));
            double weight = cumulative ? 1.0 / (k + 1) : 0.2;
            double factor = estimate == VarianceEstimate.UNBIASED ? s.m() / (s.m() - 1.0) : 1.0;
            for (int c = 0; c < channels; c++) {
                mean[c] = (1 - weight) * mean[c] + weight * s.mean()[c];
                var[c] = (1 - weight) * var[c] + weight * s.biasedVar()[c] * factor;
            }
        }
        return new double[][]{mean, var};
    }

    @ParameterizedTest(name = "cumulative={0} {1}")
    @CsvSource({"false,UNBIASED", "false,BIASED", "true,UNBIASED", "true,BIASED"})
    void directTrainingStepsFollowTheRecurrence(boolean cumulative, VarianceEstimate estimate) {
        long[] shape = {4, 3, 2, 5};                                   // NCHW: m = 4 * 2 * 5 = 40 per channel
        MultiLayerNetwork net = Nets.single(layer(cumulative, estimate), InputType.convolutional(2, 5, 3), DataType.DOUBLE);
        Layer l = net.getLayer(0);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        INDArray[] batches = new INDArray[K];
        for (int k = 0; k < K; k++) {
            batches[k] = Nets.random(shape, DataType.DOUBLE, k - 3.0, 1.0 + k, 100 + k);
            l.setInput(batches[k], mgr);
            l.activate(true, mgr);
            l.backpropGradient(Nets.random(shape, DataType.DOUBLE, 0, 1, 200 + k), mgr);
        }
        double[][] e = expected(batches, shape, 1, cumulative, estimate);
        assertClose(e[0], values(l.getParam(BatchNormParamInitializer.MEAN)), 1e-12, 1e-14, "mean");
        assertClose(e[1], values(l.getParam(BatchNormParamInitializer.VAR)), 1e-12, 1e-14, "var");
        if (cumulative) {
            assertEquals(K, l.getParam(BatchNormParamInitializer.BATCH_COUNT).getDouble(0), "batchCount");
        }
    }

    private static MultiLayerNetwork network(BatchNorm bn, GradientNormalization normalization) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE)
                .seed(12)
                .updater(new Adam(0.05))
                .l2(0.1)
                .weightDecay(0.05)
                .gradientNormalization(normalization)
                .gradientNormalizationThreshold(1e-3)
                .list()
                .layer(bn)
                .layer(new DenseLayer.Builder().nOut(5).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(4))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static DataSet batch(int k) {
        INDArray x = Nets.random(new long[]{10, 4}, DataType.DOUBLE, 5.0 - k, 2.0 + 0.5 * k, 300 + k);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, 10, 2);
        for (int i = 0; i < 10; i++) {
            y.putScalar(i, i % 2, 1.0);
        }
        return new DataSet(x, y);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"None", "ClipElementWiseAbsoluteValue", "ClipL2PerLayer", "ClipL2PerParamType",
            "RenormalizeL2PerLayer", "RenormalizeL2PerParamType"})
    void fitMovesTheStatisticsOncePerIterationWhateverTheUpdaterRegularizationAndClipping(GradientNormalization normalization) {
        MultiLayerNetwork net = network(layer(false, VarianceEstimate.UNBIASED), normalization);
        INDArray gammaBefore = net.getLayer(0).getParam(BatchNormParamInitializer.GAMMA).dup();
        INDArray[] inputs = new INDArray[K];
        for (int k = 0; k < K; k++) {
            DataSet d = batch(k);
            inputs[k] = d.getFeatures();
            net.fit(d);
            net.output(d.getFeatures());                               // inference never moves them
            net.output(d.getFeatures(), true);                         // nor does a training-mode forward alone
        }
        double[][] e = expected(inputs, new long[]{10, 4}, 1, false, VarianceEstimate.UNBIASED);
        Layer l = net.getLayer(0);
        assertClose(e[0], values(l.getParam(BatchNormParamInitializer.MEAN)), 1e-12, 1e-14, "mean");
        assertClose(e[1], values(l.getParam(BatchNormParamInitializer.VAR)), 1e-12, 1e-14, "var");
        org.junit.jupiter.api.Assertions.assertNotEquals(gammaBefore, l.getParam(BatchNormParamInitializer.GAMMA),
                "gamma is learned");
    }

    @Test
    void gammaAndBetaAreNotRegularizedUnlessAskedTo() {
        MultiLayerNetwork plain = network(layer(false, VarianceEstimate.UNBIASED), GradientNormalization.None);
        MultiLayerNetwork regularized = network(new BatchNorm.Builder().regularizeGammaBeta(true).build(), GradientNormalization.None);
        plain.setParams(Nd4j.rand(DataType.DOUBLE, plain.params().shape()).addi(0.5));
        regularized.setParams(plain.params().dup());
        DataSet d = batch(0);
        plain.setInput(d.getFeatures());
        plain.setLabels(d.getLabels());
        regularized.setInput(d.getFeatures());
        regularized.setLabels(d.getLabels());
        assertEquals(plain.getLayer(1).calcRegularizationScore(true) + plain.getLayer(2).calcRegularizationScore(true),
                plain.calcRegularizationScore(true), 1e-12, "no regularization from the BatchNorm layer by default");
        double bnScore = regularized.getLayer(0).calcRegularizationScore(true);
        double[] gamma = values(regularized.getLayer(0).getParam(BatchNormParamInitializer.GAMMA));
        double l2 = 0;
        for (double g : gamma) {
            l2 += 0.5 * 0.1 * g * g;                                   // DL4J's L2: 0.5 * coeff * sum w^2 on weights
        }
        assertEquals(l2, bnScore, 1e-9, "regularizeGammaBeta(true) puts l2 on gamma (weights), not on beta");
    }
}
