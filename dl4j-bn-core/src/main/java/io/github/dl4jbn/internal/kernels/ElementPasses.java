package io.github.dl4jbn.internal.kernels;

import java.nio.ByteBuffer;

/**
 * The two passes over memory that every Batch Normalization step is made of, for one element type: a sums pass
 * (the statistics, the gradient) and an affine pass (the output, dx). Per-channel values come and go as
 * {@code double[]}; an implementation rounds them to its own precision. {@link FloatPasses} computes in float
 * (FLOAT, HALF, BFLOAT16 elements), {@link DoublePasses} in double.
 */
interface ElementPasses {

    /** @return which implementation, for logs */
    String name();

    /** @return whether a single shifted pass is exact enough for the statistics, or two are needed (double) */
    boolean twoPassStatistics();

    /**
     * @param value a per-channel value
     * @return the element type's value nearest to it: a centre the loops subtract exactly
     */
    double representable(double value);

    /**
     * @param window a window of this type's elements
     * @param index  an element index in it
     * @return that element, widened to double
     */
    double get(ByteBuffer window, long index);

    /**
     * Per channel over the valid positions: with {@code dy} null {@code s1 = sum(x - k)},
     * {@code s2 = sum((x - k)^2)}; else {@code s1 = sum(dy)}, {@code s2 = sum(dy * (x - k))}.
     *
     * @param view   the layout of x and dy
     * @param x      the input
     * @param dy     the gradient, or null
     * @param mask   one value per (outer, inner) position, 0 where padded, or null
     * @param centre per channel, k
     * @param s1     output
     * @param s2     output
     */
    void sums(ChannelView view, TensorMemory x, TensorMemory dy, TensorMemory mask, double[] centre,
              double[] s1, double[] s2);

    /**
     * Per element: {@code out = a[c] * dy + b[c] * (x - k[c]) + d[c]}, or without dy
     * {@code out = b[c] * (x - k[c]) + d[c]}; 0 at padded positions.
     *
     * @param view the layout of x, dy and out
     * @param x    the input
     * @param dy   the gradient, or null ({@code a} is then unread)
     * @param mask as in {@link #sums}, or null
     * @param a    per channel
     * @param b    per channel
     * @param k    per channel, a centre {@link #representable} exactly
     * @param d    per channel
     * @param out  the output; may be x or dy
     */
    void affine(ChannelView view, TensorMemory x, TensorMemory dy, TensorMemory mask, double[] a, double[] b,
                double[] k, double[] d, TensorMemory out);
}
