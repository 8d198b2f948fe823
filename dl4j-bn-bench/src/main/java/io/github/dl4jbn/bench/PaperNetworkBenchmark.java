package io.github.dl4jbn.bench;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.distribution.NormalDistribution;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Setup;

/**
 * End to end: fit steps per second of the paper's MNIST network (784-100-100-100-10, sigmoid, batch 60, SGD)
 * with this project's BatchNorm, DL4J's built-in layer, and no normalization, on one fixed random batch.
 */
public class PaperNetworkBenchmark extends FitStepBenchmark {

    @Setup(Level.Trial)
    public void setUp() {
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).seed(1)
                .updater(new Sgd(0.5)).weightInit(new NormalDistribution(0, 1)).list();
        for (int i = 0; i < 3; i++) {
            list.layer(new DenseLayer.Builder().nOut(100).activation(Activation.IDENTITY).hasBias(biasWithoutNormalization()).build());
            addNormalization(list);
            list.layer(new ActivationLayer(Activation.SIGMOID));
        }
        list.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build());
        net = new MultiLayerNetwork(list.setInputType(InputType.feedForward(784)).build());
        net.init();
        batch = new DataSet(Nd4j.rand(DataType.FLOAT, 60, 784), labels(60, 10));
    }
}
