package io.github.dl4jbn.examples;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.Renorm;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.Layer;

/** The normalization placed before each nonlinearity in the experiments. */
public enum Variant {
    /** No normalization; the layers keep their biases. */
    NONE("no normalization", "no normalization"),
    /** This project's BatchNorm, defaults (moving average, unbiased population variance). */
    BATCHNORM("dl4j-bn BatchNorm", "BatchNorm"),
    /** DL4J's built-in BatchNormalization, defaults. */
    BUILTIN("DL4J built-in BatchNormalization", "built-in BatchNormalization"),
    /** This project's BatchNorm with Batch Renormalization (small-batch only: its schedule needs the run's length). */
    RENORM("dl4j-bn Batch Renormalization", "Batch Renorm"),
    /** This project's BatchNorm with ghost batches (small-batch only: it needs their size). */
    GHOST("dl4j-bn BatchNorm, ghost batches", "BatchNorm, ghost batches");

    private final String label;
    private final String shortLabel;

    Variant(String label, String shortLabel) {
        this.label = label;
        this.shortLabel = shortLabel;
    }

    /** @return a human-readable name for charts and reports */
    public String label() {
        return label;
    }

    /** @return the name where every variant is one of this project's or none (small-batch's report and chart) */
    public String shortLabel() {
        return shortLabel;
    }

    /**
     * @return whether {@link #normalization()} builds this variant with defaults alone (RENORM and GHOST need
     *         {@link #normalization(double, int, int)})
     */
    public boolean hasDefaults() {
        return this != RENORM && this != GHOST;
    }

    /**
     * @return the normalization layer of this variant with every default, or null for {@link #NONE}
     * @throws IllegalStateException for RENORM and GHOST, which need a run's settings
     */
    public Layer normalization() {
        if (!hasDefaults()) {
            throw new IllegalStateException(this + " needs a run's settings: normalization(decay, steps, ghost)");
        }
        return this == BUILTIN ? new BatchNormalization.Builder().build() : normalization(0.9, 0, 0);
    }

    /**
     * The normalization layer of this variant for one run; this project's variants with the given decay.
     *
     * @param decay the running statistics' decay
     * @param steps the run's training steps: Batch Renormalization holds for the first 5% and ramps over the
     *              next 45% (the paper's bounds rMax 3, dMax 5, its shape of warm-up)
     * @param ghost examples per ghost batch
     * @return the layer, or null for {@link #NONE}
     */
    public Layer normalization(double decay, int steps, int ghost) {
        return switch (this) {
            case NONE -> null;
            case BATCHNORM -> new BatchNorm.Builder().decay(decay).build();
            case BUILTIN -> new BatchNormalization.Builder().decay(decay).build();
            case RENORM -> new BatchNorm.Builder().decay(decay).renorm(Renorm.warmUp(3, 5, steps / 20, steps / 2)).build();
            case GHOST -> new BatchNorm.Builder().decay(decay).virtualBatchSize(ghost).build();
        };
    }
}
