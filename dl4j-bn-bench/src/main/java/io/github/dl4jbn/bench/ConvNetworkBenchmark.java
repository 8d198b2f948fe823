package io.github.dl4jbn.bench;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;

/**
 * End to end in a convolutional network, where Batch Normalization sits between DL4J's own convolutions: fit
 * steps per second of a small CIFAR-sized net (3x32x32 input, batch 32; conv 3x3x32, BN, ReLU, conv 3x3x64, BN,
 * ReLU, 2x2 max pooling, conv 3x3x64, BN, ReLU, global average pooling, softmax 10; SGD) with this project's
 * BatchNorm, DL4J's built-in layer and no normalization, in NCHW and NHWC, on one fixed random batch. Unlike the
 * per-layer benchmark, our helper threads here come to each layer call after other work (the convolutions), as in
 * real training.
 */
public class ConvNetworkBenchmark extends FitStepBenchmark {

    @Param({"NCHW", "NHWC"})
    public String format;

    @Setup(Level.Trial)
    public void setUp() {
        CNN2DFormat layout = CNN2DFormat.valueOf(format);
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).seed(1)
                .updater(new Sgd(0.01)).weightInit(WeightInit.RELU).convolutionMode(ConvolutionMode.Same).list();
        int[] widths = {32, 64, 64};
        for (int i = 0; i < widths.length; i++) {
            list.layer(new ConvolutionLayer.Builder(3, 3).nOut(widths[i]).dataFormat(layout)
                    .activation(Activation.IDENTITY).hasBias(biasWithoutNormalization()).build());
            addNormalization(list);
            list.layer(new ActivationLayer(Activation.RELU));
            if (i == 1) {
                list.layer(new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).dataFormat(layout).build());
            }
        }
        list.layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).build());
        list.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build());
        net = new MultiLayerNetwork(list.setInputType(InputType.convolutional(32, 32, 3, layout)).build());
        net.init();
        long[] shape = layout == CNN2DFormat.NCHW ? new long[]{32, 3, 32, 32} : new long[]{32, 32, 32, 3};
        batch = new DataSet(Nd4j.rand(DataType.FLOAT, shape), labels(32, 10));
    }
}
