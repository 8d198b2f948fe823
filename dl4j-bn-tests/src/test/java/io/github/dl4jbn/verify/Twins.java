package io.github.dl4jbn.verify;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.VarianceEstimate;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;
import java.util.Random;

/**
 * Pairs of networks identical but for the normalization layer: DL4J's built-in BatchNormalization
 * (useLogStd(false)) and ours with the BIASED variance, same decay and eps, same initial parameters.
 */
final class Twins {

    static final double DECAY = 0.9;
    static final double EPS = 1e-5;

    private Twins() {
    }

    /** The network shapes of the equivalence tests. */
    enum Shape {
        FF, NCHW, NHWC;

        InputType inputType() {
            switch (this) {
                case FF:
                    return InputType.feedForward(5);
                case NCHW:
                    return InputType.convolutional(6, 6, 2, CNN2DFormat.NCHW);
                default:
                    return InputType.convolutional(6, 6, 2, CNN2DFormat.NHWC);
            }
        }

        long[] batchShape(int mb) {
            switch (this) {
                case FF:
                    return new long[]{mb, 5};
                case NCHW:
                    return new long[]{mb, 2, 6, 6};
                default:
                    return new long[]{mb, 6, 6, 2};
            }
        }

        /** The layers before the normalization: a dense or convolution layer without bias. */
        Layer before() {
            if (this == FF) {
                return new DenseLayer.Builder().nOut(6).activation(Activation.TANH).hasBias(false).build();
            }
            return new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).hasBias(false).build();
        }

        List<Layer> after() {
            OutputLayer out = new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build();
            if (this == FF) {
                return List.of(out);
            }
            return List.of(new SubsamplingLayer.Builder(2, 2).stride(2, 2).build(), out);
        }
    }

    static Layer builtIn() {
        return new BatchNormalization.Builder().useLogStd(false).decay(DECAY).eps(EPS).build();
    }

    static Layer ours() {
        return new BatchNorm.Builder().varianceEstimate(VarianceEstimate.BIASED).decay(DECAY).eps(EPS).build();
    }

    static MultiLayerNetwork multiLayer(Shape shape, Layer norm, DataType type, IUpdater updater) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().dataType(type).seed(7)
                .updater(updater).list()
                .layer(shape.before())
                .layer(norm);
        for (Layer l : shape.after()) {
            b.layer(l);
        }
        MultiLayerNetwork net = new MultiLayerNetwork(b.setInputType(shape.inputType()).build());
        net.init();
        return net;
    }

    static ComputationGraph graph(Shape shape, Layer norm, DataType type, IUpdater updater) {
        ComputationGraphConfiguration.GraphBuilder b = new NeuralNetConfiguration.Builder().dataType(type).seed(7)
                .updater(updater).graphBuilder().addInputs("in")
                .addLayer("before", shape.before(), "in")
                .addLayer("bn", norm, "before");
        String last = "bn";
        int i = 0;
        for (Layer l : shape.after()) {
            String name = "after" + i++;
            b.addLayer(name, l, last);
            last = name;
        }
        ComputationGraph graph = new ComputationGraph(b.setOutputs(last).setInputTypes(shape.inputType()).build());
        graph.init();
        return graph;
    }

    /** A labelled batch: features with an offset and spread that vary per step, so statistics move. */
    static DataSet batch(Shape shape, int mb, DataType type, int step) {
        Random r = new Random(1000 + step);
        long[] dims = shape.batchShape(mb);
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        double[] x = new double[(int) n];
        for (int i = 0; i < x.length; i++) {
            x[i] = 0.5 * step / 10.0 + (1 + step % 3) * r.nextGaussian();
        }
        INDArray labels = Nd4j.zeros(type, mb, 3);
        for (int i = 0; i < mb; i++) {
            labels.putScalar(i, r.nextInt(3), 1.0);
        }
        return new DataSet(Nd4j.createFromArray(x).reshape(dims).castTo(type), labels);
    }

    /** Copies the first model's flat parameters into the second (identical layouts). */
    static void copyParams(Model from, Model to) {
        to.setParams(from.params().dup());
    }
}
