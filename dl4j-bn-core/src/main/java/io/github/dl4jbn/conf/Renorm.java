package io.github.dl4jbn.conf;

import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.io.Serializable;
import java.util.Objects;

/**
 * Batch Renormalization's clipping schedule (Ioffe 2017, arXiv:1702.03275, Algorithm 1). Training normalizes
 * with {@code xhat * r + d}, where {@code r = clip(sigma_B / sigma, 1/rMax, rMax)} and
 * {@code d = clip((mu_B - mu) / sigma, -dMax, dMax)} are taken as constants in the backward pass.
 *
 * <p>{@code rMax} and {@code dMax} are 1 and 0 (plain Batch Normalization) for exactly {@code holdIterations}
 * iterations (0 to hold - 1), then grow linearly over {@code rampIterations} more, reaching their final values at
 * iteration {@code hold + ramp - 1}, as in the paper's experiments (there: 5,000 steps held, then rMax to 3 and
 * dMax to 5 over tens of thousands of steps). The iteration is the one {@code fit} passes in: the network's
 * iteration count, which counts the mini-batches {@code fit} has trained on (0 for the first); nothing else
 * advances the schedule, so forward calls outside {@code fit}, {@code output} and the population pass do not.
 *
 * <p>Where sigma comes from: r and d use {@code sigma = sqrt(running variance + eps)}, the layer's running
 * variance, the one inference uses (by default the unbiased {@code m/(m-1) var_B} of Algorithm 2 of the 2015
 * paper). The 2017 paper instead keeps a moving average of {@code sigma_B = sqrt(var_B + eps)} itself, a second
 * set of statistics that its inference also uses. This layer keeps one set, so that renorm changes training only
 * and inference stays Algorithm 2. The difference shows with small batches: {@code E[sigma_B]} is below the
 * population sigma, so here r settles below 1, near {@code sqrt((m-1)/m)} (about 0.87 for slices of 4), where the
 * paper's r settles near 1; rMax bounds it from below by {@code 1/rMax} all the same. The
 * iteration is the network's own iteration count, which ModelSerializer saves, so a restored network continues
 * the schedule where it stopped. {@code TransferLearning} builds a network whose count starts at 0, so the
 * warm-up starts again there; that count also drives the network's learning-rate schedules and updaters, so it
 * is not carried over here. To continue the schedule instead, call
 * {@code fineTuned.setIterationCount(trained.getIterationCount())} on the new network.
 * {@link io.github.dl4jbn.layers.BatchNormLayer#resetRunningStatistics()} does not restart the schedule: after
 * the ramp, r and d then start at their bounds until the running statistics settle (about {@code 1/(1-decay)}
 * iterations); re-estimate them with {@code PopulationStatistics.estimate} instead where the data allow.
 *
 * <p>Immutable. JSON through DL4J's serializer (fields), like the layer that holds it.
 */
public final class Renorm implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Final rMax, at least 1. */
    @JsonProperty("rMax")
    private double rMax;
    /** Final dMax, at least 0. */
    @JsonProperty("dMax")
    private double dMax;
    /** Iterations with rMax = 1, dMax = 0 before the ramp. */
    private long holdIterations;
    /** Iterations over which rMax and dMax grow linearly to their final values; 0 jumps. */
    private long rampIterations;

    /** For JSON deserialization only. */
    private Renorm() {
        this(1, 0, 0, 0);
    }

    private Renorm(double rMax, double dMax, long holdIterations, long rampIterations) {
        this.rMax = rMax;
        this.dMax = dMax;
        this.holdIterations = holdIterations;
        this.rampIterations = rampIterations;
    }

    /**
     * Constant clipping from the first iteration. Prefer {@link #warmUp}: from the first step r and d compare each
     * batch with running statistics that are still a new layer's (mean 0, variance 1), so with inputs far from
     * that they sit at their bounds and pull every batch toward those stale values; rMax 3 and dMax 5 on inputs
     * around 10 with SGD 0.05 diverged to NaN within 5 steps, where plain Batch Normalization and the warm-up
     * train. A layer with this schedule logs that warning once.
     *
     * @param rMax bound of r, at least 1 (1: r is always 1)
     * @param dMax bound of |d|, at least 0 (0: d is always 0)
     * @return the schedule
     */
    public static Renorm constant(double rMax, double dMax) {
        return new Renorm(rMax, dMax, 0, 0);
    }

    /**
     * The paper's schedule: plain Batch Normalization for {@code holdIterations}, then rMax and dMax relaxed
     * linearly over {@code rampIterations} to their final values.
     *
     * @param rMax           final bound of r, at least 1
     * @param dMax           final bound of |d|, at least 0
     * @param holdIterations iterations with rMax = 1 and dMax = 0
     * @param rampIterations iterations of the linear ramp after those
     * @return the schedule
     */
    public static Renorm warmUp(double rMax, double dMax, long holdIterations, long rampIterations) {
        return new Renorm(rMax, dMax, holdIterations, rampIterations);
    }

    /** @return the final bound of r */
    @JsonProperty("rMax")
    public double getRMax() {
        return rMax;
    }

    /** @return the final bound of |d| */
    @JsonProperty("dMax")
    public double getDMax() {
        return dMax;
    }

    /** @return iterations held at rMax = 1, dMax = 0 */
    public long getHoldIterations() {
        return holdIterations;
    }

    /** @return iterations of the linear ramp */
    public long getRampIterations() {
        return rampIterations;
    }

    /**
     * How far the ramp has gone at an iteration: 0 for the {@code holdIterations} iterations 0 to hold - 1, then
     * {@code k / rampIterations} at iteration {@code hold + k - 1}, so the ramp's last iteration, hold + ramp - 1,
     * is the first at the final values. Held for exactly {@code holdIterations} iterations, ramp or none.
     *
     * @param iteration the network's iteration count
     * @return the fraction in [0, 1]
     */
    double progress(long iteration) {
        if (iteration < holdIterations) {
            return 0;
        }
        if (rampIterations == 0) {
            return 1;
        }
        return Math.min(1.0, (double) (iteration - holdIterations + 1) / rampIterations);
    }

    /**
     * @param iteration the network's iteration count
     * @return rMax at that iteration: 1 while held, then linearly to the final value
     */
    public double rMaxAt(long iteration) {
        return 1 + (rMax - 1) * progress(iteration);
    }

    /**
     * @param iteration the network's iteration count
     * @return dMax at that iteration: 0 while held, then linearly to the final value
     */
    public double dMaxAt(long iteration) {
        return dMax * progress(iteration);
    }

    /** The first invalid value, described, or null. */
    String problem() {
        if (!(rMax >= 1 && Double.isFinite(rMax))) {
            return "renorm rMax must be finite and >= 1, got " + rMax;
        }
        if (!(dMax >= 0 && Double.isFinite(dMax))) {
            return "renorm dMax must be finite and >= 0, got " + dMax;
        }
        if (holdIterations < 0 || rampIterations < 0) {
            return "renorm iterations must be >= 0, got hold " + holdIterations + ", ramp " + rampIterations;
        }
        return null;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Renorm r && r.rMax == rMax && r.dMax == dMax && r.holdIterations == holdIterations
                && r.rampIterations == rampIterations;
    }

    @Override
    public int hashCode() {
        return Objects.hash(rMax, dMax, holdIterations, rampIterations);
    }

    @Override
    public String toString() {
        return "Renorm(rMax=" + rMax + ", dMax=" + dMax
                + (holdIterations == 0 && rampIterations == 0 ? "" : ", hold=" + holdIterations + ", ramp=" + rampIterations) + ")";
    }
}
