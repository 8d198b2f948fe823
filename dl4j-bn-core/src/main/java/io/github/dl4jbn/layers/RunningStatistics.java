package io.github.dl4jbn.layers;

import io.github.dl4jbn.conf.NonFinitePolicy;
import io.github.dl4jbn.conf.VarianceEstimate;
import io.github.dl4jbn.internal.kernels.ChannelMath;
import io.github.dl4jbn.internal.kernels.ChannelView;

import java.util.Arrays;

/**
 * A layer's running statistics, the population mean and variance inference uses: their update after a training
 * forward (Algorithm 2, line 10, or DL4J's moving average), and Algorithm 2's population average collected over
 * inference forwards. Works on per-channel arrays the caller reads from and writes back to the parameters. Not
 * thread-safe, like the layer that owns it.
 */
final class RunningStatistics {

    private final LayerKernels kernels;
    private final StatisticsGuard guard;
    private final boolean floatRange;
    private double[] batchMean = new double[0];
    private double[] batchVariance = new double[0];
    /** Set while Algorithm 2's population pass is collecting, otherwise null. */
    private PopulationAverage populationAverage;
    /** Batches the population pass has seen, skipped ones included. */
    private long populationBatches;

    RunningStatistics(LayerKernels kernels, StatisticsGuard guard, boolean floatRange) {
        this.kernels = kernels;
        this.guard = guard;
        this.floatRange = floatRange;
    }

    /**
     * One step of the running statistics from a training forward's slices: the batch values are the slices'
     * averages ({@code mu_B}, and {@code m/(m-1) var_B} or {@code var_B}, each with its slice's own m), weighted by
     * their examples (equal weights for equal slices; a short last ghost batch counts for what it holds), and
     * channels a slice skipped keep their
     * old values, then {@code running = w * running + (1 - w) * batch} with the moving average's or the
     * cumulative average's weight (Algorithm 2, line 10).
     *
     * @param slices     the forward's slices
     * @param estimate   unbiased or biased batch variances
     * @param decay      the moving average's weight of the old value
     * @param mean       in and out: the running mean
     * @param variance   in and out: the running variance
     * @param batchCount in and out: the batches averaged so far (cumulative average), or null (moving average)
     */
    void update(SlicedBatchNorm.Slice[] slices, VarianceEstimate estimate, double decay, double[] mean,
                double[] variance, double[] batchCount) {
        int channels = mean.length;
        if (batchMean.length != channels) {
            batchMean = new double[channels];
            batchVariance = new double[channels];
        }
        Arrays.fill(batchMean, 0.0);
        Arrays.fill(batchVariance, 0.0);
        long examples = 0;
        for (SlicedBatchNorm.Slice sl : slices) {
            examples += sl.examples;
        }
        for (SlicedBatchNorm.Slice sl : slices) {
            double factor = estimate == VarianceEstimate.UNBIASED ? ChannelMath.unbiasedFactor(sl.m) : 1.0;
            double share = (double) sl.examples / examples;                 // 1 exactly for one slice
            for (int c = 0; c < channels; c++) {
                batchMean[c] += share * sl.mean[c];
                batchVariance[c] += share * factor * sl.variance[c];                  // m/(m-1) var_B, or var_B
            }
        }
        for (SlicedBatchNorm.Slice sl : slices) {
            for (int c = 0; sl.skip != null && c < channels; c++) {
                if (sl.skip[c]) {                                // skipped channels: their batch value is the old one
                    batchMean[c] = mean[c];
                    batchVariance[c] = variance[c];
                }
            }
        }
        double weight = ChannelMath.runningWeight(decay, batchCount != null, batchCount == null ? 0 : batchCount[0]);
        ChannelMath.runningAverage(mean, batchMean, weight);
        ChannelMath.runningAverage(variance, batchVariance, weight);
        if (batchCount != null) {
            batchCount[0] += 1.0;
        }
    }

    /**
     * The running statistics of a new layer: mean 0, variance 1, batch count 0.
     *
     * @param mean       out
     * @param variance   out
     * @param batchCount out, or null
     */
    static void reset(double[] mean, double[] variance, double[] batchCount) {
        Arrays.fill(mean, 0.0);
        Arrays.fill(variance, 1.0);
        if (batchCount != null) {
            batchCount[0] = 0.0;
        }
    }

    /** Starts collecting Algorithm 2's population average; see {@link #collect}. */
    void startPopulationAverage() {
        populationAverage = new PopulationAverage();
        populationBatches = 0;
    }

    /** @return whether a population average is being collected */
    boolean collecting() {
        return populationAverage != null;
    }

    /**
     * Adds an input's batch mean and unbiased variance to the population average being collected. A batch with
     * non-finite statistics is an error naming it, or (SKIP) is left out of the average.
     */
    void collect(KernelInput in, ChannelView view, NonFinitePolicy policy, String layerId) {
        double[] mean = new double[view.channels()];
        double[] variance = new double[view.channels()];
        long m = kernels.batchStatistics(in, view, mean, variance);
        long batch = ++populationBatches;
        boolean[] skip = guard.check(mean, variance, floatRange, policy, () -> kernels.countNonFinite(in, view),
                layerId, "the population pass, batch " + batch);
        if (skip == null) {
            populationAverage.add(mean, variance, m);
        }
    }

    /** Stops collecting. @return what was collected, or null if nothing was being collected */
    PopulationAverage finishPopulationAverage() {
        PopulationAverage collected = populationAverage;
        populationAverage = null;
        return collected;
    }
}
