package io.github.dl4jbn.examples;

import io.github.dl4jbn.CovariateShiftMonitor;
import io.github.dl4jbn.PopulationStatistics;
import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistIterator;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Section 4.1 and Figure 1 of the paper: the 784-100-100-100-10 sigmoid network on MNIST, trained without
 * normalization, with this project's BatchNorm and with DL4J's built-in layer, on the same data order. Writes a
 * CSV of every measurement, the Figure 1 charts and a report.
 */
@Command(name = "paper-mnist", mixinStandardHelpOptions = true,
        description = "Reproduce Figure 1 of Ioffe & Szegedy (2015) on MNIST: test accuracy over training steps, and "
                + "the 15th/50th/85th percentiles of the input to one sigmoid of the last hidden layer.")
public class PaperMnist extends ExperimentCommand {

    private static final Logger log = LoggerFactory.getLogger(PaperMnist.class);

    @Option(names = "--steps", defaultValue = "30000", description = "Training steps (mini-batches) per variant. "
            + "Default: ${DEFAULT-VALUE}, so that all three variants finish in about 10 minutes on 2 cores (the paper ran 50000).")
    int steps;

    @Option(names = "--eval-every", description = "Measure every N steps. Default: steps/100, so each curve has 100 points.")
    Integer evalEvery;

    @Option(names = "--batch", defaultValue = "60", description = "Mini-batch size. Default: ${DEFAULT-VALUE}, the paper's.")
    int batch;

    @Option(names = "--lr", defaultValue = "1.0", description = "SGD learning rate, the same for every variant. Default: ${DEFAULT-VALUE}.")
    double learningRate;

    @Option(names = "--init-std", defaultValue = "1.0", description = "Standard deviation of the Gaussian weight initialization. Default: ${DEFAULT-VALUE}.")
    double initStd;


    @Option(names = "--probe", defaultValue = "1000", description = "Test images over which the sigmoid-input percentiles are taken. Default: ${DEFAULT-VALUE}.")
    int probeImages;

    @Option(names = "--unit", defaultValue = "0", description = "Which sigmoid of the last hidden layer to follow (0-99). Default: ${DEFAULT-VALUE}.")
    int unit;

    @Option(names = "--variants", split = ",", defaultValue = "NONE,BATCHNORM,BUILTIN",
            description = "Variants to train: ${COMPLETION-CANDIDATES}. Default: all.")
    List<Variant> variants;

    @Option(names = "--population-pass", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "After training, set this project's BatchNorm layers to Algorithm 2's population statistics "
                    + "(one pass over the training set per layer) and report the test accuracy with them. Default: on.")
    boolean populationPass;

    @Option(names = "--population-examples", defaultValue = "60000",
            description = "Training images the population pass averages over (the first N). Default: all.")
    int populationExamples;



    /** One measurement point. */
    record Point(int step, double accuracy, double p15, double p50, double p85) {
    }

    /** One variant's run; the monitor holds the percentile measurements. */
    record Run(Variant variant, List<Point> points, double trainSeconds, CovariateShiftMonitor monitor,
               double populationAccuracy) {
        double stepsPerSecond(int steps) {
            return steps / trainSeconds;
        }

        /** First measured step at which test accuracy reached the threshold, or -1. */
        int stepsTo(double accuracy) {
            return Training.firstStepReaching(points.stream().mapToInt(Point::step).toArray(),
                    points.stream().mapToDouble(Point::accuracy).toArray(), accuracy);
        }

        double finalAccuracy() {
            return points.get(points.size() - 1).accuracy();
        }
    }

