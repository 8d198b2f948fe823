package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistIterator;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The paper's argument that BN regularizes: in training an example is normalized together with the other
 * examples of its mini-batch, so its output depends on its companions. For fixed test examples, this measures
 * the spread (standard deviation across random sets of training companions) of the last hidden layer's
 * sigmoid inputs and of the class probabilities, per batch size, next to inference mode.
 */
@Command(name = "batch-noise", mixinStandardHelpOptions = true,
        description = "How much an example's output depends on its mini-batch companions in training mode, per batch size.")
public class BatchNoise extends ExperimentCommand {

    @Option(names = "--train-steps", defaultValue = "3000", description = "Steps to train the BatchNorm network first. Default: ${DEFAULT-VALUE}.")
    int trainSteps;

    @Option(names = "--batch-sizes", split = ",", defaultValue = "2,10,60,250", description = "Batch sizes to measure. Default: ${DEFAULT-VALUE}.")
    int[] batchSizes;

    @Option(names = "--examples", defaultValue = "50", description = "Test examples followed. Default: ${DEFAULT-VALUE}.")
    int examples;

    @Option(names = "--draws", defaultValue = "20", description = "Random companion sets per example and batch size. Default: ${DEFAULT-VALUE}.")
    int draws;

    @Option(names = "--lr", defaultValue = "1.0", description = "SGD learning rate. Default: ${DEFAULT-VALUE}.")
    double learningRate;




    /** Spread at one batch size (0 stands for inference mode). */
    record Spread(int batchSize, double preActivation, double trueClassProbability, double predictionFlips) {
    }

