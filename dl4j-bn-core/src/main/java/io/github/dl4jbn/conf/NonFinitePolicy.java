package io.github.dl4jbn.conf;

/**
 * What a training forward does when its batch statistics are not finite in some channel (a NaN or an infinity
 * in the input): left alone, one bad batch would turn those channels' running mean and variance into NaN for
 * good.
 */
public enum NonFinitePolicy {
    /**
     * The default: the forward throws {@code DL4JInvalidInputException} naming the layer, the channels and how
     * many values of the input were not finite. Nothing is written: parameters and running statistics stay as
     * they were.
     */
    FAIL,
    /**
     * The output is computed (those channels' values are not finite), the running statistics of those channels
     * are not updated, and a warning is logged, at most once a minute, with counts. This protects this layer's
     * running statistics only: inside {@code fit} the non-finite values still reach the gradient of every
     * parameter and the updater. {@link io.github.dl4jbn.NonFiniteStepGuard} skips such a step whole.
     */
    SKIP
}
