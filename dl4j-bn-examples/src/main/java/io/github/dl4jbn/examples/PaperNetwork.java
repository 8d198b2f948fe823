package io.github.dl4jbn.examples;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.distribution.NormalDistribution;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.function.Supplier;

/**
 * The network of Section 4.1: 784-100-100-100-10, sigmoid hidden units, weights from N(0, initStd), softmax with
 * cross-entropy, plain SGD. With normalization each hidden layer is Dense (no bias: beta takes its role) then
 * the normalization then the sigmoid; without it, Dense with bias then the sigmoid.
 */
public final class PaperNetwork {

    /** Width of each hidden layer. */
    public static final int HIDDEN = 100;

    private PaperNetwork() {
    }

    /**
     * Builds and initializes the network.
     *
     * @param variant      which normalization sits before each sigmoid
     * @param learningRate SGD learning rate
     * @param initStd      standard deviation of the Gaussian weight initialization
     * @param seed         seed of the initialization
     * @return the network, FLOAT
     */
    public static MultiLayerNetwork build(Variant variant, double learningRate, double initStd, long seed) {
        return build(variant, learningRate, initStd, seed, 1.0);
    }

    /**
     * Builds and initializes the network, with dropout on the hidden activations.
     *
     * @param variant      which normalization sits before each sigmoid
     * @param learningRate SGD learning rate
     * @param initStd      standard deviation of the Gaussian weight initialization
     * @param seed         seed of the initialization
     * @param retain       probability of keeping a hidden activation during training (1 = no dropout), applied
     *                     to the inputs of the second and third hidden layers and of the output layer
     * @return the network, FLOAT
     */
    public static MultiLayerNetwork build(Variant variant, double learningRate, double initStd, long seed, double retain) {
        return build(variant::normalization, learningRate, initStd, seed, retain);
    }

    /**
     * Builds and initializes the network with any normalization before each sigmoid.
     *
     * @param normalization makes a fresh normalization layer per hidden layer, or returns null for none
     * @param learningRate  SGD learning rate
     * @param initStd       standard deviation of the Gaussian weight initialization
     * @param seed          seed of the initialization
     * @param retain        probability of keeping a hidden activation during training (1 = no dropout)
     * @return the network, FLOAT
     */
    public static MultiLayerNetwork build(Supplier<Layer> normalization, double learningRate, double initStd, long seed,
                                          double retain) {
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder()
                .dataType(DataType.FLOAT)
                .seed(seed)
                .updater(new Sgd(learningRate))
                .weightInit(new NormalDistribution(0, initStd))
                .list();
        for (int i = 0; i < 3; i++) {
            Layer norm = normalization.get();
            DenseLayer.Builder dense = new DenseLayer.Builder().nOut(HIDDEN).activation(Activation.IDENTITY).hasBias(norm == null);
            if (i > 0 && retain < 1.0) {
                dense.dropOut(retain);
            }
            list.layer(dense.build());
            if (norm != null) {
                list.layer(norm);
            }
            list.layer(new ActivationLayer(Activation.SIGMOID));
        }
        OutputLayer.Builder output = new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX);
        if (retain < 1.0) {
            output.dropOut(retain);
        }
        list.layer(output.build());
        MultiLayerNetwork net = new MultiLayerNetwork(list.setInputType(InputType.feedForward(784)).build());
        net.init();
        return net;
    }

    /**
     * Index of the last hidden layer's sigmoid; the input of that sigmoid is the last entry of
     * {@code feedForwardToLayer(index - 1, x, false)} (whose entry 0 is the network input).
     *
     * @param net a network from {@link #build}
     * @return the layer index of the last {@link ActivationLayer}
     */
    public static int lastSigmoid(MultiLayerNetwork net) {
        int last = -1;
        for (int i = 0; i < net.getnLayers(); i++) {
            if (net.getLayerWiseConfigurations().getConf(i).getLayer() instanceof ActivationLayer) {
                last = i;
            }
        }
        return last;
    }
}
