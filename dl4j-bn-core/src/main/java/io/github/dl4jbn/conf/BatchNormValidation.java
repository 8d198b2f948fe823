package io.github.dl4jbn.conf;

import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.deeplearning4j.nn.conf.constraint.BaseConstraint;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Every rule a {@link BatchNorm} configuration must satisfy, in one place, whichever path set its options (the
 * builder, the setters, JSON or YAML): {@link BatchNorm#validate} applies it when the builder builds, when DL4J
 * instantiates the layer, and before each of the layer's forward passes. A new option with a range adds one
 * rule here.
 */
final class BatchNormValidation {

    private BatchNormValidation() {
    }

    /**
     * @param conf the configuration
     * @return the first invalid option, described with the expected and the actual value; null if all are valid
     */
    static String problem(BatchNorm conf) {
        double eps = conf.getEps();
        if (!(eps >= 0 && Double.isFinite(eps))) {
            return "eps must be finite and >= 0, got " + eps;
        }
        double decay = conf.getDecay();
        if (!(decay >= 0 && decay < 1)) {
            return "decay must be in [0, 1) (running = decay * running + (1 - decay) * batch), got " + decay;
        }
        if (!Double.isFinite(conf.getGamma()) || !Double.isFinite(conf.getBeta())) {
            return "gamma and beta must be finite, got gamma " + conf.getGamma() + ", beta " + conf.getBeta();
        }
        if (conf.getVarianceEstimate() == null || conf.getCnn2dFormat() == null || conf.getRnnFormat() == null
                || conf.getCnn3dFormat() == null || conf.getNonFiniteBatches() == null) {
            return "varianceEstimate, the data formats and nonFiniteBatches must be set, got varianceEstimate "
                    + conf.getVarianceEstimate() + ", formats " + conf.getCnn2dFormat() + "/" + conf.getRnnFormat() + "/"
                    + conf.getCnn3dFormat() + ", nonFiniteBatches " + conf.getNonFiniteBatches();
        }
        Renorm renorm = conf.getRenorm();
        if (renorm != null && renorm.problem() != null) {
            return renorm.problem();
        }
        if (renorm != null && conf.isCumulativeAverage()) {
            return "renorm needs the moving average of the running statistics, got cumulativeAverage: r and d"
                    + " compare each batch with the running statistics, and an all-time average lags ever further"
                    + " behind drifting activations (d then sits at dMax); use decay(...) with renorm";
        }
        if (conf.isFreezeStatistics() && renorm != null) {
            return "freezeStatistics normalizes with the running statistics, got renorm " + renorm + " too, whose r and"
                    + " d correct batch statistics toward them: with frozen statistics there are none to correct; drop one";
        }
        if (!conf.isTrackRunningStatistics()) {
            String needs = conf.isFreezeStatistics() ? "freezeStatistics" : renorm != null ? "renorm " + renorm
                    : conf.isCumulativeAverage() ? "cumulativeAverage" : null;
            if (needs != null) {
                return needs + " needs running statistics, got trackRunningStatistics(false): drop one";
            }
        }
        int k = conf.getVirtualBatchSize();
        if (k < 0 || k == 1) {
            return "virtualBatchSize must be 0 (off) or at least 2 examples per ghost batch, got " + k;
        }
        return constraintProblem(conf);
    }

    /** Constraints on gamma or beta must be able to act: gamma and beta learned, and along the whole vector. */
    private static String constraintProblem(BatchNorm conf) {
        List<LayerConstraint> constraints = conf.getConstraints();
        for (LayerConstraint c : constraints == null ? List.<LayerConstraint>of() : constraints) {
            Set<String> on = new HashSet<>(c.getParams());
            on.retainAll(List.of(BatchNormParamInitializer.GAMMA, BatchNormParamInitializer.BETA));
            if (on.isEmpty()) {
                continue;
            }
            Set<String> fixed = new HashSet<>(on);
            fixed.removeAll(BatchNormParamInitializer.getInstance().learnedKeys(conf));
            if (!fixed.isEmpty()) {
                return fixed + " not learned (" + (conf.isLockGammaBeta() ? "lockGammaBeta"
                        : conf.isScale() ? "center(false)" : "scale(false)")
                        + "), so the constraint " + c + " on " + on + " would never apply: drop it or learn " + fixed;
            }
            if (c instanceof BaseConstraint && ((BaseConstraint) c).getDimensions() != null) {
                for (int d : ((BaseConstraint) c).getDimensions()) {
                    if (d != 0) {
                        return "the constraint " + c + " on " + on + " acts along dimensions "
                                + Arrays.toString(((BaseConstraint) c).getDimensions()) + ", but gamma and beta are"
                                + " vectors (one value per channel): use dimension 0, the whole vector";
                    }
                }
            }
        }
        return null;
    }
}
