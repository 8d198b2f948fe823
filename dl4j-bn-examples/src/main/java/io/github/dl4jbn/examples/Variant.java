package io.github.dl4jbn.examples;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.Layer;

/** The normalization placed before each nonlinearity in the experiments. */
public enum Variant {
    /** No normalization; the layers keep their biases. */
    NONE("no normalization"),
    /** This project's BatchNorm, defaults (moving average, unbiased population variance). */
    BATCHNORM("dl4j-bn BatchNorm"),
    /** DL4J's built-in BatchNormalization, defaults. */
    BUILTIN("DL4J built-in BatchNormalization");

    private final String label;

    Variant(String label) {
        this.label = label;
    }

    /** @return a human-readable name for charts and reports */
    public String label() {
        return label;
    }

    /** @return the normalization layer of this variant, or null for {@link #NONE} */
    public Layer normalization() {
        switch (this) {
            case BATCHNORM:
                return new BatchNorm.Builder().build();
            case BUILTIN:
                return new BatchNormalization.Builder().build();
            default:
                return null;
        }
    }
}
