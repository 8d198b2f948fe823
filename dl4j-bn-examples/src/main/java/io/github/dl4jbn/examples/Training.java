package io.github.dl4jbn.examples;

import io.github.dl4jbn.PopulationStatistics;
import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistIterator;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/** Shared by the experiments: SGD steps with periodic accuracy measurements, and their CSV, charts and tables. */
final class Training {

    private Training() {
    }

    /** Accuracies measured after {@code step} steps, one per evaluation set. */
    record Point(int step, Map<String, Double> accuracy) {
    }

    /** One trained curve. */
    record Curve(String name, List<Point> points) {
        /** First measured step at which the accuracy on {@code set} reached {@code threshold}, or -1. */
        int stepsTo(String set, double threshold) {
            return firstStepReaching(points.stream().mapToInt(Point::step).toArray(),
                    points.stream().mapToDouble(p -> p.accuracy().get(set)).toArray(), threshold);
        }

        double last(String set) {
            return points.get(points.size() - 1).accuracy().get(set);
        }
    }

    /**
     * What a run measures after its every-th step and its last.
     */
    interface Measure {
        /**
         * @param step the steps done
         * @return a note for the progress bar, or null
         */
        String after(int step);
    }

    /** @return the first of {@code steps} whose accuracy reached {@code threshold}, or -1 */
    static int firstStepReaching(int[] steps, double[] accuracy, double threshold) {
        for (int i = 0; i < steps.length; i++) {
            if (accuracy[i] >= threshold) {
                return steps[i];
            }
        }
        return -1;
    }

    /** How many of the predictions (rows of {@code output}) pick the labelled class. */
    static long correct(INDArray output, INDArray labels) {
        return output.argMax(1).eq(labels.argMax(1)).castTo(DataType.FLOAT).sumNumber().longValue();
    }

    /** Classification accuracy of a network on a labelled set, inference mode. */
    static double accuracy(MultiLayerNetwork net, DataSet set) {
        return correct(net.output(set.getFeatures()), set.getLabels()) / (double) set.numExamples();
    }

    /** Classification accuracy of a network over a labelled iterator's batches, inference mode. */
    static double accuracy(MultiLayerNetwork net, DataSetIterator batches) {
        long right = 0;
        long all = 0;
        batches.reset();
        while (batches.hasNext()) {
            DataSet d = batches.next();
            right += correct(net.output(d.getFeatures()), d.getLabels());
            all += d.numExamples();
        }
        return right / (double) all;
    }

    /** Endless mini-batches from an iterator, started again after each epoch's last batch. */
    static Supplier<DataSet> cycling(DataSetIterator it) {
        return () -> {
            if (!it.hasNext()) {
                it.reset();
            }
            return it.next();
        };
    }

    /**
     * The experiments' one training loop: {@code steps} calls of {@code fit} on the next mini-batches, with a
     * progress bar, and {@code measure} after every {@code every}-th step and the last.
     *
     * @return the seconds spent in {@code fit}, measurements left out
     */
    static double loop(String task, MultiLayerNetwork net, Supplier<DataSet> batches, int steps, int every,
                       Measure measure) {
        long fitNanos = 0;
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(steps)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).showSpeed().build()) {
            for (int step = 1; step <= steps; step++) {
                DataSet batch = batches.get();
                long t0 = System.nanoTime();
                net.fit(batch);
                fitNanos += System.nanoTime() - t0;
                if (step % every == 0 || step == steps) {
                    String note = measure.after(step);
                    if (note != null) {
                        bar.setExtraMessage(note);
                    }
                }
                bar.step();
            }
        }
        return fitNanos / 1e9;
    }

    /**
     * Trains for {@code steps} mini-batches, measuring accuracy on each evaluation set every {@code every} steps
     * (and at step 0).
     */
    static Curve train(String name, MultiLayerNetwork net, MnistData train, int batch, long seed, int steps, int every,
                       Map<String, DataSet> evaluation) {
        List<Point> points = new ArrayList<>();
        points.add(measure(net, 0, evaluation));
        loop(String.format("%-16s", name), net, cycling(new MnistIterator(train, batch, seed, true)), steps, every, step -> {
            points.add(measure(net, step, evaluation));
            return null;
        });
        return new Curve(name, points);
    }

    private static Point measure(MultiLayerNetwork net, int step, Map<String, DataSet> evaluation) {
        Map<String, Double> acc = new LinkedHashMap<>();
        evaluation.forEach((set, data) -> acc.put(set, accuracy(net, data)));
        return new Point(step, acc);
    }

    /** Writes curve,step,set,accuracy rows. */
    static void writeCsv(Path file, List<Curve> curves) throws IOException {
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file))) {
            w.println("run,step,set,accuracy");
            for (Curve c : curves) {
                for (Point p : c.points()) {
                    p.accuracy().forEach((set, a) -> w.printf(Locale.ROOT, "%s,%d,%s,%.4f%n", c.name(), p.step(), set, a));
                }
            }
        }
    }

    /** One chart with a line per curve and evaluation set (step 0 left out so the y range stays readable). */
    static void chart(Path file, String title, List<Curve> curves, List<String> sets, double yMin) throws IOException {
        List<Charts.Line> lines = new ArrayList<>();
        for (Curve c : curves) {
            List<Point> pts = c.points().subList(1, c.points().size());
            for (String set : sets) {
                lines.add(new Charts.Line(sets.size() > 1 ? c.name() + " (" + set + ")" : c.name(),
                        pts.stream().mapToDouble(Point::step).toArray(),
                        pts.stream().mapToDouble(p -> p.accuracy().get(set)).toArray()));
            }
        }
        Charts.save(file, title, "training steps", "accuracy", lines, yMin, 1.0);
    }

    static String reached(int step) {
        return step < 0 ? "not reached" : String.format(Locale.ROOT, "%,d", step);
    }

    static String machine() {
        return String.format(Locale.ROOT, "Machine: %d cores, %s %s, Java %s.", Runtime.getRuntime().availableProcessors(),
                System.getProperty("os.name"), System.getProperty("os.arch"), System.getProperty("java.version"));
    }

    /** Algorithm 2's population pass drawn as one progress bar per BatchNorm layer, on the console. */
    static PopulationStatistics.Progress populationProgress() {
        return new PopulationStatistics.Progress() {
            private ProgressBar bar;

            @Override
            public void layerStarted(int layer, int layers) {
                bar = new ProgressBarBuilder().setTaskName("Algorithm 2, BatchNorm " + layer + "/" + layers)
                        .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).build();
            }

            @Override
            public void batchDone(int layer, long batches) {
                bar.stepTo(batches);
            }

            @Override
            public void layerFinished(int layer, long batches) {
                bar.close();
            }
        };
    }
}
