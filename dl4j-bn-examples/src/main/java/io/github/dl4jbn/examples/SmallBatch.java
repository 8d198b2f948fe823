package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistIterator;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
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
import java.util.function.Supplier;

/**
 * Batch Renormalization's claims (Ioffe 2017) on the paper's MNIST network: (a) mini-batches of 2, 4, 8 and 60
 * with the same number of examples seen; (b) non-i.i.d. mini-batches of 60 drawn from two classes each. Each
 * with no normalization, BatchNorm, Batch Renormalization and BatchNorm with ghost batches of 10 (where the
 * mini-batch holds more than one). Test accuracy in inference mode, and the gap between training mode (batch
 * statistics, on mini-batches drawn as in training) and inference mode on the same test examples.
 */
@Command(name = "small-batch", mixinStandardHelpOptions = true,
        description = "Tiny and non-i.i.d. mini-batches: none, BatchNorm, Batch Renormalization, ghost batches.")
public class SmallBatch extends ExperimentCommand {

    @Option(names = "--examples", defaultValue = "15000", description = "Training examples seen per run. Default: ${DEFAULT-VALUE} (a quarter epoch; about 4 minutes in all on 2 cores).")
    int examples;

    @Option(names = "--full", description = "The full run: 300,000 examples per run (5 epochs), about 20x as long.")
    boolean full;

    @Option(names = "--batch-sizes", split = ",", defaultValue = "2,4,8,60", description = "Mini-batch sizes of part (a). Default: ${DEFAULT-VALUE}.")
    int[] batchSizes;

    @Option(names = "--lr", defaultValue = "1.0", description = "SGD learning rate at batch 60, scaled linearly with the batch size. Default: ${DEFAULT-VALUE}.")
    double baseLr;

    @Option(names = "--init-std", defaultValue = "1.0", description = "Standard deviation of the Gaussian weights. Default: ${DEFAULT-VALUE}.")
    double initStd;

    @Option(names = "--ghost", defaultValue = "10", description = "Examples per ghost batch. Default: ${DEFAULT-VALUE}.")
    int ghost;

    @Option(names = "--probe", defaultValue = "1200", description = "Test images the training/inference gap is measured on. Default: ${DEFAULT-VALUE}.")
    int probe;




    /** The normalizations compared, each before every sigmoid. */
    static final List<Variant> COMPARED = List.of(Variant.NONE, Variant.BATCHNORM, Variant.RENORM, Variant.GHOST);

    /** One run's results. */
    record Result(String setting, Variant norm, int batch, int steps, double testAccuracy, double trainingMode,
                  double inferenceMode, double seconds) {
        double gap() {
            return trainingMode - inferenceMode;
        }
    }

    /** Running statistics' decay for every BatchNorm variant: Batch Renormalization's paper uses 0.99. */
    static final double DECAY = 0.99;

    Supplier<Layer> normalization(Variant norm, int steps) {
        return () -> norm.normalization(DECAY, steps, ghost);
    }

    @Override
    Integer run() throws IOException {
        for (int batch : batchSizes) {
            if (batch > ghost && batch % ghost != 0) {
                OptionChecks.fail(spec, "--ghost", String.valueOf(ghost), "a divisor of every batch size above it ("
                        + batch + " is not a multiple)");
            }
        }
        if (60 % ghost != 0) {
            OptionChecks.fail(spec, "--ghost", String.valueOf(ghost), "a divisor of 60, the two-class setting's batch");
        }
        Files.createDirectories(out);
        int seen = full ? 300_000 : examples;
        MnistData train = data.loader().train();
        MnistData test = data.loader().test();
        DataSet testAll = MnistIterator.all(test);
        List<Result> results = new ArrayList<>();
        for (int batch : batchSizes) {
            for (Variant norm : COMPARED) {
                if (norm == Variant.GHOST && (batch <= ghost || batch % ghost != 0)) {
                    continue;                                   // one ghost batch is the mini-batch itself
                }
                results.add(run("i.i.d.", norm, batch, seen, Training.cycling(new MnistIterator(train, batch, seed, true)),
                        test, testAll, iidBatches(test, batch)));
            }
        }
        for (Variant norm : COMPARED) {
            TwoClassBatches sampler = new TwoClassBatches(train, 60, seed);
            results.add(run("2 classes per batch", norm, 60, seen, sampler::next, test, testAll,
                    new TwoClassBatches(test.head(6000), 60, seed + 1).take(Math.max(2, probe / 60))));
        }
        write(results, seen);
        System.out.println("small-batch: wrote " + out.toAbsolutePath() + "/{small-batch.csv, small-batch.png, report.md}");
        return 0;
    }