    @Override
    Integer run() throws IOException {
        for (Variant v : variants) {
            if (!v.hasDefaults()) {
                OptionChecks.fail(spec, "--variants", v.name(), "NONE, BATCHNORM or BUILTIN (RENORM and GHOST run in small-batch)");
            }
        }
        int every = evalEvery != null ? evalEvery : Math.max(1, steps / 100);
        Files.createDirectories(out);
        MnistData train = data.loader().train();
        MnistData test = data.loader().test();
        DataSet testSet = MnistIterator.all(test);
        INDArray probe = MnistIterator.all(test.head(probeImages)).getFeatures();
        log.info("paper-mnist: {} steps of {} per variant, lr {}, init N(0, {}), measuring every {} steps on {} test images",
                steps, batch, learningRate, initStd, every, test.count());
        Map<Variant, Run> runs = new LinkedHashMap<>();
        for (Variant v : variants) {
            runs.put(v, train(v, train, testSet, probe, every));
            log.info("{}: final test accuracy {}, {} steps/s", v.label(), String.format(Locale.ROOT, "%.4f", runs.get(v).finalAccuracy()),
                    String.format(Locale.ROOT, "%.0f", runs.get(v).stepsPerSecond(steps)));
        }
        writeCsv(runs);
        writeCharts(runs);
        writeReport(runs, every);
        System.out.println("paper-mnist: wrote " + out.toAbsolutePath() + "/{measurements.csv, fig1a-test-accuracy.png, "
                + "fig1-percentiles-*.png, report.md}");
        return 0;
    }

    private Run train(Variant variant, MnistData train, DataSet testSet, INDArray probe, int every) {
        MultiLayerNetwork net = PaperNetwork.build(variant, learningRate, initStd, seed);
        String sigmoid = String.valueOf(PaperNetwork.lastSigmoid(net));
        CovariateShiftMonitor monitor = new CovariateShiftMonitor.Builder().probe(probe).layers(sigmoid).unit(unit).build();
        List<Point> points = new ArrayList<>();
        points.add(measure(net, 0, testSet, monitor));
        double trainSeconds = Training.loop(String.format("%-10s", variant.name()), net,
                Training.cycling(new MnistIterator(train, batch, seed, true)), steps, every, step -> {
                    Point p = measure(net, step, testSet, monitor);
                    points.add(p);
                    return String.format(Locale.ROOT, " acc %.4f", p.accuracy());
                });
        double populationAccuracy = Double.NaN;
        if (populationPass && variant == Variant.BATCHNORM) {
            PopulationStatistics.estimate(net, new MnistIterator(train.head(populationExamples), batch, seed, false),
                    Training.populationProgress());
            populationAccuracy = Training.accuracy(net, testSet);             // Algorithm 2's inference network
        }
        return new Run(variant, points, trainSeconds, monitor, populationAccuracy);
    }

    /** Test accuracy on the full test set, and percentiles of the followed sigmoid's input over the probe images. */
    private static Point measure(MultiLayerNetwork net, int step, DataSet testSet, CovariateShiftMonitor monitor) {
        double accuracy = Training.accuracy(net, testSet);
        monitor.record(net, step);
        List<CovariateShiftMonitor.Record> records = monitor.records();
        CovariateShiftMonitor.Record r = records.get(records.size() - 1);
        return new Point(step, accuracy, r.p15(), r.p50(), r.p85());
    }

