package io.github.dl4jbn.bench;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.distribution.NormalDistribution;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
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
 * End to end: fit steps per second of the paper's MNIST network (784-100-100-100-10, sigmoid, batch 60, SGD)
 * with this project's BatchNorm, DL4J's built-in layer, and no normalization, on one fixed random batch.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g", "--add-modules=jdk.incubator.vector"})
public class PaperNetworkBenchmark {

    @Param({"none", "ours", "builtin"})
    public String variant;

    private MultiLayerNetwork net;
    private DataSet batch;

    @Setup(Level.Trial)
    public void setUp() {
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).seed(1)
                .updater(new Sgd(0.5)).weightInit(new NormalDistribution(0, 1)).list();
        for (int i = 0; i < 3; i++) {
            list.layer(new DenseLayer.Builder().nOut(100).activation(Activation.IDENTITY).hasBias(variant.equals("none")).build());
            if (variant.equals("ours")) {
                list.layer(new BatchNorm.Builder().build());
            } else if (variant.equals("builtin")) {
                list.layer(new BatchNormalization.Builder().build());
            }
            list.layer(new ActivationLayer(Activation.SIGMOID));
        }
        list.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build());
        net = new MultiLayerNetwork(list.setInputType(InputType.feedForward(784)).build());
        net.init();
        INDArray labels = Nd4j.zeros(DataType.FLOAT, 60, 10);
        for (int i = 0; i < 60; i++) {
            labels.putScalar(i, i % 10, 1);
        }
        batch = new DataSet(Nd4j.rand(DataType.FLOAT, 60, 784), labels);
    }

    /** One SGD step. */
    @Benchmark
    public double fitStep() {
        net.fit(batch);
        return net.score();
    }
}