    private Result run(String setting, Variant norm, int batch, int seen, Supplier<DataSet> batches, MnistData test,
                       DataSet testAll, List<DataSet> modeProbe) {
        int steps = Math.max(1, seen / batch);
        MultiLayerNetwork net = PaperNetwork.build(normalization(norm, steps), baseLr * batch / 60.0, initStd, seed, 1.0);
        String task = String.format(Locale.ROOT, "%-26s %-20s", norm.shortLabel() + ", batch " + batch, setting);
        double seconds = Training.loop(task, net, batches, steps, steps, step -> null);
        double testAccuracy = Training.accuracy(net, testAll);
        double trainingMode = 0;
        double inferenceMode = 0;
        for (DataSet d : modeProbe) {                            // the same examples, batch statistics or population ones
            trainingMode += Training.correct(net.output(d.getFeatures(), true), d.getLabels());
            inferenceMode += Training.correct(net.output(d.getFeatures(), false), d.getLabels());
        }
        long probed = modeProbe.stream().mapToLong(DataSet::numExamples).sum();
        return new Result(setting, norm, batch, steps, testAccuracy, trainingMode / probed, inferenceMode / probed, seconds);
    }

    /** The probe's test images (at least 2 batches) in i.i.d. mini-batches of the run's size. */
    private List<DataSet> iidBatches(MnistData test, int batch) {
        MnistIterator it = new MnistIterator(test, batch, seed + 7, true);
        List<DataSet> batches = new ArrayList<>();
        int count = Math.max(2, probe / batch);
        for (int i = 0; i < count && it.hasNext(); i++) {
            batches.add(it.next());
        }
        return batches;
    }

    /** Mini-batches whose examples all come from two classes drawn at random, half from each, shuffled. */
    static final class TwoClassBatches {
        private final MnistData data;
        private final int batch;
        private final Random random;
        private final int[][] byClass = new int[10][];

        TwoClassBatches(MnistData data, int batch, long seed) {
            this.data = data;
            this.batch = batch;
            this.random = new Random(seed);
            int[] counts = new int[10];
            for (byte label : data.labels()) {
                counts[label]++;
            }
            for (int c = 0; c < 10; c++) {
                byClass[c] = new int[counts[c]];
                counts[c] = 0;
            }
            for (int i = 0; i < data.count(); i++) {
                int c = data.labels()[i];
                byClass[c][counts[c]++] = i;
            }
        }

        DataSet next() {
            int a = random.nextInt(10);
            int b = (a + 1 + random.nextInt(9)) % 10;
            int[] indices = new int[batch];
            for (int i = 0; i < batch; i++) {
                int[] pool = byClass[i < batch / 2 ? a : b];
                indices[i] = pool[random.nextInt(pool.length)];
            }
            for (int i = batch - 1; i > 0; i--) {               // shuffled: ghost batches see both classes too
                int j = random.nextInt(i + 1);
                int t = indices[i];
                indices[i] = indices[j];
                indices[j] = t;
            }
            return MnistIterator.examples(data, indices);
        }

