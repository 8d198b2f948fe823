package io.github.dl4jbn.scaleout;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.datasets.iterator.MultipleEpochsIterator;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The experiment every scale-out test runs: one network (input BatchNorm, dense 32 ReLU, BatchNorm, softmax) on
 * {@link Blobs}, trained in one process and distributed, and the checks that compare them.
 *
 * <p>Tolerances. The running statistics are moving averages with decay 0.9 over batches of 60, so they summarize
 * about 60 x 1.9 / 0.1 = 1,140 recent examples: their expected error is about 0.03 standard deviations for the mean
 * and 4% for the variance, per channel. The bounds, 0.15 sd and 25% over the worst of up to 32 channels, leave room
 * for 3 to 4 sigma and for the weights' drift over the averaging window, and are 5 to 10 times smaller than the
 * errors of DL4J's layer under gradient sharing.
 */
final class Experiment {

    static final double MEAN_BOUND_SD = 0.15;
    static final double VAR_BOUND = 0.25;
    static final double ACCURACY_BOUND = 0.03;

    static final List<DataSet> TRAIN = Blobs.batches(Blobs.draw(3000, 1));
    static final DataSet TEST = Blobs.draw(2000, 2);

    private Experiment() {
    }

    /** The network with our layer ({@code ours}) or DL4J's (useLogStd(false), so it stores the variance). */
    static MultiLayerNetwork network(boolean ours) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(42).dataType(DataType.FLOAT).updater(new Adam(0.005))
                .list()
                .layer(normalization(ours))
                .layer(new DenseLayer.Builder().nOut(32).activation(Activation.RELU).build())
                .layer(normalization(ours))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(Blobs.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(Blobs.FEATURES))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static Layer normalization(boolean ours) {
        return ours ? new BatchNorm.Builder().build() : new BatchNormalization.Builder().useLogStd(false).build();
    }

    /** {@code epochs} passes over the training batches, as one iterator (one fit call). */
    static MultipleEpochsIterator epochs(int epochs) {
        return new MultipleEpochsIterator(epochs, new ExistingDataSetIterator(TRAIN));
    }

    /** The training batches repeated {@code epochs} times, for trainers that take one fit call over a list. */
    static List<DataSet> repeated(int epochs) {
        List<DataSet> all = new ArrayList<>();
        for (int e = 0; e < epochs; e++) {
            all.addAll(TRAIN);
        }
        return all;
    }

    /** The single-process run the distributed ones are compared with. */
    static MultiLayerNetwork singleProcess(int epochs) {
        MultiLayerNetwork net = network(true);
        net.fit(epochs(epochs));
        return net;
    }

    /** Test-set accuracy in inference mode; NaN if the network outputs NaN. */
    static double accuracy(MultiLayerNetwork net) {
        org.nd4j.linalg.api.ndarray.INDArray out = net.output(TEST.getFeatures(), false);
        if (out.isNaN().any()) {
            return Double.NaN;
        }
        Evaluation e = new Evaluation(Blobs.CLASSES);
        e.eval(TEST.getLabels(), out);
        return e.accuracy();
    }

    /**
     * Asserts that every normalization layer's running statistics are within the bounds of Algorithm 2's
     * population statistics of the same trained network, and that the input layer's are within the bounds of the
     * training data's own mean and unbiased variance, computed by hand.
     */
    static void assertStatisticsRight(String what, MultiLayerNetwork net) {
        Statistics running = Statistics.of(net);
        Statistics population = Statistics.population(net, TRAIN);
        Statistics data = Statistics.ofData(TRAIN);
        for (int l = 0; l < running.layers(); l++) {
            System.out.printf("%s, BatchNorm %d: worst mean error %.4f sd, worst variance error %.4f%n",
                    what, l, running.meanError(population, l), running.varError(population, l));
            assertTrue(running.meanError(population, l) <= MEAN_BOUND_SD, what + " layer " + l + " mean");
            assertTrue(running.varError(population, l) <= VAR_BOUND, what + " layer " + l + " variance");
        }
        assertTrue(running.meanError(data, 0) <= MEAN_BOUND_SD, what + " input layer mean vs the data");
        assertTrue(running.varError(data, 0) <= VAR_BOUND, what + " input layer variance vs the data");
    }

    /** Asserts test accuracy within {@link #ACCURACY_BOUND} of the single-process run's. */
    static void assertAccuracyMatches(String what, MultiLayerNetwork net, MultiLayerNetwork single) {
        double a = accuracy(net);
        double s = accuracy(single);
        System.out.printf("%s: accuracy %.4f, single process %.4f%n", what, a, s);
        assertEquals(s, a, ACCURACY_BOUND, what + " accuracy");
    }
}
