package io.github.dl4jbn.bench;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * End to end: fit steps per second of one network with this project's BatchNorm ("ours"), DL4J's built-in
 * layer, or no normalization, on one fixed batch. Subclasses build the network and the batch.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g", "--add-modules=jdk.incubator.vector"})
public abstract class FitStepBenchmark {

    @Param({"none", "ours", "builtin"})
    public String variant;

    protected MultiLayerNetwork net;
    protected DataSet batch;

    /** Adds this variant's normalization layer, if any; the layer before it has a bias only without one. */
    protected void addNormalization(NeuralNetConfiguration.ListBuilder list) {
        if (variant.equals("ours")) {
            list.layer(new BatchNorm.Builder().build());
        } else if (variant.equals("builtin")) {
            list.layer(new BatchNormalization.Builder().build());
        }
    }

    /** @return whether the layers before a normalization need their own bias (only without one) */
    protected boolean biasWithoutNormalization() {
        return variant.equals("none");
    }

    /** One-hot labels, example i of class i mod classes. */
    protected static INDArray labels(int examples, int classes) {
        INDArray labels = Nd4j.zeros(DataType.FLOAT, examples, classes);
        for (int i = 0; i < examples; i++) {
            labels.putScalar(i, i % classes, 1);
        }
        return labels;
    }

    /** One SGD step. */
    @Benchmark
    public double fitStep() {
        net.fit(batch);
        return net.score();
    }
}
