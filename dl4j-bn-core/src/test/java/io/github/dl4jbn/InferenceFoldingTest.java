package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Folding BatchNorm into the layer before it: the same outputs, and layers that cannot fold left alone.
 */
class InferenceFoldingTest {

    @Test
    void foldingMergesIntoDenseAndConvolutionWithIdenticalOutputs() {
        MultiLayerNetwork dense = TrainedNets.denseNet(DataType.FLOAT);
        InferenceFolding.Result<MultiLayerNetwork> f = InferenceFolding.fold(dense);
        assertEquals(2, f.folded().size(), "both BatchNorm layers follow a DenseLayer with identity activation");
        assertEquals(4, f.network().getnLayers());
        INDArray x = TrainedNets.batches(new long[]{50, 4}, 1, 7, DataType.FLOAT).get(0).getFeatures();
        Compare.assertClose(dense.output(x), f.network().output(x), 1e-5, 1e-6, "dense folded");

        MultiLayerNetwork cnn = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).seed(4)
                .updater(new Adam(0.01)).list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNorm.Builder().activation(Activation.RELU).build())
                .layer(new SubsamplingLayer.Builder(2, 2).stride(2, 2).build())
                .layer(new BatchNorm.Builder().build())                    // after pooling: cannot fold
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(6, 6, 2, CNN2DFormat.NHWC)).build());
        cnn.init();
        for (DataSet d : TrainedNets.batches(new long[]{5, 6, 6, 2}, 8, 3, DataType.FLOAT)) {
            cnn.fit(d);
        }
        InferenceFolding.Result<MultiLayerNetwork> g = InferenceFolding.fold(cnn);
        assertEquals(1, g.folded().size());
        assertEquals(1, g.leftAlone().size());
        assertTrue(g.leftAlone().get(0).contains("SubsamplingLayer"), g.leftAlone().get(0));
        INDArray images = TrainedNets.batches(new long[]{20, 6, 6, 2}, 1, 8, DataType.FLOAT).get(0).getFeatures();
        Compare.assertClose(cnn.output(images), g.network().output(images), 1e-5, 1e-6, "cnn folded");
    }

}
