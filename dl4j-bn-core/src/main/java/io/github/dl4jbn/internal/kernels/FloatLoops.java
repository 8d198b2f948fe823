package io.github.dl4jbn.internal.kernels;

import io.github.dl4jbn.internal.kernels.PassScheduler.Sums;
import io.github.dl4jbn.internal.kernels.PassScheduler.Windows;

import java.nio.ByteBuffer;

/**
 * The loops of the float passes over one chunk, for one way of reaching memory (heap chunks, the Vector API on
 * NIO buffers, the Vector API on memory segments). They only execute: {@link PassLayout} decided rows or
 * planes, {@link PassScheduler} the chunk and its window, {@link FloatPasses} the coefficients.
 *
 * <p>In every method, unit u of the layout starts at byte {@code bytes * (layout.start(u) - w.first)} of the
 * windows x, dy and out, and its mask at element {@code layout.maskStart(u)} of {@code w.mask}. A mask value 0
 * marks a padded position: it adds nothing to any sum, its output is 0, and what x or dy hold there (NaN
 * included) never reaches a result. Sums accumulate in float over short runs and are flushed into the chunk's
 * double sums; coefficient arrays are float.
 *
 * @param <W> the window type
 */
interface FloatLoops<W> {

    /** @return float lanes of this implementation's vectors (the layout's thresholds scale with it) */
    int lanes();

    /**
     * @param window a native-order window buffer
     * @return the window as these loops read it
     */
    W open(ByteBuffer window);

    /**
     * Sums over plane segments [from, to): per channel c, with dy null {@code a += sum(x - k[c])},
     * {@code b += sum((x - k[c])^2)}; with dy {@code a += sum(dy)}, {@code b += sum(dy * (x - k[c]))}.
     */
    void planeSums(PassLayout layout, long from, long to, Windows<W> w, float[] k, Sums out);

    /**
     * Sums over rows [from, to), the same sums against a centre per position ({@code k.length == rowLength});
     * position j adds into channel {@code j / layout.positionsPerChannel()}. A masked row is one mask value.
     */
    void rowSums(PassLayout layout, long from, long to, Windows<W> w, float[] k, Sums out);

    /**
     * Per element of plane segments [from, to) of channel c: {@code out = a[c] * dy + b[c] * (x - k[c]) + d[c]},
     * or without dy {@code out = b[c] * (x - k[c]) + d[c]} ({@code a} then unread). Masked elements get 0.
     */
    void planeAffine(PassLayout layout, long from, long to, Windows<W> w, float[] a, float[] b, float[] k, float[] d);

    /** The same over the blocks of planes [from, to) of a {@link PassLayout.Kind#PLANE_BLOCKS} layout (no mask). */
    void blockAffine(PassLayout layout, long from, long to, Windows<W> w, float[] a, float[] b, float[] k, float[] d);

    /** The same over rows [from, to) against coefficients per position (each {@code rowLength} long). */
    void rowAffine(PassLayout layout, long from, long to, Windows<W> w, float[] a, float[] b, float[] k, float[] d);
}
