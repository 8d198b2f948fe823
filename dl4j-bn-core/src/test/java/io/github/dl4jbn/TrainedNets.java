package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Small trained networks and random labelled batches for the tests of the population pass, folding, conversion
 * and the monitor.
 */
public final class TrainedNets {

    private TrainedNets() {
    }

    /** Random batches of Gaussian features (mean 1, sd 2) and one-hot labels over 3 classes. */
    public static List<DataSet> batches(long[] featureShape, int count, long seed, DataType type) {
        Random r = new Random(seed);
        List<DataSet> out = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            long n = 1;
            for (long d : featureShape) {
                n *= d;
            }
            double[] v = new double[(int) n];
            for (int i = 0; i < v.length; i++) {
                v[i] = 1 + 2 * r.nextGaussian();
            }
            INDArray y = Nd4j.zeros(type, featureShape[0], 3);
            for (int i = 0; i < featureShape[0]; i++) {
                y.putScalar(i, r.nextInt(3), 1);
            }
            out.add(new DataSet(Nd4j.createFromArray(v).reshape(featureShape).castTo(type), y));
        }
        return out;
    }

    /** Dense - BatchNorm - tanh - dense - BatchNorm(ReLU) - softmax, trained for 10 batches. */
    public static MultiLayerNetwork denseNet(DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(type).seed(9).updater(new Adam(0.01)).list()
                .layer(new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNorm.Builder().build())
                .layer(new ActivationLayer(Activation.TANH))
                .layer(new DenseLayer.Builder().nOut(5).activation(Activation.IDENTITY).build())
                .layer(new BatchNorm.Builder().activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(4)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        for (DataSet d : batches(new long[]{8, 4}, 10, 1, type)) {
            net.fit(d);
        }
        return net;
    }

    /** A graph dense - norm - tanh - softmax, trained for 10 batches. */
    public static ComputationGraph graph(org.deeplearning4j.nn.conf.layers.Layer norm) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(5)
                .updater(new Adam(0.02)).graphBuilder().addInputs("in")
                .addLayer("dense", new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build(), "in")
                .addLayer("bn", norm, "dense")
                .addLayer("act", new ActivationLayer(Activation.TANH), "bn")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build(), "act")
                .setOutputs("out").setInputTypes(InputType.feedForward(4)).build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        for (DataSet d : batches(new long[]{8, 4}, 10, 11, DataType.DOUBLE)) {
            g.fit(d);
        }
        return g;
    }

}
