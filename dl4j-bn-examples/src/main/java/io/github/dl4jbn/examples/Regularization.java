package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistIterator;
import org.nd4j.linalg.dataset.DataSet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * "Batch normalization regularizes the model": the paper's network trained on a small training subset so that
 * overfitting shows, without normalization, with BatchNorm, with dropout alone and with both.
 */
@Command(name = "regularization", mixinStandardHelpOptions = true,
        description = "Overfitting on a small training subset: none, BatchNorm, dropout, BatchNorm + dropout.")
public class Regularization extends ExperimentCommand {

    @Option(names = "--train-size", defaultValue = "5000", description = "Training images used. Default: ${DEFAULT-VALUE}.")
    int trainSize;

    @Option(names = "--steps", defaultValue = "5000", description = "Steps per run (60 images each). Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--eval-every", defaultValue = "250", description = "Measure every N steps. Default: ${DEFAULT-VALUE}.")
    int every;

    @Option(names = "--lr", defaultValue = "0.5", description = "SGD learning rate. Default: ${DEFAULT-VALUE}.")
    double learningRate;

    @Option(names = "--retain", defaultValue = "0.8", description = "Dropout: probability of keeping a hidden unit. Default: ${DEFAULT-VALUE}.")
    double retain;

    @Option(names = "--init-std", defaultValue = "1.0", description = "Standard deviation of the Gaussian weights. Default: ${DEFAULT-VALUE}.")
    double initStd;




    @Override
    Integer run() throws IOException {
        Files.createDirectories(out);
        MnistData train = data.loader().train().head(trainSize);
        Map<String, DataSet> sets = new LinkedHashMap<>();
        sets.put("train", MnistIterator.all(train));
        sets.put("test", MnistIterator.all(data.loader().test()));
        List<Training.Curve> curves = new ArrayList<>();
        curves.add(Training.train("no normalization", PaperNetwork.build(Variant.NONE, learningRate, initStd, seed), train, 60, seed, steps, every, sets));
        curves.add(Training.train("BatchNorm", PaperNetwork.build(Variant.BATCHNORM, learningRate, initStd, seed), train, 60, seed, steps, every, sets));
        curves.add(Training.train("dropout", PaperNetwork.build(Variant.NONE, learningRate, initStd, seed, retain), train, 60, seed, steps, every, sets));
        curves.add(Training.train("BatchNorm + dropout", PaperNetwork.build(Variant.BATCHNORM, learningRate, initStd, seed, retain), train, 60, seed, steps, every, sets));
        Training.writeCsv(out.resolve("regularization.csv"), curves);
        Training.chart(out.resolve("regularization.png"), "Train and test accuracy on " + trainSize + " training images",
                curves, List.of("train", "test"), 0.8);
        StringBuilder md = new StringBuilder("# regularization report\n\n");
        md.append(String.format(Locale.ROOT, "The paper's MNIST network trained on the first %d training images for %d steps of 60 "
                        + "(%.0f epochs), SGD lr %s, weights N(0, %s), dropout keeping %s of the hidden units. Accuracy measured in "
                        + "inference mode on those %d images (train) and on the 10,000 test images. %s%n%n",
                trainSize, steps, steps * 60.0 / trainSize, learningRate, initStd, retain, trainSize, Training.machine()));
        md.append("| run | final train accuracy | final test accuracy | train - test gap | best test accuracy |\n|---|---:|---:|---:|---:|\n");
        for (Training.Curve c : curves) {
            double best = c.points().stream().mapToDouble(p -> p.accuracy().get("test")).max().orElse(Double.NaN);
            md.append(String.format(Locale.ROOT, "| %s | %.4f | %.4f | %.4f | %.4f |%n", c.name(), c.last("train"), c.last("test"),
                    c.last("train") - c.last("test"), best));
        }
        md.append("\n![curves](regularization.png)\n\n");
        md.append(verdict(curves));
        Files.writeString(out.resolve("report.md"), md.toString());
        System.out.println("regularization: wrote " + out.toAbsolutePath() + "/{regularization.csv, regularization.png, report.md}");
        return 0;
    }

    /** States what the numbers show, whichever way they go. */
    static String verdict(List<Training.Curve> curves) {
        Training.Curve none = curves.get(0);
        Training.Curve bn = curves.get(1);
        double gapNone = none.last("train") - none.last("test");
        double gapBn = bn.last("train") - bn.last("test");
        StringBuilder s = new StringBuilder("## What the numbers show\n\n");
        s.append(String.format(Locale.ROOT, "- Train/test gap: %.4f without normalization, %.4f with BatchNorm: %s.%n", gapNone, gapBn,
                gapBn < gapNone ? "BatchNorm narrows the gap" : "BatchNorm does not narrow the gap here"));
        s.append(String.format(Locale.ROOT, "- Test accuracy: %.4f without normalization, %.4f with BatchNorm: %s.%n",
                none.last("test"), bn.last("test"), bn.last("test") > none.last("test") ? "higher with BatchNorm" : "not higher with BatchNorm"));
        if (curves.size() >= 4) {
            Training.Curve dropout = curves.get(2);
            Training.Curve both = curves.get(3);
            s.append(String.format(Locale.ROOT, "- Against dropout: test accuracy %.4f with BatchNorm alone, %.4f with dropout alone, "
                    + "%.4f with both; train/test gaps %.4f, %.4f, %.4f.%n", bn.last("test"), dropout.last("test"), both.last("test"),
                    gapBn, dropout.last("train") - dropout.last("test"), both.last("train") - both.last("test")));
        }
        s.append("- The gap alone does not separate regularization from fitting speed: a network that fits the small set "
                + "better also has more room to overfit. Compare the best test accuracy column as well.\n");
        return s.toString();
    }
}
