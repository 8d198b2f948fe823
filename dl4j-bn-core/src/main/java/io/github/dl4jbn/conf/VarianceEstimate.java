package io.github.dl4jbn.conf;

/**
 * Which estimate of the population variance the running statistics accumulate from each training batch.
 */
public enum VarianceEstimate {
    /**
     * The batch variance times {@code m/(m-1)}, m = values per channel in the batch: the unbiased estimate of
     * Algorithm 2, line 10, and PyTorch's convention. The default.
     */
    UNBIASED,
    /**
     * The biased batch variance itself (divides by m), exactly as DL4J's built-in BatchNormalization stores it.
     */
    BIASED
}
