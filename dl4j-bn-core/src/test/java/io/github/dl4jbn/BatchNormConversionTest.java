package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conversion from DL4J's built-in layer and back: outputs identical in inference and training mode.
 */
@org.junit.jupiter.api.Tag("once")   // kernel-agnostic: the default run only (docs/design.md, which tests run where)
class BatchNormConversionTest {

    @Test
    void conversionFromATrainedBuiltInNetworkAndBackKeepsOutputsIdentical() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(6)
                .updater(new Adam(0.02)).list()
                .layer(new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNormalization.Builder().build())              // useLogStd: true, DL4J's default
                .layer(new ActivationLayer(Activation.TANH))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(4)).build();
        MultiLayerNetwork builtIn = new MultiLayerNetwork(conf);
        builtIn.init();
        for (DataSet d : TrainedNets.batches(new long[]{8, 4}, 12, 21, DataType.DOUBLE)) {
            builtIn.fit(d);
        }
        MultiLayerNetwork ours = BatchNormConversion.toOurs(builtIn);
        assertTrue(ours.getLayer(1).conf().getLayer() instanceof BatchNorm);
        DataSet probe = TrainedNets.batches(new long[]{16, 4}, 1, 22, DataType.DOUBLE).get(0);
        Compare.assertClose(builtIn.output(probe.getFeatures()), ours.output(probe.getFeatures()), 1e-12, 1e-14, "inference");
        Compare.assertClose(builtIn.output(probe.getFeatures(), true), ours.output(probe.getFeatures(), true), 1e-12, 1e-14, "training mode");
        builtIn.fit(probe);
        ours.fit(probe);
        Compare.assertClose(builtIn.output(probe.getFeatures()), ours.output(probe.getFeatures()), 1e-10, 1e-12, "after one more step");

        MultiLayerNetwork back = BatchNormConversion.toBuiltIn(ours);
        assertTrue(back.getLayer(1).conf().getLayer() instanceof BatchNormalization);
        Compare.assertClose(ours.output(probe.getFeatures()), back.output(probe.getFeatures()), 1e-12, 1e-14, "back");

        ComputationGraph graphBuiltIn = TrainedNets.graph(new BatchNormalization.Builder().build());
        ComputationGraph graphOurs = BatchNormConversion.toOurs(graphBuiltIn);
        Compare.assertClose(graphBuiltIn.outputSingle(probe.getFeatures()), graphOurs.outputSingle(probe.getFeatures()), 1e-12, 1e-14, "graph");
        Compare.assertClose(BatchNormConversion.toBuiltIn(graphOurs).outputSingle(probe.getFeatures()),
                graphOurs.outputSingle(probe.getFeatures()), 1e-12, 1e-14, "graph back");
    }

    /**
     * An activation on ours becomes an ActivationLayer after the built-in layer (which would ignore its own), and
     * back, asked to, the ActivationLayer merges into ours: the same outputs in inference and training mode, and
     * the same step of fit, each way, in a network and in a graph.
     */
    @Test
    void anActivationSplitsIntoAnActivationLayerAndMergesBackOnRequest() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(8)
                .updater(new Adam(0.02)).list()
                .layer(new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNorm.Builder().name("bn").activation(Activation.SIGMOID)
                        .varianceEstimate(io.github.dl4jbn.conf.VarianceEstimate.BIASED).build())   // as DL4J stores it
                .layer(new DenseLayer.Builder().nOut(5).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNorm.Builder().varianceEstimate(io.github.dl4jbn.conf.VarianceEstimate.BIASED).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(4)).build();
        MultiLayerNetwork ours = new MultiLayerNetwork(conf);
        ours.init();
        for (DataSet d : TrainedNets.batches(new long[]{8, 4}, 6, 31, DataType.DOUBLE)) {
            ours.fit(d);
        }
        MultiLayerNetwork builtIn = BatchNormConversion.toBuiltIn(ours);
        assertEquals(6, builtIn.getnLayers(), "an ActivationLayer after the first BatchNorm only");
        assertTrue(builtIn.getLayer(1).conf().getLayer() instanceof BatchNormalization);
        assertTrue(builtIn.getLayer(2).conf().getLayer() instanceof ActivationLayer a
                && a.getActivationFn().equals(Activation.SIGMOID.getActivationFunction()));
        DataSet probe = TrainedNets.batches(new long[]{16, 4}, 1, 32, DataType.DOUBLE).get(0);
        assertSameNetworks(ours, builtIn, probe, "ours -> built-in");

        MultiLayerNetwork merged = BatchNormConversion.toOurs(builtIn, true);
        assertEquals(5, merged.getnLayers(), "the ActivationLayer merged");
        assertEquals(Activation.SIGMOID.getActivationFunction(), ((BatchNorm) merged.getLayer(1).conf().getLayer()).getActivationFn());
        assertSameNetworks(builtIn, merged, probe, "built-in -> ours, merged");
        assertEquals(6, BatchNormConversion.toOurs(builtIn).getnLayers(), "not merged unless asked");

        ComputationGraph graph = TrainedNets.graph(new BatchNorm.Builder().activation(Activation.RELU).build());
        ComputationGraph graphBuiltIn = BatchNormConversion.toBuiltIn(graph);
        assertTrue(graphBuiltIn.getLayer("bn-activation").conf().getLayer() instanceof ActivationLayer);
        Compare.assertClose(graph.outputSingle(probe.getFeatures()), graphBuiltIn.outputSingle(probe.getFeatures()), 1e-12, 1e-14, "graph split");
        ComputationGraph graphMerged = BatchNormConversion.toOurs(graphBuiltIn, true);
        assertTrue(!graphMerged.getConfiguration().getVertices().containsKey("bn-activation"), "merged away");
        Compare.assertClose(graph.outputSingle(probe.getFeatures()), graphMerged.outputSingle(probe.getFeatures()), 1e-12, 1e-14, "graph merged");
        // TrainedNets' graph: dense - bn - act(tanh) - out; the built-in variant's tanh merges too
        ComputationGraph tanh = BatchNormConversion.toOurs(TrainedNets.graph(new BatchNormalization.Builder().build()), true);
        assertTrue(!tanh.getConfiguration().getVertices().containsKey("act"));
        assertEquals(Activation.TANH.getActivationFunction(), ((BatchNorm) tanh.getLayer("bn").conf().getLayer()).getActivationFn());
    }

    private static void assertSameNetworks(MultiLayerNetwork a, MultiLayerNetwork b, DataSet probe, String what) {
        Compare.assertClose(a.output(probe.getFeatures()), b.output(probe.getFeatures()), 1e-12, 1e-14, what + ": inference");
        Compare.assertClose(a.output(probe.getFeatures(), true), b.output(probe.getFeatures(), true), 1e-12, 1e-14, what + ": training mode");
        MultiLayerNetwork a2 = a.clone();
        MultiLayerNetwork b2 = b.clone();
        a2.fit(probe);
        b2.fit(probe);
        Compare.assertClose(a2.output(probe.getFeatures()), b2.output(probe.getFeatures()), 1e-9, 1e-12, what + ": after a step of fit");
    }
}
