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

}