    private void writeCsv(Map<Variant, Run> runs) throws IOException {
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("measurements.csv")))) {
            w.println("variant,step,test_accuracy,sigmoid_input_p15,sigmoid_input_p50,sigmoid_input_p85");
            for (Run r : runs.values()) {
                for (Point p : r.points()) {
                    w.printf(Locale.ROOT, "%s,%d,%.4f,%.6f,%.6f,%.6f%n", r.variant().name(), p.step(), p.accuracy(), p.p15(), p.p50(), p.p85());
                }
            }
        }
    }

    private void writeCharts(Map<Variant, Run> runs) throws IOException {
        List<Charts.Line> accuracy = new ArrayList<>();
        for (Run r : runs.values()) {
            List<Point> pts = r.points().subList(1, r.points().size());       // step 0 would squash the y range
            accuracy.add(new Charts.Line(r.variant().label(), pts.stream().mapToDouble(Point::step).toArray(),
                    pts.stream().mapToDouble(Point::accuracy).toArray()));
        }
        Charts.save(out.resolve("fig1a-test-accuracy.png"), "Figure 1(a): test accuracy, MNIST 784-100-100-100-10 sigmoid",
                "training steps", "test accuracy", accuracy, 0.85, 1.0);
        for (Run r : runs.values()) {
            String layer = r.monitor().records().get(0).layer();
            Charts.percentiles(out.resolve("fig1-percentiles-" + r.variant().name().toLowerCase(Locale.ROOT) + ".png"),
                    r.monitor().records(), layer,
                    "Figure 1(b,c): input to sigmoid " + unit + " of the last hidden layer, " + r.variant().label());
        }
    }

    private void writeReport(Map<Variant, Run> runs, int every) throws IOException {
        StringBuilder md = new StringBuilder();
        md.append("# paper-mnist report\n\n");
        md.append(String.format(Locale.ROOT, "Network 784-100-100-100-10, sigmoid, SGD lr %s, batch %d, weights N(0, %s), seed %d, "
                        + "%d steps per variant, test accuracy on all 10,000 test images every %d steps. %s%n%n",
                learningRate, batch, initStd, seed, steps, every, Training.machine()));
        md.append("| variant | steps to 90% | steps to 95% | steps to 97% | final test accuracy | training time | steps/s |\n");
        md.append("|---|---:|---:|---:|---:|---:|---:|\n");
        for (Run r : runs.values()) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %.4f | %s | %.0f |%n", r.variant().label(),
                    Training.reached(r.stepsTo(0.90)), Training.reached(r.stepsTo(0.95)), Training.reached(r.stepsTo(0.97)), r.finalAccuracy(),
                    duration(r.trainSeconds()), r.stepsPerSecond(steps)));
        }
        md.append("\nSteps are measured at the evaluation points, so each is exact to within ").append(every).append(" steps.\n\n");
        Run none = runs.get(Variant.NONE);
        Run ours = runs.get(Variant.BATCHNORM);
        if (none != null && ours != null) {
            int n95 = none.stepsTo(0.95);
            int b95 = ours.stepsTo(0.95);
            md.append("## The paper's claims, checked\n\n");
            md.append(String.format(Locale.ROOT, "- BatchNorm reaches 95%% in %s steps, the unnormalized network in %s: %s.%n",
                    Training.reached(b95), Training.reached(n95), b95 > 0 && (n95 < 0 || 2 * b95 <= n95) ? "at most half, as claimed" : "NOT at most half"));
            md.append(String.format(Locale.ROOT, "- Final accuracy %.4f with BatchNorm against %.4f without: %s.%n",
                    ours.finalAccuracy(), none.finalAccuracy(), ours.finalAccuracy() > none.finalAccuracy() ? "higher, as claimed" : "NOT higher"));
            md.append(String.format(Locale.ROOT, "- Spread of the median sigmoid input over training (max - min after the first measurement): "
                    + "%.3f with BatchNorm, %.3f without.%n", drift(ours), drift(none)));
        }
        if (ours != null && !Double.isNaN(ours.populationAccuracy())) {
            md.append(String.format(Locale.ROOT, "%nAlgorithm 2's inference network: with the population statistics of one pass over "
                    + (populationExamples >= 60_000 ? "the training set" : String.format(Locale.ROOT, "the first %,d training images", populationExamples))
                    + " (the average of the batch means and of m/(m-1) times the batch variances), this project's "
                    + "BatchNorm network scores %.4f on the test set, against %.4f with the moving averages of training.%n",
                    ours.populationAccuracy(), ours.finalAccuracy()));
        }
        md.append("\n![Figure 1(a)](fig1a-test-accuracy.png)\n");
        for (Run r : runs.values()) {
            md.append(String.format("\n![%s](fig1-percentiles-%s.png)%n", r.variant().label(), r.variant().name().toLowerCase(Locale.ROOT)));
        }
        Files.writeString(out.resolve("report.md"), md.toString());
    }

    private static double drift(Run r) {
        return r.points().stream().skip(1).mapToDouble(Point::p50).max().orElse(0)
                - r.points().stream().skip(1).mapToDouble(Point::p50).min().orElse(0);
    }

    private static String duration(double seconds) {
        Duration d = Duration.ofMillis((long) (seconds * 1000));
        return String.format(Locale.ROOT, "%d:%02d", d.toMinutes(), d.toSecondsPart());
    }
}
