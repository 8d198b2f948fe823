package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistIterator;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A LeNet-style CNN on MNIST with a normalization layer after each convolution, in NCHW or NHWC, trained with
 * this project's BatchNorm and with DL4J's built-in layer; prints test accuracy and time per epoch for both.
 */
@Command(name = "cnn-mnist", mixinStandardHelpOptions = true,
        description = "LeNet-style CNN with BatchNorm after each convolution: ours against DL4J's built-in layer.")
public class CnnMnist extends ExperimentCommand {

    @Option(names = "--format", defaultValue = "NCHW", description = "Activation layout: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
    CNN2DFormat format;

    @Option(names = "--epochs", defaultValue = "2", description = "Epochs per variant. Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--batch", defaultValue = "64", description = "Mini-batch size. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--train-limit", defaultValue = "60000", description = "Use only the first N training images. Default: all.")
    int trainLimit;

    @Option(names = "--test-limit", defaultValue = "10000", description = "Evaluate on the first N test images. Default: all.")
    int testLimit;


    @Option(names = "--variants", split = ",", defaultValue = "BATCHNORM,BUILTIN", description = "Variants: ${COMPLETION-CANDIDATES}.")
    List<Variant> variants;



    /** One variant's measurements after one epoch. */
    record Epoch(Variant variant, int epoch, double testAccuracy, double seconds) {
    }

    /**
     * The LeNet-style network.
     *
     * @param variant normalization after each convolution
     * @param format  NCHW or NHWC
     * @param seed    initialization seed
     * @return the initialized network
     */
    public static MultiLayerNetwork network(Variant variant, CNN2DFormat format, long seed) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).seed(seed)
                .updater(new Adam(1e-3)).weightInit(WeightInit.RELU).list();
        for (int filters : new int[]{20, 50}) {
            b.layer(new ConvolutionLayer.Builder(5, 5).nOut(filters).activation(Activation.IDENTITY)
                    .hasBias(variant == Variant.NONE).dataFormat(format).build());
            if (variant != Variant.NONE) {
                b.layer(variant.normalization());
            }
            b.layer(new ActivationLayer(Activation.RELU));
            b.layer(new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).dataFormat(format).build());
        }
        b.layer(new DenseLayer.Builder().nOut(500).activation(Activation.RELU).build());
        b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build());
        MultiLayerNetwork net = new MultiLayerNetwork(b.setInputType(InputType.convolutional(28, 28, 1, format)).build());
        net.init();
        return net;
    }

    @Override
    Integer run() throws IOException {
        for (Variant v : variants) {
            if (!v.hasDefaults()) {
                OptionChecks.fail(spec, "--variants", v.name(), "NONE, BATCHNORM or BUILTIN (RENORM and GHOST run in small-batch)");
            }
        }
        Files.createDirectories(out);
        MnistData train = data.loader().train().head(trainLimit);
        MnistData test = data.loader().test().head(testLimit);
        long[] shape = format == CNN2DFormat.NCHW ? new long[]{1, 28, 28} : new long[]{28, 28, 1};
        System.out.printf(Locale.ROOT, "cnn-mnist %s: %d training images, batch %d, %d epochs%n", format, train.count(), batch, epochs);
        List<Epoch> results = new ArrayList<>();
        for (Variant v : variants) {
            MultiLayerNetwork net = network(v, format, seed);
            java.util.function.Supplier<org.nd4j.linalg.dataset.DataSet> batches =
                    Training.cycling(new MnistIterator(train, batch, seed, true, shape));
            int stepsPerEpoch = (train.count() + batch - 1) / batch;
            for (int epoch = 1; epoch <= epochs; epoch++) {
                double seconds = Training.loop(String.format(Locale.ROOT, "%-10s epoch %d", v.name(), epoch), net, batches,
                        stepsPerEpoch, stepsPerEpoch, step -> null);
                double accuracy = Training.accuracy(net, new MnistIterator(test, 500, 0, false, shape));
                System.out.printf(Locale.ROOT, "%-34s epoch %d: test accuracy %.4f, %.1f s/epoch%n", v.label(), epoch, accuracy, seconds);
                results.add(new Epoch(v, epoch, accuracy, seconds));
            }
        }
        write(results, train.count(), test.count());
        System.out.println("cnn-mnist: wrote " + out.toAbsolutePath() + "/{cnn-mnist.csv, cnn-mnist.png, report.md}");
        return 0;
    }

    private void write(List<Epoch> results, int images, int testCount) throws IOException {
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("cnn-mnist.csv")))) {
            w.println("variant,epoch,test_accuracy,seconds");
            for (Epoch e : results) {
                w.printf(Locale.ROOT, "%s,%d,%.4f,%.2f%n", e.variant(), e.epoch(), e.testAccuracy(), e.seconds());
            }
        }
        List<Charts.Line> lines = new ArrayList<>();
        for (Variant v : variants) {
            List<Epoch> of = results.stream().filter(e -> e.variant() == v).toList();
            lines.add(new Charts.Line(v.label(), of.stream().mapToDouble(Epoch::epoch).toArray(),
                    of.stream().mapToDouble(Epoch::testAccuracy).toArray()));
        }
        Charts.save(out.resolve("cnn-mnist.png"), "LeNet-style CNN, " + format + ": test accuracy", "epoch",
                "test accuracy", lines, Double.NaN, Double.NaN);
        StringBuilder md = new StringBuilder("# cnn-mnist report\n\n");
        md.append(String.format(Locale.ROOT, "A LeNet-style CNN (conv 20, conv 50, dense 500) with the normalization after "
                + "each convolution, %s, Adam 1e-3, %d training images, batches of %d, %d epoch(s), seed %d. Test accuracy "
                + "on %,d test images in inference mode. %s%n%n", format, images, batch, epochs, seed, testCount, Training.machine()));
        md.append("| variant | epoch | test accuracy | seconds per epoch |\n|---|---:|---:|---:|\n");
        for (Epoch e : results) {
            md.append(String.format(Locale.ROOT, "| %s | %d | %.4f | %.1f |%n", e.variant().label(), e.epoch(), e.testAccuracy(), e.seconds()));
        }
        md.append("\n![test accuracy](cnn-mnist.png)\n");
        Files.writeString(out.resolve("report.md"), md.toString());
    }
}
