package io.github.dl4jbn.examples;

import io.github.dl4jbn.PopulationStatistics;
import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistIterator;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * AdaBN (Li, Wang, Shi, Liu and Hou 2016): a network trained on MNIST meets shifted test domains; its BatchNorm
 * statistics are re-estimated on unlabeled images of each domain ({@link PopulationStatistics#recalibrate}), every
 * weight kept, and its accuracy compared before and after, against the same network without normalization, which
 * has nothing to re-estimate. MNIST's test set is split in two: the first half gives each domain's unlabeled
 * adaptation images (their labels are never read), the second half the images the accuracy is measured on.
 */
@Command(name = "adapt", mixinStandardHelpOptions = true,
        description = "AdaBN: BatchNorm statistics re-estimated on unlabeled images of shifted MNIST domains.")
public class Adapt extends ExperimentCommand {

    @Option(names = "--steps", defaultValue = "8000", description = "Training steps (60 images each) per network. Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--lr", defaultValue = "1.0", description = "SGD learning rate. Default: ${DEFAULT-VALUE}.")
    double learningRate;

    @Option(names = "--init-std", defaultValue = "1.0", description = "Standard deviation of the Gaussian weights. Default: ${DEFAULT-VALUE}.")
    double initStd;

    @Option(names = "--test-limit", defaultValue = "10000", description = "Test images used, split half for adaptation, half for"
            + " measuring. Default: ${DEFAULT-VALUE}, all.")
    int testLimit;

    /** Images per batch of the re-estimation: the statistics of each, averaged (Algorithm 2). */
    static final int ADAPTATION_BATCH = 100;

    /** @return the re-estimation's batch: {@link #ADAPTATION_BATCH}, or all the images when there are fewer */
    static int adaptationBatch(int images) {
        return Math.min(ADAPTATION_BATCH, images);
    }

    /** Accuracy on one domain: without normalization, BatchNorm with its training statistics, and after AdaBN. */
    record Row(DomainShift domain, double none, double before, double after) {
    }

    @Override
    Integer run() throws IOException {
        if (testLimit < 4) {
            OptionChecks.fail(spec, "--test-limit", String.valueOf(testLimit), "at least 4 (two halves of at least two images)");
        }
        MnistData train = data.loader().train();
        MnistData test = data.loader().test().head(testLimit);
        int half = test.count() / 2;
        Files.createDirectories(out);
        MnistData adaptation = test.slice(0, half);
        MnistData measured = test.slice(half, test.count());
        MultiLayerNetwork none = PaperNetwork.build(Variant.NONE, learningRate, initStd, seed);
        MultiLayerNetwork bn = PaperNetwork.build(Variant.BATCHNORM, learningRate, initStd, seed);
        double noneSeconds = Training.loop("no normalization", none, Training.cycling(new MnistIterator(train, 60, seed, true)),
                steps, steps, step -> null);
        double bnSeconds = Training.loop("BatchNorm       ", bn, Training.cycling(new MnistIterator(train, 60, seed, true)),
                steps, steps, step -> null);
        List<Row> rows = new ArrayList<>();
        for (DomainShift domain : DomainShift.values()) {
            DataSet target = MnistIterator.all(domain.apply(measured, seed + 1));
            List<INDArray> unlabeled = new ArrayList<>();
            MnistIterator batches = new MnistIterator(domain.apply(adaptation, seed + 2), adaptationBatch(half), seed, false);
            while (batches.hasNext()) {
                unlabeled.add(batches.next().getFeatures());             // features only: AdaBN reads no label
            }
            MultiLayerNetwork adapted = bn.clone();
            PopulationStatistics.recalibrate(adapted, unlabeled, Training.populationProgress());
            rows.add(new Row(domain, Training.accuracy(none, target), Training.accuracy(bn, target), Training.accuracy(adapted, target)));
        }
        writeCsv(rows);
        Map<String, List<Double>> series = new LinkedHashMap<>();
        series.put("no normalization", rows.stream().map(Row::none).toList());
        series.put("BatchNorm, training statistics", rows.stream().map(Row::before).toList());
        series.put("BatchNorm, AdaBN (statistics re-estimated)", rows.stream().map(Row::after).toList());
        Charts.bars(out.resolve("adapt.png"), "Accuracy on shifted MNIST test domains", "accuracy",
                rows.stream().map(r -> r.domain().name().toLowerCase(Locale.ROOT)).toList(), series, 0.0);   // short: the report has the full names
        Files.writeString(out.resolve("report.md"), report(rows, half, measured.count(), noneSeconds, bnSeconds));
        System.out.println("adapt: wrote " + out.toAbsolutePath() + "/{adapt.csv, adapt.png, report.md}");
        return 0;
    }

    private void writeCsv(List<Row> rows) throws IOException {
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("adapt.csv")))) {
            w.println("domain,variant,accuracy");
            for (Row r : rows) {
                String d = r.domain().name().toLowerCase(Locale.ROOT);
                w.printf(Locale.ROOT, "%s,none,%.4f%n%s,batchnorm,%.4f%n%s,batchnorm-adabn,%.4f%n", d, r.none(), d, r.before(), d, r.after());
            }
        }
    }

    private String report(List<Row> rows, int adaptationImages, int measuredImages, double noneSeconds, double bnSeconds) {
        StringBuilder md = new StringBuilder("# adapt report: AdaBN on shifted MNIST\n\n");
        md.append(String.format(Locale.ROOT, "The paper's network (784-100-100-100-10, sigmoid) trained for %d steps of 60 MNIST"
                        + " training images, SGD lr %s, weights N(0, %s), once without normalization and once with this project's"
                        + " BatchNorm before each sigmoid (%.0f s and %.0f s of fit). Each shifted domain is made from MNIST's test"
                        + " images: the first %d give the unlabeled adaptation images, the other %d are measured. AdaBN: every"
                        + " weight kept, each BatchNorm layer's statistics re-estimated on the domain's adaptation images"
                        + " (`PopulationStatistics.recalibrate`, batches of %d, no labels). %s%n%n",
                steps, learningRate, initStd, noneSeconds, bnSeconds, adaptationImages, measuredImages, adaptationBatch(adaptationImages),
                Training.machine()));
        md.append("| domain | no normalization | BatchNorm, training statistics | BatchNorm after AdaBN | AdaBN's change |"
                + " lost to the shift, recovered |\n|---|---:|---:|---:|---:|---:|\n");
        Row clean = rows.get(0);
        for (Row r : rows) {
            md.append(String.format(Locale.ROOT, "| %s | %.4f | %.4f | %.4f | %+.4f | %s |%n", r.domain().label(), r.none(),
                    r.before(), r.after(), r.after() - r.before(), r == clean ? "-" : recovered(clean, r)));
        }
        md.append("\n![accuracy by domain](adapt.png)\n\n## What the numbers show\n\n");
        md.append("AdaBN's claim: re-estimated statistics recover much of the accuracy a domain shift cost, with no labels. Here, by"
                + " domain (\"much\" read as at least half of what the shift cost):\n\n");
        for (Row r : rows) {
            if (r == clean) {
                md.append(String.format(Locale.ROOT, "- **%s**: re-estimating on the training domain's own images moves accuracy by"
                        + " %+.4f, the size of the noise in this measurement.%n", r.domain().label(), r.after() - r.before()));
                continue;
            }
            double lost = clean.before() - r.before();
            double share = lost <= 0 ? Double.NaN : (r.after() - r.before()) / lost;
            String verdict = lost <= 0.005 ? "the shift cost almost nothing, so there was little to recover"
                    : share >= 0.5 ? "the claim holds" : share > 0.1 ? "the claim holds only in part" : "the claim does not hold";
            md.append(String.format(Locale.ROOT, "- **%s**: %s (%s). The shift cost %.4f; AdaBN changed accuracy by %+.4f."
                            + " Without normalization the network scores %.4f here. Why: %s.", r.domain().label(), verdict,
                    recovered(clean, r), lost, r.after() - r.before(), r.none(), r.domain().why()));
            if (r.domain() == DomainShift.CONTRAST) {
                md.append(String.format(Locale.ROOT, " After AdaBN it scores %.4f, the clean domain's after AdaBN %.4f: %s.",
                        r.after(), clean.after(), Math.abs(r.after() - clean.after()) < 0.0005
                                ? "the same, as the algebra says (the same images, shifted, give the same normalized units)"
                                : "not the same, although the algebra says they should be (see the rounding of a FLOAT network)"));
            }
            md.append('\n');
        }
        md.append("\nThe domains are chosen to separate the cases: an affine intensity change is exactly what per-unit"
                + " statistics can undo (the first layer sees an affine change of each unit, and every later layer then sees"
                + " what it saw in training), inversion is affine too but flips signs that a standard deviation cannot, and"
                + " noise and rotation change what the units see, not only its scale and offset.\n");
        return md.toString();
    }

    /** The share of the accuracy the shift cost that AdaBN won back, as a percentage. */
    private static String recovered(Row clean, Row r) {
        double lost = clean.before() - r.before();
        return lost <= 0 ? "nothing lost" : String.format(Locale.ROOT, "%.0f%%", 100 * (r.after() - r.before()) / lost);
    }
}
