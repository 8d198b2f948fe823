package io.github.dl4jbn.internal.kernels;

/**
 * The two passes every Batch Normalization step is made of, over tensors of one kind {@code T}: native memory
 * streamed from Java ({@link TensorMemory}), or arrays an array library computes on. {@link BatchNormKernels}
 * runs the steps over any of them, so the statistics' two passes, the empty-batch NaNs and the rounding of the
 * centres are written once. A mask holds one value per {@code (outer, inner)} position of the view, 0 where
 * padded.
 *
 * @param <T> how a tensor is held
 */
public interface TensorPasses<T> {

    /** @return which implementation, for logs */
    String name();

    /** @return whether the statistics take a second pass around the first pass's mean */
    boolean twoPassStatistics();

    /**
     * @param value a per-channel value
     * @return the element type's value nearest to it: a centre the passes subtract exactly
     */
    double representable(double value);

    /**
     * @param mask a mask
     * @return its valid (non-zero) positions: the m of every channel
     */
    long validPositions(T mask);

    /**
     * Each channel's value at the first valid position (the first position without a mask): a centre inside the
     * channel's range for the first statistics pass.
     *
     * @param x      the input
     * @param mask   its mask, or null
     * @param view   the layout of x
     * @param centre output, per channel
     */
    void firstValidValues(T x, T mask, ChannelView view, double[] centre);

    /**
     * Per channel over the valid positions: with {@code dy} null {@code s1 = sum(x - k)},
     * {@code s2 = sum((x - k)^2)}; else {@code s1 = sum(dy)}, {@code s2 = sum(dy * (x - k))}.
     */
    void sums(ChannelView view, T x, T dy, T mask, double[] centre, double[] s1, double[] s2);

    /**
     * Per element: {@code out = a[c] * dy + b[c] * (x - k[c]) + d[c]}, or without dy
     * {@code out = b[c] * (x - k[c]) + d[c]}; 0 at padded positions. {@code out} may be x or dy.
     */
    void affine(ChannelView view, T x, T dy, T mask, double[] a, double[] b, double[] k, double[] d, T out);
}
