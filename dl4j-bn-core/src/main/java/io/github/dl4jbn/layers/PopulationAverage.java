package io.github.dl4jbn.layers;

import io.github.dl4jbn.internal.kernels.ChannelMath;

import java.io.Serializable;

/**
 * Algorithm 2, lines 9-10, accumulated over the inference forwards of one pass: the plain average of the batch
 * means, {@code E_B[mu_B]}, and of the unbiased batch variances, {@code E_B[m/(m-1) var_B]}. Serializable and
 * mergeable, so that partial averages collected on different machines (one per Spark partition, say) combine
 * into the average over all their batches.
 */
public final class PopulationAverage implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Per channel, the sum of the batch means taken so far. */
    private double[] meanSum;
    /** Per channel, the sum of the unbiased batch variances taken so far. */
    private double[] varianceSum;
    /** Batches averaged so far. */
    private long batches;

    /** An empty average: no batches yet. */
    public PopulationAverage() {
    }

    /** @return the number of batches seen */
    public long batches() {
        return batches;
    }

    /**
     * @return {@code E_B[mu_B]}, per channel
     * @throws IllegalStateException if no batch was averaged
     */
    public double[] mean() {
        return divide(meanSum);
    }

    /**
     * @return {@code E_B[m/(m-1) var_B]}, per channel, each batch with its own m
     * @throws IllegalStateException if no batch was averaged
     */
    public double[] variance() {
        return divide(varianceSum);
    }

    /**
     * Adds another partial average's batches to this one: afterwards this is the average over both sets.
     *
     * @param other batches collected elsewhere for the same layer
     * @return this
     * @throws IllegalArgumentException if the channel counts differ
     */
    public PopulationAverage merge(PopulationAverage other) {
        if (other.batches == 0) {
            return this;
        }
        if (meanSum == null) {
            meanSum = new double[other.meanSum.length];
            varianceSum = new double[other.meanSum.length];
        }
        if (other.meanSum.length != meanSum.length) {
            throw new IllegalArgumentException("PopulationAverage: cannot merge " + other.meanSum.length
                    + " channels into " + meanSum.length);
        }
        for (int c = 0; c < meanSum.length; c++) {
            meanSum[c] += other.meanSum[c];
            varianceSum[c] += other.varianceSum[c];
        }
        batches += other.batches;
        return this;
    }

    private double[] divide(double[] sums) {
        if (batches == 0) {
            throw new IllegalStateException("PopulationAverage: no batch was averaged, so there is no population mean"
                    + " or variance; pass at least one batch through the layer in inference mode while collecting");
        }
        double[] out = sums.clone();
        for (int c = 0; c < out.length; c++) {
            out[c] /= batches;
        }
        return out;
    }

    /**
     * Adds one batch's statistics.
     *
     * @param mean           the batch mean mu_B, per channel
     * @param biasedVariance the batch's biased variance var_B, per channel
     * @param m              the values per channel the batch held (the m of Bessel's correction)
     */
    void add(double[] mean, double[] biasedVariance, long m) {
        if (meanSum == null) {
            meanSum = new double[mean.length];
            varianceSum = new double[mean.length];
        }
        double unbiased = ChannelMath.unbiasedFactor(m);
        for (int c = 0; c < mean.length; c++) {
            meanSum[c] += mean[c];
            varianceSum[c] += biasedVariance[c] * unbiased;
        }
        batches++;
    }
}
