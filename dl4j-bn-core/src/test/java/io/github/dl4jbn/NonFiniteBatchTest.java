package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.NonFinitePolicy;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.dataset.adapter.SingletonDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;

import static io.github.dl4jbn.Nets.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batches whose statistics cannot be used. A NaN or infinity in a training batch: with FAIL (the default) an
 * error naming the layer, the channel and how many values were not finite, and not a bit of the parameters or
 * running statistics changed; with SKIP the output is computed and that channel's running statistics stay as
 * they were (20 clean batches later they are still finite). The population pass treats such a batch the same
 * way, naming it. And float input so large that its variance leaves float's range: near 1e18 (variance 1.6e37,
 * representable) it is normalized right, near 1e20 it is an error naming the layer and the channel.
 */
class NonFiniteBatchTest {

    private static MultiLayerNetwork net(NonFinitePolicy policy) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .updater(new Sgd(0.1)).list()
                .layer(new BatchNorm.Builder().name("bn").nonFiniteBatches(policy).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(3)).build());
        net.init();
        return net;
    }

    private static DataSet batch(long seed, boolean nanInChannel1) {
        INDArray x = Nets.random(new long[]{8, 3}, DataType.DOUBLE, 1, 2, seed);
        if (nanInChannel1) {
            x.putScalar(5, 1, Double.NaN);
        }
        return new DataSet(x, Nets.random(new long[]{8, 2}, DataType.DOUBLE, 0, 1, seed + 100));
    }

    @Test
    void failIsTheDefaultAndChangesNotABit() {
        assertEquals(NonFinitePolicy.FAIL, new BatchNorm.Builder().build().getNonFiniteBatches());
        MultiLayerNetwork net = net(NonFinitePolicy.FAIL);
        net.fit(batch(1, false));
        INDArray before = net.params().dup();
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class, () -> net.fit(batch(2, true)));
        assertTrue(e.getMessage().contains("layer name: bn") && e.getMessage().contains("channel [1] of 3")
                && e.getMessage().contains("holds 1 NaN or infinite value"), e.getMessage());
        assertArrayEquals(values(before), values(net.params()), 0.0, "parameters and running statistics");
    }

    @Test
    void skipComputesTheOutputAndLeavesThatChannelsStatistics() {
        MultiLayerNetwork net = net(NonFinitePolicy.SKIP);
        net.fit(batch(1, false));
        Layer bn = net.getLayer(0);
        double[] meanBefore = values(bn.getParam(BatchNormParamInitializer.MEAN));
        double[] varBefore = values(bn.getParam(BatchNormParamInitializer.VAR));
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        DataSet bad = batch(2, true);
        bn.setInput(bad.getFeatures(), mgr);
        INDArray y = bn.activate(true, mgr);
        assertTrue(Double.isNaN(y.getDouble(0, 1)) && Double.isFinite(y.getDouble(0, 0)), "the output is computed");
        bn.backpropGradient(Nd4j.onesLike(y), mgr);
        double[] mean = values(bn.getParam(BatchNormParamInitializer.MEAN));
        double[] var = values(bn.getParam(BatchNormParamInitializer.VAR));
        assertEquals(meanBefore[1], mean[1], 0.0, "channel 1's running mean");
        assertEquals(varBefore[1], var[1], 0.0, "channel 1's running variance");
        assertTrue(mean[0] != meanBefore[0] && mean[2] != meanBefore[2], "the other channels moved");
        for (int i = 0; i < 20; i++) {
            net.fit(batch(10 + i, false));
        }
        for (double v : values(bn.params())) {
            assertTrue(Double.isFinite(v), "finite after 20 clean batches: " + bn.params());
        }
    }

    private static DataSetIterator batches(int nanAt) {
        List<DataSet> list = new java.util.ArrayList<>();
        for (int b = 0; b < 4; b++) {
            list.add(batch(20 + b, b == nanAt));
        }
        return new ListDataSetIterator<>(list, 1);                  // one list element per batch
    }

    @Test
    void thePopulationPassNamesTheBatchOrSkipsIt() {
        MultiLayerNetwork failing = net(NonFinitePolicy.FAIL);
        INDArray before = failing.params().dup();
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class,
                () -> PopulationStatistics.estimate(failing, batches(2)));
        assertTrue(e.getMessage().contains("population pass, batch 3") && e.getMessage().contains("channel [1] of 3"),
                e.getMessage());
        assertArrayEquals(values(before), values(failing.params()), 0.0, "restored");

        MultiLayerNetwork skipping = net(NonFinitePolicy.SKIP);
        assertEquals(3, PopulationStatistics.estimate(skipping, batches(2)), "batches averaged: the bad one left out");
        double[] mean = values(skipping.getLayer(0).getParam(BatchNormParamInitializer.MEAN));
        double expected = 0;
        for (int b : new int[]{0, 1, 3}) {
            expected += batch(20 + b, false).getFeatures().getColumn(0).meanNumber().doubleValue() / 3;
        }
        assertEquals(expected, mean[0], 1e-12, "E_B[mu_B] over the clean batches");
    }

    /** Float input near 1e18: float block sums overflow, the statistics are taken exactly; near 1e20: an error. */
    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT"})
    void hugeFloatInputIsNormalizedUntilItsVarianceLeavesFloatsRange(DataType type) {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().name("big").build(),
                InputType.convolutional(8, 8, 2, CNN2DFormat.NCHW), type);
        Layer l = net.getLayer(0);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        INDArray x = Nets.random(new long[]{16, 2, 8, 8}, type, 1e18, 4e18, 9);
        l.setInput(x, mgr);
        double[] y = values(l.activate(true, mgr));
        double[] xv = values(x);
        ReferenceBatchNorm ref = new ReferenceBatchNorm(x.shape(), 1);
        ReferenceBatchNorm.Stats s = ref.stats(xv);
        Compare.assertClose(ref.forward(xv, s.mean(), s.biasedVar(), new double[]{1, 1}, new double[2], 1e-5), y, 0, 1e-5, "y");

        INDArray before = net.params().dup();
        l.setInput(Nets.random(new long[]{16, 2, 8, 8}, type, 0, 1e20, 10), mgr);
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class, () -> l.activate(true, mgr));
        assertTrue(e.getMessage().contains("layer name: big") && e.getMessage().contains("channel 0")
                && e.getMessage().contains("Float.MAX_VALUE / 4"), e.getMessage());
        assertArrayEquals(values(before), values(net.params()), 0.0);
    }

    @Test
    void resetRunningStatisticsStartsOverAndKeepsGammaAndBeta() {
        MultiLayerNetwork net = net(NonFinitePolicy.FAIL);
        for (int i = 0; i < 3; i++) {
            net.fit(batch(30 + i, false));
        }
        Layer bn = net.getLayer(0);
        double[] gamma = values(bn.getParam(BatchNormParamInitializer.GAMMA));
        double[] beta = values(bn.getParam(BatchNormParamInitializer.BETA));
        PopulationStatistics.reset(net);
        assertArrayEquals(new double[3], values(bn.getParam(BatchNormParamInitializer.MEAN)), 0.0);
        assertArrayEquals(new double[]{1, 1, 1}, values(bn.getParam(BatchNormParamInitializer.VAR)), 0.0);
        assertArrayEquals(gamma, values(bn.getParam(BatchNormParamInitializer.GAMMA)), 0.0);
        assertArrayEquals(beta, values(bn.getParam(BatchNormParamInitializer.BETA)), 0.0);

        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .graphBuilder().addInputs("in")
                .addLayer("bn", new BatchNorm.Builder().cumulativeAverage().build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2)
                        .activation(Activation.IDENTITY).build(), "bn")
                .setOutputs("out").setInputTypes(InputType.feedForward(3)).build());
        graph.init();
        graph.fit(new SingletonDataSetIterator(batch(40, false)));
        assertEquals(1.0, graph.getLayer("bn").getParam(BatchNormParamInitializer.BATCH_COUNT).getDouble(0), 0.0);
        PopulationStatistics.reset(graph);
        assertEquals(0.0, graph.getLayer("bn").getParam(BatchNormParamInitializer.BATCH_COUNT).getDouble(0), 0.0);
        assertArrayEquals(new double[3], values(graph.getLayer("bn").getParam(BatchNormParamInitializer.MEAN)), 0.0);
    }
}