        List<DataSet> take(int n) {
            List<DataSet> batches = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                batches.add(next());
            }
            return batches;
        }
    }

    private void write(List<Result> results, int seen) throws IOException {
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("small-batch.csv")))) {
            w.println("setting,normalization,batch,steps,test_accuracy,training_mode_accuracy,inference_mode_accuracy,gap,seconds");
            for (Result r : results) {
                w.printf(Locale.ROOT, "%s,%s,%d,%d,%.4f,%.4f,%.4f,%.4f,%.1f%n", r.setting(), r.norm(), r.batch(), r.steps(),
                        r.testAccuracy(), r.trainingMode(), r.inferenceMode(), r.gap(), r.seconds());
            }
        }
        chart(out.resolve("small-batch.png"), results, seen);
        Files.writeString(out.resolve("report.md"), report(results, seen));
    }

    /**
     * Test accuracy by mini-batch size, one line per normalization, on a logarithmic axis with a marker per run
     * (ghost batches run at batch 60 alone), and the two-class setting's runs (batch 60) as diamonds in the same
     * colours.
     */
    static void chart(Path file, List<Result> results, int seen) throws IOException {
        java.awt.Color[] colors = {new java.awt.Color(0x1f77b4), new java.awt.Color(0xff7f0e), new java.awt.Color(0x2ca02c),
                new java.awt.Color(0xd62728)};
        List<Charts.Points> series = new ArrayList<>();
        for (String setting : new String[]{"i.i.d.", "2 classes per batch"}) {
            for (Variant norm : COMPARED) {
                List<Result> of = results.stream().filter(r -> r.norm() == norm && r.setting().equals(setting)).toList();
                if (!of.isEmpty()) {
                    boolean iid = setting.equals("i.i.d.");
                    series.add(new Charts.Points(norm.shortLabel() + (iid ? "" : ", 2 classes per batch"),
                            of.stream().mapToDouble(r -> r.batch()).toArray(), of.stream().mapToDouble(Result::testAccuracy).toArray(),
                            colors[COMPARED.indexOf(norm)], iid));
                }
            }
        }
        Charts.saveBySize(file, "Test accuracy (inference mode) by mini-batch size, " + String.format(Locale.ROOT, "%,d", seen)
                + " examples seen", "mini-batch size (log scale)", "test accuracy", series);
    }

    String report(List<Result> results, int seen) {
        StringBuilder md = new StringBuilder("# small-batch report\n\n");
        md.append(String.format(Locale.ROOT, "The paper's MNIST network (784-100-100-100-10, sigmoid, weights N(0, %s)), plain SGD at "
                        + "learning rate %s x batch/60, %,d training examples seen per run, seed %d. BatchNorm variants use decay %s for "
                        + "their running statistics. Batch Renorm: rMax 1 -> 3 and dMax 0 -> 5, held for the first 5%% of the steps "
                        + "and relaxed linearly over the next 50%%, r and d from the running statistics. Ghost batches: statistics per "
                        + "%d examples, running statistics moved once per mini-batch by the slices' average. Test accuracy on the "
                        + "10,000 test images in inference mode. Gap: accuracy in training mode (batch statistics, test images in "
                        + "mini-batches drawn as in training) minus accuracy in inference mode on the same images. %s%n%n",
                initStd, baseLr, seen, seed, DECAY, ghost, Training.machine()));
        md.append("| setting | batch | normalization | steps | test accuracy | training mode | inference mode | gap | seconds |\n");
        md.append("|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
        for (Result r : results) {
            md.append(String.format(Locale.ROOT, "| %s | %d | %s | %,d | %.4f | %.4f | %.4f | %+.4f | %.0f |%n", r.setting(),
                    r.batch(), r.norm().shortLabel(), r.steps(), r.testAccuracy(), r.trainingMode(), r.inferenceMode(), r.gap(), r.seconds()));
        }
        md.append("\n![test accuracy by batch size](small-batch.png)\n\n");
        md.append("## The Batch Renormalization paper's claims, checked\n\n");
        md.append("Ioffe (2017) reports that BatchNorm's accuracy drops with tiny mini-batches (4 examples) and with non-i.i.d. "
                + "mini-batches, because training normalizes with the mini-batch's statistics and inference with the population's, "
                + "and that Batch Renormalization recovers most of the loss in both.\n\n");
        md.append(verdicts(results));
        return md.toString();
    }

    /** States what the numbers show, whichever way they go. */
    static String verdicts(List<Result> results) {
        StringBuilder s = new StringBuilder();
        Result bnReference = find(results, "i.i.d.", Variant.BATCHNORM, 60);
        for (Result bn : results) {
            if (bn.norm() != Variant.BATCHNORM || !bn.setting().equals("i.i.d.") || bn.batch() == 60 || bnReference == null) {
                continue;
            }
            Result rn = find(results, "i.i.d.", Variant.RENORM, bn.batch());
            double loss = bnReference.testAccuracy() - bn.testAccuracy();
            s.append(String.format(Locale.ROOT, "- Batch %d: BatchNorm %.4f against %.4f at batch 60 (%s %.4f); Batch Renorm %.4f",
                    bn.batch(), bn.testAccuracy(), bnReference.testAccuracy(), loss > 0 ? "a loss of" : "a gain of", Math.abs(loss),
                    rn == null ? Double.NaN : rn.testAccuracy()));
            if (rn != null && loss > 0.01) {                  // below a point of accuracy, one seed cannot tell
                double recovered = (rn.testAccuracy() - bn.testAccuracy()) / loss;
                s.append(String.format(Locale.ROOT, ", which recovers %.0f%% of that loss: %s.%n", 100 * recovered,
                        recovered >= 1 ? "Batch Renorm closes the whole gap, the claim holds" : recovered >= 0.5 ? "the claim holds"
                                : recovered > 0 ? "it helps, less than claimed" : "the claim does not hold here"));
            } else {
                s.append(": BatchNorm loses less than a point here, within what one seed can tell, so the claim is not tested by it.\n");
            }
            s.append(String.format(Locale.ROOT, "  Training/inference gap: BatchNorm %+.4f, Batch Renorm %+.4f.%n", bn.gap(),
                    rn == null ? Double.NaN : rn.gap()));
        }
        Result bn2 = find(results, "2 classes per batch", Variant.BATCHNORM, 60);
        Result rn2 = find(results, "2 classes per batch", Variant.RENORM, 60);
        Result gh2 = find(results, "2 classes per batch", Variant.GHOST, 60);
        Result none2 = find(results, "2 classes per batch", Variant.NONE, 60);
        if (bn2 != null && rn2 != null) {
            s.append(String.format(Locale.ROOT, "- Two classes per mini-batch: test accuracy %.4f with BatchNorm, %.4f with Batch Renorm, "
                            + "%.4f with ghost batches, %.4f without normalization; training/inference gap %+.4f, %+.4f, %+.4f. %s%n",
                    bn2.testAccuracy(), rn2.testAccuracy(), gh2 == null ? Double.NaN : gh2.testAccuracy(),
                    none2 == null ? Double.NaN : none2.testAccuracy(), bn2.gap(), rn2.gap(), gh2 == null ? Double.NaN : gh2.gap(),
                    rn2.testAccuracy() > bn2.testAccuracy() + 0.002
                            ? "Batch Renorm does better than BatchNorm on non-i.i.d. batches, as claimed."
                            : "Batch Renorm does not beat BatchNorm here: the claim does not hold on this run."));
        }
        s.append("- Ghost batches are the opposite tool: they make the statistics noisier (smaller slices) to regularize large "
                + "mini-batches, and cannot help when every slice is as unrepresentative as the mini-batch.\n");
        return s.toString();
    }

    private static Result find(List<Result> results, String setting, Variant norm, int batch) {
        return results.stream().filter(r -> r.setting().equals(setting) && r.norm() == norm && r.batch() == batch)
                .findFirst().orElse(null);
    }
}
