package io.github.dl4jbn;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A training listener that watches internal covariate shift, as in Figure 1(b, c) of the paper: every N
 * iterations it feeds a fixed probe batch through the network in inference mode and records, for each chosen
 * layer, the 15th, 50th and 85th percentiles, mean and standard deviation of that layer's input (one unit of it,
 * or all its values). Results are {@link #records()} and a CSV; drawing them is the application's business (the
 * examples draw Figure 1(b, c) from the records with XChart).
 *
 * <pre>{@code
 * CovariateShiftMonitor monitor = new CovariateShiftMonitor.Builder().probe(testFeatures).every(100)
 *         .layers("sigmoid3").unit(0).build();
 * net.setListeners(monitor);
 * net.fit(trainIterator);
 * monitor.writeCsv(Path.of("shift.csv"));
 * }</pre>
 */
public class CovariateShiftMonitor extends BaseTrainingListener {

    /** One measurement of one layer's input. */
    public record Record(int iteration, String layer, double p15, double p50, double p85, double mean, double std) {
    }

    private final INDArray probe;
    private final int every;
    private final List<String> layers;
    private final int unit;
    private final List<Record> records = Collections.synchronizedList(new ArrayList<>());

    private CovariateShiftMonitor(Builder b) {
        if (b.probe == null || b.layers.isEmpty()) {
            throw new IllegalArgumentException("CovariateShiftMonitor: set a probe batch and at least one layer");
        }
        this.probe = b.probe;
        this.every = b.every;
        this.layers = List.copyOf(b.layers);
        this.unit = b.unit;
    }

    /** Records the chosen layers' inputs every N iterations (and at iteration 0 of the first call). */
    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        if (iteration % every == 0) {
            record(model, iteration);
        }
    }

    /**
     * Measures now, outside training (for example before the first step).
     *
     * @param model     a MultiLayerNetwork or ComputationGraph
     * @param iteration the iteration to file the measurement under
     */
    public void record(Model model, int iteration) {
        for (String layer : layers) {
            double[] values = values(layerInput(model, layer));
            Arrays.sort(values);
            double mean = Arrays.stream(values).average().orElse(Double.NaN);
            double var = Arrays.stream(values).map(v -> (v - mean) * (v - mean)).sum() / values.length;
            records.add(new Record(iteration, layer, percentile(values, 15), percentile(values, 50),
                    percentile(values, 85), mean, Math.sqrt(var)));
        }
    }

    private double[] values(INDArray input) {
        INDArray selected = unit >= 0 ? input.reshape(input.size(0), -1).getColumn(unit) : input;
        return selected.dup('c').castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).reshape(selected.length()).toDoubleVector();
    }

    /** The input of a layer over the probe, inference mode: the output of whatever feeds it. */
    private INDArray layerInput(Model model, String layer) {
        if (model instanceof MultiLayerNetwork) {
            MultiLayerNetwork net = (MultiLayerNetwork) model;
            int index = indexOf(net, layer);
            if (index == 0) {
                return probe;
            }
            // forward up to the layer before: the last activation is not overwritten by an in-place layer
            List<INDArray> acts = net.feedForwardToLayer(index - 1, probe, false);
            return acts.get(acts.size() - 1).dup();
        }
        if (model instanceof ComputationGraph) {
            ComputationGraph graph = (ComputationGraph) model;
            List<String> inputs = graph.getConfiguration().getVertexInputs().get(layer);
            if (inputs == null || inputs.size() != 1) {
                throw new IllegalArgumentException("CovariateShiftMonitor: graph vertex \"" + layer + "\" must have exactly one input");
            }
            if (graph.getConfiguration().getNetworkInputs().contains(inputs.get(0))) {
                return probe;
            }
            // forward up to the vertex that feeds it, so no in-place layer has overwritten that activation
            int feeding = graph.getVertex(inputs.get(0)).getVertexIndex();
            Map<String, INDArray> acts = graph.feedForward(new INDArray[]{probe}, feeding, false, false);
            return acts.get(inputs.get(0)).dup();
        }
        throw new IllegalArgumentException("CovariateShiftMonitor: unsupported model " + model.getClass().getName());
    }

    private static int indexOf(MultiLayerNetwork net, String layer) {
        for (int i = 0; i < net.getnLayers(); i++) {
            if (layer.equals(net.getLayer(i).conf().getLayer().getLayerName()) || layer.equals(String.valueOf(i))) {
                return i;
            }
        }
        throw new IllegalArgumentException("CovariateShiftMonitor: no layer named \"" + layer + "\"");
    }

    /** Linear interpolation between closest ranks of sorted values. */
    static double percentile(double[] sorted, double p) {
        double rank = p / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(rank);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo]);
    }

    /** @return every measurement so far, in order */
    public List<Record> records() {
        synchronized (records) {
            return List.copyOf(records);
        }
    }

    /**
     * Writes every measurement as CSV: iteration, layer, p15, p50, p85, mean, std.
     *
     * @param file the CSV file
     * @throws IOException when the file cannot be written
     */
    public void writeCsv(Path file) throws IOException {
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file))) {
            w.println("iteration,layer,p15,p50,p85,mean,std");
            for (Record r : records()) {
                w.printf(Locale.ROOT, "%d,%s,%.6g,%.6g,%.6g,%.6g,%.6g%n", r.iteration(), r.layer(), r.p15(), r.p50(),
                        r.p85(), r.mean(), r.std());
            }
        }
    }

    /** Builds a {@link CovariateShiftMonitor}. */
    public static class Builder {
        private INDArray probe;
        private int every = 100;
        private final List<String> layers = new ArrayList<>();
        private int unit = -1;

        /**
         * @param probe a fixed batch of inputs, fed in inference mode at every measurement
         * @return this builder
         */
        public Builder probe(INDArray probe) {
            this.probe = probe;
            return this;
        }

        /**
         * @param iterations measure every this many iterations. Default 100.
         * @return this builder
         */
        public Builder every(int iterations) {
            if (iterations < 1) {
                throw new IllegalArgumentException("CovariateShiftMonitor: every must be >= 1, got " + iterations);
            }
            this.every = iterations;
            return this;
        }

        /**
         * @param names the layers whose input to watch: layer names, or indices of a MultiLayerNetwork
         * @return this builder
         */
        public Builder layers(String... names) {
            layers.addAll(Arrays.asList(names));
            return this;
        }

        /**
         * @param unit the feature (column of the flattened input) to follow, as the paper follows one sigmoid;
         *             -1 (default) takes every value of the input
         * @return this builder
         */
        public Builder unit(int unit) {
            this.unit = unit;
            return this;
        }

        /** @return the monitor */
        public CovariateShiftMonitor build() {
            return new CovariateShiftMonitor(this);
        }
    }
}
