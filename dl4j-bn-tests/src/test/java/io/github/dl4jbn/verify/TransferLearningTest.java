package io.github.dl4jbn.verify;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Our layer inside FrozenLayer, FrozenLayerWithBackprop and TransferLearning: a frozen BatchNorm normalizes with
 * its population statistics and never updates them; a fine-tuned one keeps learning.
 */
class TransferLearningTest {

    private static DataSet batch(int step) {
        Random r = new Random(50 + step);
        INDArray x = Nd4j.zeros(DataType.DOUBLE, 8, 4);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, 8, 2);
        for (int i = 0; i < 8; i++) {
            for (int j = 0; j < 4; j++) {
                x.putScalar(i, j, 2 + r.nextGaussian() * (1 + step % 3));
            }
            y.putScalar(i, r.nextInt(2), 1);
        }
        return new DataSet(x, y);
    }

    private static MultiLayerNetwork network(Layer bn) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(5)
                .updater(new Adam(0.05)).list()
                .layer(new DenseLayer.Builder().nOut(5).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(bn)
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(4)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static MultiLayerNetwork trained() {
        MultiLayerNetwork net = network(new BatchNorm.Builder().build());
        for (int s = 0; s < 5; s++) {
            net.fit(batch(s));
        }
        return net;
    }

    @Test
    void featureExtractorFreezesGammaBetaAndStatisticsAndNormalizesWithPopulationStatistics() {
        MultiLayerNetwork base = trained();
        INDArray bnParams = base.getLayer(1).params().dup();
        MultiLayerNetwork frozen = new TransferLearning.Builder(base)
                .fineTuneConfiguration(new FineTuneConfiguration.Builder().updater(new Sgd(0.1)).build())
                .setFeatureExtractor(1).build();
        INDArray probe = batch(20).getFeatures();
        List<INDArray> inference = base.feedForward(probe, false);
        List<INDArray> frozenTraining = frozen.feedForward(probe, true);
        assertEquals(inference.get(2), frozenTraining.get(2), "a frozen BatchNorm uses its population statistics");
        INDArray outputBefore = frozen.getLayer(2).params().dup();
        for (int s = 5; s < 10; s++) {
            frozen.fit(batch(s));
        }
        assertEquals(bnParams, frozen.getLayer(1).params(), "gamma, beta, mean and var unchanged");
        assertNotEquals(outputBefore, frozen.getLayer(2).params(), "the unfrozen output layer trains");
    }

    @Test
    void frozenLayerWithBackpropPassesGradientsThroughTheInferenceTransform() {
        MultiLayerNetwork net = network(new FrozenLayerWithBackprop(new BatchNorm.Builder().build()));
        net.getLayer(1).setParam("mean", Nd4j.createFromArray(1.0, 2.0, -1.0, 0.5, 0.0));
        net.getLayer(1).setParam("var", Nd4j.createFromArray(4.0, 1.0, 2.0, 0.25, 1.0));
        INDArray bnParams = net.getLayer(1).params().dup();
        INDArray denseBefore = net.getLayer(0).params().dup();
        for (int s = 0; s < 5; s++) {
            net.fit(batch(s));
        }
        assertEquals(bnParams, net.getLayer(1).params(), "frozen: never updated");
        assertNotEquals(denseBefore, net.getLayer(0).params(), "the layer before receives gradients through it");
        // the gradient it passes back is dy * gamma / sqrt(var + eps), checked numerically by central differences
        net.setInput(batch(0).getFeatures());
        net.setLabels(batch(0).getLabels());
        net.computeGradientAndScore();
        INDArray analytic = net.gradient().getGradientFor("0_W").dup();
        INDArray w = net.getLayer(0).getParam("W");
        double h = 1e-6;
        double original = w.getDouble(0, 0);
        w.putScalar(0, 0, original + h);
        double plus = net.score(batch(0), true);
        w.putScalar(0, 0, original - h);
        double minus = net.score(batch(0), true);
        w.putScalar(0, 0, original);
        // DL4J's parameter gradients are sums over the mini-batch of 8; the score is the mean
        assertEquals((plus - minus) / (2 * h), analytic.getDouble(0, 0) / 8, 1e-7);
    }

    @Test
    void builtInInsideFrozenLayerWithBackpropThrows() {
        MultiLayerNetwork net = network(new FrozenLayerWithBackprop(new BatchNormalization.Builder().build()));
        assertThrows(org.nd4j.linalg.exception.ND4JIllegalStateException.class, () -> net.fit(batch(0)),
                "observed: the built-in layer cannot backprop after an inference forward (upstream #9101)");
    }

    @Test
    void fineTuningKeepsLearningGammaBetaAndStatistics() {
        MultiLayerNetwork base = trained();
        INDArray bnBefore = base.getLayer(1).params().dup();
        MultiLayerNetwork tuned = new TransferLearning.Builder(base)
                .fineTuneConfiguration(new FineTuneConfiguration.Builder().updater(new Sgd(0.05)).build())
                .nOutReplace(2, 2, org.deeplearning4j.nn.weights.WeightInit.XAVIER).build();
        for (int s = 5; s < 8; s++) {
            tuned.fit(batch(s));
        }
        INDArray bnAfter = tuned.getLayer(1).params();
        assertNotEquals(bnBefore.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 10)),
                bnAfter.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 10)), "gamma and beta learn");
        assertNotEquals(bnBefore.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(10, 20)),
                bnAfter.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(10, 20)), "statistics move");
    }
}