    @Override
    Integer run() throws IOException {
        Files.createDirectories(out);
        MnistData train = data.loader().train();
        MnistData test = data.loader().test().head(examples);
        MultiLayerNetwork net = PaperNetwork.build(Variant.BATCHNORM, learningRate, 1.0, seed);
        Training.train("BatchNorm", net, train, 60, seed, trainSteps, trainSteps, java.util.Map.of());
        List<Spread> spreads = measure(net, train, test, batchSizes, draws, seed);
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("batch-noise.csv")))) {
            w.println("batch_size,mode,preactivation_std,true_class_probability_std,prediction_flip_rate");
            for (Spread s : spreads) {
                w.printf(Locale.ROOT, "%d,%s,%.6f,%.6f,%.4f%n", s.batchSize(), s.batchSize() == 0 ? "inference" : "training",
                        s.preActivation(), s.trueClassProbability(), s.predictionFlips());
            }
        }
        List<Spread> training = spreads.subList(1, spreads.size());
        double[] x = training.stream().mapToDouble(Spread::batchSize).toArray();
        Charts.save(out.resolve("batch-noise.png"), "Spread across mini-batch companions (inference mode: 0)", "batch size",
                "standard deviation", List.of(
                        new Charts.Line("sigmoid inputs, last hidden layer", x, training.stream().mapToDouble(Spread::preActivation).toArray()),
                        new Charts.Line("probability of the true class", x, training.stream().mapToDouble(Spread::trueClassProbability).toArray()),
                        new Charts.Line("inference mode", x, new double[x.length])),
                0.0, Double.NaN);
        StringBuilder md = new StringBuilder("# batch-noise report\n\n");
        md.append(String.format(Locale.ROOT, "A BatchNorm network (the paper's MNIST network, %d SGD steps at lr %s) is evaluated on %d "
                + "test examples, each put into %d mini-batches of random training companions per batch size, in training mode "
                + "(batch statistics) and in inference mode (population statistics). Spread = standard deviation across the "
                + "companion sets, averaged over examples (and over the 100 sigmoid inputs). %s%n%n",
                trainSteps, learningRate, examples, draws, Training.machine()));
        md.append("| batch size | mode | spread of sigmoid inputs | spread of true-class probability | predictions that differ from inference |\n");
        md.append("|---:|---|---:|---:|---:|\n");
        for (Spread s : spreads) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %.4f | %.4f | %.1f%% |%n", s.batchSize() == 0 ? "any" : String.valueOf(s.batchSize()),
                    s.batchSize() == 0 ? "inference" : "training", s.preActivation(), s.trueClassProbability(), 100 * s.predictionFlips()));
        }
        Spread smallest = training.get(0);
        Spread largest = training.get(training.size() - 1);
        md.append(String.format(Locale.ROOT, "%nIn inference mode the output is deterministic. In training mode the same image moves: at "
                        + "batch size %d the probability the network gives the true class varies by %.3f (standard deviation) from one "
                        + "set of companions to another, at batch size %d by %.3f; the noise shrinks roughly as 1/sqrt(batch size), "
                        + "since it comes from estimating a mean and variance from the batch.%n%n![spread](batch-noise.png)%n",
                smallest.batchSize(), smallest.trueClassProbability(), largest.batchSize(), largest.trueClassProbability()));
        Files.writeString(out.resolve("report.md"), md.toString());
        System.out.println("batch-noise: wrote " + out.toAbsolutePath() + "/{batch-noise.csv, batch-noise.png, report.md}");
        return 0;
    }

    /**
     * The spreads: first inference mode (batch size 0), then each batch size in training mode.
     */
    static List<Spread> measure(MultiLayerNetwork net, MnistData train, MnistData test, int[] batchSizes, int draws, long seed) {
        int sigmoid = PaperNetwork.lastSigmoid(net);
        int size = train.imageSize();
        List<Spread> result = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        sizes.add(0);
        for (int b : batchSizes) {
            sizes.add(b);
        }
        int[] inferencePredictions = net.output(MnistIterator.all(test).getFeatures()).argMax(1).toIntVector();
        for (int batchSize : sizes) {
            Random r = new Random(seed + batchSize);
            boolean training = batchSize > 0;
            int rows = Math.max(batchSize, 2);
            double preSpread = 0;
            double probSpread = 0;
            double flips = 0;
            for (int e = 0; e < test.count(); e++) {
                double[][] pre = new double[draws][];
                double[] prob = new double[draws];
                int label = test.labels()[e];
                int inferencePrediction = inferencePredictions[e];
                for (int d = 0; d < draws; d++) {
                    float[] x = new float[rows * size];
                    System.arraycopy(test.pixels(), e * size, x, 0, size);       // row 0: the followed example
                    for (int k = 1; k < rows; k++) {
                        System.arraycopy(train.pixels(), r.nextInt(train.count()) * size, x, k * size, size);
                    }
                    INDArray batch = Nd4j.createFromArray(x).reshape(rows, size);
                    List<INDArray> acts = net.feedForwardToLayer(sigmoid - 1, batch, training);
                    pre[d] = acts.get(acts.size() - 1).getRow(0).dup().castTo(DataType.DOUBLE).toDoubleVector();
                    INDArray p = net.output(batch, training).getRow(0);
                    prob[d] = p.getDouble(label);
                    if (p.argMax().getInt(0) != inferencePrediction) {
                        flips++;
                    }
                }
                preSpread += meanStd(pre);
                probSpread += std(prob);
            }
            int n = test.count();
            result.add(new Spread(batchSize, preSpread / n, probSpread / n, flips / (n * (double) draws)));
        }
        return result;
    }

    private static double meanStd(double[][] samples) {
        double total = 0;
        int units = samples[0].length;
        for (int u = 0; u < units; u++) {
            double[] column = new double[samples.length];
            for (int d = 0; d < samples.length; d++) {
                column[d] = samples[d][u];
            }
            total += std(column);
        }
        return total / units;
    }

    private static double std(double[] v) {
        double mean = 0;
        for (double x : v) {
            mean += x;
        }
        mean /= v.length;
        double var = 0;
        for (double x : v) {
            var += (x - mean) * (x - mean);
        }
        return Math.sqrt(var / v.length);
    }
}
