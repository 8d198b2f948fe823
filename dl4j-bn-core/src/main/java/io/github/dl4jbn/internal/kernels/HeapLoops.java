package io.github.dl4jbn.internal.kernels;

import io.github.dl4jbn.internal.kernels.PassLayout.PlaneCursor;
import io.github.dl4jbn.internal.kernels.PassScheduler.Sums;
import io.github.dl4jbn.internal.kernels.PassScheduler.Windows;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The float loops in plain Java, for any JVM and any {@link FloatCodec}: each piece of a unit (at most
 * {@link #PIECE} values) is bulk-copied from its window into a heap array, run through loops C2 vectorizes, and
 * copied back, since loops over a direct buffer itself do not vectorize. 16-bit elements are widened to float
 * on the way in and rounded on the way out.
 */
final class HeapLoops implements FloatLoops<FloatCodec.Window> {

    /** Values per piece (32 KiB of float): the few arrays of a piece stay in a core's L1/L2 cache. */
    static final int PIECE = 1 << 13;
    /** Pieces of rows accumulated in float before flushing into double. */
    private static final int FLUSH_PIECES = 16;
    /** The layout's thresholds assume vectors of this many floats (C2's on AVX2). */
    private static final int LANES = 8;

    private final FloatCodec codec;

    HeapLoops(FloatCodec codec) {
        this.codec = codec;
    }

    @Override
    public int lanes() {
        return LANES;
    }

    @Override
    public FloatCodec.Window open(ByteBuffer window) {
        return new FloatCodec.Window(window, codec);
    }

    /** Reads a mask piece: masks of float passes are FLOAT whatever the tensor's element type. */
    private static float[] mask(FloatCodec.Window mask, long index, int n) {
        float[] m = Scratch.atLeast(Scratch.PIECE_MASK, n);
        FloatCodec.FLOAT.read(mask, index, m, n);
        return m;
    }

    @Override
    public void planeSums(PassLayout layout, long from, long to, Windows<FloatCodec.Window> w, float[] k, Sums out) {
        PlaneCursor p = layout.planes(from);
        for (long u = from; u < to; u++, p.next()) {
            for (int i0 = 0; i0 < p.length; i0 += PIECE) {
                int n = Math.min(PIECE, p.length - i0);
                long at = p.start - w.first + i0;
                float[] x = Scratch.atLeast(Scratch.PIECE_X, n);
                codec.read(w.x, at, x, n);
                float[] dy = null;
                if (w.dy != null) {
                    dy = Scratch.atLeast(Scratch.PIECE_DY, n);
                    codec.read(w.dy, at, dy, n);
                }
                float[] m = w.mask == null ? null : mask(w.mask, p.maskStart + i0, n);
                planeSums(x, dy, m, n, k[p.channel], p.channel, out);
            }
        }
    }

    /** One piece of a plane: four independent chains per sum, so the adds overlap instead of waiting. */
    private static void planeSums(float[] x, float[] dy, float[] m, int n, float k, int c, Sums out) {
        float s1a = 0, s1b = 0, s1c = 0, s1d = 0, s2a = 0, s2b = 0, s2c = 0, s2d = 0;
        int i = 0;
        if (m == null) {
            for (; i + 3 < n; i += 4) {
                float d0 = x[i] - k;
                float d1 = x[i + 1] - k;
                float d2 = x[i + 2] - k;
                float d3 = x[i + 3] - k;
                float g0 = dy == null ? d0 : dy[i];
                float g1 = dy == null ? d1 : dy[i + 1];
                float g2 = dy == null ? d2 : dy[i + 2];
                float g3 = dy == null ? d3 : dy[i + 3];
                s1a += g0;
                s1b += g1;
                s1c += g2;
                s1d += g3;
                s2a += g0 * d0;
                s2b += g1 * d1;
                s2c += g2 * d2;
                s2d += g3 * d3;
            }
        }
        for (; i < n; i++) {
            if (m == null || m[i] != 0f) {
                float d = x[i] - k;
                float g = dy == null ? d : dy[i];
                s1a += g;
                s2a += g * d;
            }
        }
        out.a[c] += (s1a + s1b) + (s1c + s1d);
        out.b[c] += (s2a + s2b) + (s2c + s2d);
    }

    @Override
    public void rowSums(PassLayout layout, long from, long to, Windows<FloatCodec.Window> w, float[] k, Sums out) {
        int n = layout.rowLength();
        int rows = Math.max(1, PIECE / n);
        float[] ke = expanded(Scratch.PIECE_K, k, rows * n);             // centres repeated along a piece of rows
        float[] s1 = Scratch.atLeast(Scratch.PIECE_SUM_1, rows * n);
        float[] s2 = Scratch.atLeast(Scratch.PIECE_SUM_2, rows * n);
        Arrays.fill(s1, 0, rows * n, 0f);
        Arrays.fill(s2, 0, rows * n, 0f);
        int pieces = 0;
        for (long r = from; r < to; ) {
            long end = w.mask == null ? to : validRunEnd(w.mask, r, to);
            for (; r < end; r += rows) {
                int count = (int) Math.min(rows, end - r) * n;
                float[] x = Scratch.atLeast(Scratch.PIECE_X, count);
                codec.read(w.x, r * n - w.first, x, count);
                float[] dy = null;
                if (w.dy != null) {
                    dy = Scratch.atLeast(Scratch.PIECE_DY, count);
                    codec.read(w.dy, r * n - w.first, dy, count);
                }
                flatSums(x, dy, ke, s1, s2, count);
                if (++pieces % FLUSH_PIECES == 0) {
                    fold(s1, s2, rows, n, layout.positionsPerChannel(), out);
                }
            }
            r = Math.min(r, end);
            r = w.mask == null ? r : nextValid(w.mask, r, to);
        }
        fold(s1, s2, rows, n, layout.positionsPerChannel(), out);
    }

    /** A piece of rows, position-wise: the same sums as {@link #planeSums}, in loops C2 vectorizes. */
    private static void flatSums(float[] x, float[] dy, float[] k, float[] s1, float[] s2, int n) {
        if (dy == null) {
            for (int i = 0; i < n; i++) {
                float d = x[i] - k[i];
                s1[i] += d;
                s2[i] += d * d;
            }
        } else {
            for (int i = 0; i < n; i++) {
                float g = dy[i];
                s1[i] += g;
                s2[i] += g * (x[i] - k[i]);
            }
        }
    }

    /** Folds a piece's position-wise float sums into per-channel double sums, and clears them. */
    private static void fold(float[] s1, float[] s2, int rows, int n, int positionsPerChannel, Sums out) {
        FloatPasses.flushRows(s1, s2, rows, n, positionsPerChannel, out);
        Arrays.fill(s1, 0, rows * n, 0f);
        Arrays.fill(s2, 0, rows * n, 0f);
    }

    private static long validRunEnd(FloatCodec.Window mask, long r, long end) {
        while (r < end && mask.floats.get((int) r) != 0f) {
            r++;
        }
        return r;
    }

    private static long nextValid(FloatCodec.Window mask, long r, long end) {
        while (r < end && mask.floats.get((int) r) == 0f) {
            r++;
        }
        return r;
    }

    @Override
    public void planeAffine(PassLayout layout, long from, long to, Windows<FloatCodec.Window> w, float[] a, float[] b,
                            float[] k, float[] d) {
        PlaneCursor p = layout.planes(from);
        for (long u = from; u < to; u++, p.next()) {
            int c = p.channel;
            affinePlane(w, p.start - w.first, w.mask == null ? -1 : p.maskStart, p.length, a == null ? 0f : a[c],
                    b[c], k[c], d[c]);
        }
    }

    @Override
    public void blockAffine(PassLayout layout, long from, long to, Windows<FloatCodec.Window> w, float[] a, float[] b,
                            float[] k, float[] d) {
        int channels = layout.view().channels();
        long inner = layout.view().inner();
        for (long u = from; u < to; u++) {
            int c = layout.channel(u);
            long start = layout.start(u) - w.first;
            for (int i = 0; i < layout.planesInBlock(u); i++) {
                affinePlane(w, start + i * channels * inner, -1, (int) inner, a == null ? 0f : a[c], b[c], k[c], d[c]);
            }
        }
    }

    /** One plane segment of n values from element {@code at} of the window; maskStart -1: unmasked. */
    private void affinePlane(Windows<FloatCodec.Window> w, long at, long maskStart, int length, float a, float b,
                             float k, float d) {
        for (int i0 = 0; i0 < length; i0 += PIECE) {
            int n = Math.min(PIECE, length - i0);
            float[] x = Scratch.atLeast(Scratch.PIECE_X, n);
            codec.read(w.x, at + i0, x, n);
            float[] dy = null;
            if (w.dy != null) {
                dy = Scratch.atLeast(Scratch.PIECE_DY, n);
                codec.read(w.dy, at + i0, dy, n);
            }
            float[] y = Scratch.atLeast(Scratch.PIECE_OUT, n);
            if (dy == null) {
                for (int i = 0; i < n; i++) {
                    y[i] = b * (x[i] - k) + d;
                }
            } else {
                for (int i = 0; i < n; i++) {
                    y[i] = a * dy[i] + b * (x[i] - k) + d;
                }
            }
            if (maskStart >= 0) {
                float[] m = mask(w.mask, maskStart + i0, n);
                for (int i = 0; i < n; i++) {
                    y[i] = m[i] != 0f ? y[i] : 0f;
                }
            }
            codec.write(y, n, w.out, at + i0);
        }
    }

    @Override
    public void rowAffine(PassLayout layout, long from, long to, Windows<FloatCodec.Window> w, float[] a, float[] b,
                          float[] k, float[] d) {
        int n = layout.rowLength();
        int rows = Math.max(1, PIECE / n);
        float[] ae = w.dy == null ? null : expanded(Scratch.PIECE_A, a, rows * n);   // not read without dy
        float[] be = expanded(Scratch.PIECE_B, b, rows * n);
        float[] ke = expanded(Scratch.PIECE_K, k, rows * n);
        float[] de = expanded(Scratch.PIECE_D, d, rows * n);
        for (long r = from; r < to; ) {
            long end = w.mask == null ? to : validRunEnd(w.mask, r, to);
            for (; r < end; r += rows) {
                int count = (int) Math.min(rows, end - r) * n;
                float[] x = Scratch.atLeast(Scratch.PIECE_X, count);
                codec.read(w.x, r * n - w.first, x, count);
                float[] y = Scratch.atLeast(Scratch.PIECE_OUT, count);
                if (w.dy == null) {
                    for (int i = 0; i < count; i++) {
                        y[i] = be[i] * (x[i] - ke[i]) + de[i];
                    }
                } else {
                    float[] dy = Scratch.atLeast(Scratch.PIECE_DY, count);
                    codec.read(w.dy, r * n - w.first, dy, count);
                    for (int i = 0; i < count; i++) {
                        y[i] = ae[i] * dy[i] + be[i] * (x[i] - ke[i]) + de[i];
                    }
                }
                codec.write(y, count, w.out, r * n - w.first);
            }
            r = Math.min(r, end);
            if (w.mask != null) {
                long valid = nextValid(w.mask, r, to);
                for (; r < valid; r++) {                            // padded rows are 0
                    float[] zeros = Scratch.atLeast(Scratch.PIECE_OUT, n);
                    Arrays.fill(zeros, 0, n, 0f);
                    codec.write(zeros, n, w.out, r * n - w.first);
                }
            }
        }
    }

    /** Per-position values repeated along a piece of rows, in scratch slot {@code slot}. */
    private static float[] expanded(int slot, float[] perPosition, int n) {
        float[] e = Scratch.atLeast(slot, n);
        for (int i = 0; i + perPosition.length <= n; i += perPosition.length) {
            System.arraycopy(perPosition, 0, e, i, perPosition.length);
        }
        return e;
    }
}
