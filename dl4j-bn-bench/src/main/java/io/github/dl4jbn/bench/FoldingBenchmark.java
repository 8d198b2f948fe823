package io.github.dl4jbn.bench;

import io.github.dl4jbn.InferenceFolding;
import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * Inference time of a network with BatchNorm layers against the same network after {@link InferenceFolding}:
 * the paper's MNIST network (three Dense + BatchNorm + sigmoid) and a LeNet-style CNN (two Convolution +
 * BatchNorm(relu)), a batch of 256, FLOAT.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 4, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g", "--add-modules=jdk.incubator.vector"})
public class FoldingBenchmark {

    @Param({"paper", "cnn"})
    public String network;

    @Param({"false", "true"})
    public boolean folded;

    private MultiLayerNetwork net;
    private INDArray batch;

    @Setup(Level.Trial)
    public void setUp() {
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).seed(1).list();
        if (network.equals("paper")) {
            for (int i = 0; i < 3; i++) {
                list.layer(new DenseLayer.Builder().nOut(100).activation(Activation.IDENTITY).hasBias(false).build())
                        .layer(new BatchNorm.Builder().activation(Activation.SIGMOID).build());
            }
            list.setInputType(InputType.feedForward(784));
            batch = Nd4j.rand(DataType.FLOAT, 256, 784);
        } else {
            for (int filters : new int[]{20, 50}) {
                list.layer(new ConvolutionLayer.Builder(5, 5).nOut(filters).activation(Activation.IDENTITY).hasBias(false).build())
                        .layer(new BatchNorm.Builder().activation(Activation.RELU).build())
                        .layer(new SubsamplingLayer.Builder(2, 2).stride(2, 2).build());
            }
            list.layer(new DenseLayer.Builder().nOut(500).activation(Activation.RELU).build());
            list.setInputType(InputType.convolutional(28, 28, 1, CNN2DFormat.NCHW));
            batch = Nd4j.rand(DataType.FLOAT, 256, 1, 28, 28);
        }
        list.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build());
        MultiLayerNetwork original = new MultiLayerNetwork(list.build());
        original.init();
        net = folded ? InferenceFolding.fold(original).network() : original;
    }

    /** One inference pass over the batch. */
    @Benchmark
    public INDArray output() {
        return net.output(batch);
    }
}
