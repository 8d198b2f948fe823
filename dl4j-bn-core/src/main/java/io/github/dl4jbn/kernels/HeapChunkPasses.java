package io.github.dl4jbn.kernels;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

import static io.github.dl4jbn.kernels.FloatBatchNormKernels.overRows;
import static io.github.dl4jbn.kernels.FloatBatchNormKernels.sumOverRows;
import static io.github.dl4jbn.kernels.FloatBatchNormKernels.unitLength;

/**
 * The float passes in plain Java, for any JVM: each chunk of whole units (rows of C values channels-last, planes
 * of one channel channels-first) is bulk-copied from the buffer into a heap scratch array, processed with loops
 * C2 vectorizes, and bulk-copied out, since loops over a direct buffer itself do not vectorize.
 */
final class HeapChunkPasses implements FloatPasses {

    /** Values per chunk (32 KiB): the few scratch arrays of a pass stay in a core's L1/L2 cache. */
    private static final int CHUNK_VALUES = 1 << 13;
    /** Values of one channels-first plane accumulated in float before flushing into double. */
    private static final int FLUSH_VALUES = 1024;
    /** Chunks of a channels-last tensor accumulated in float before flushing into double. */
    private static final int FLUSH_CHUNKS = 16;

    private static FloatBuffer floats(ByteBuffer bytes) {
        return bytes.duplicate().order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
    }

    /** Both passes' sums (see {@link #planeSums}); {@code dyBytes == null} selects the statistics'. */
    @Override
    public FloatBatchNormKernels.Sums sums(ByteBuffer xBytes, int xBase, ByteBuffer dyBytes, int dyBase,
                                           ChannelView view, float[] k) {
        FloatBuffer x = floats(xBytes);
        FloatBuffer dy = dyBytes == null ? null : floats(dyBytes);
        int channels = view.channels();
        int inner = view.inner();
        int rowLength = unitLength(view);
        int step = rowsPerChunk(view);
        int full = step * rowLength;
        return sumOverRows(view, (from, to, sums) -> {
            float[] ke = inner == 1 ? expanded(3, k, full) : null;
            float[] s1 = inner == 1 ? scratch(4, full) : null;
            float[] s2 = inner == 1 ? scratch(5, full) : null;
            if (inner == 1) {
                java.util.Arrays.fill(s1, 0, full, 0f);
                java.util.Arrays.fill(s2, 0, full, 0f);
            }
            int chunks = 0;
            for (int r = from; r < to; r += step) {
                int n = Math.min(step, to - r) * rowLength;
                float[] xs = scratch(0, n);
                float[] gs = dy == null ? null : scratch(1, n);
                x.get(xBase + r * rowLength, xs, 0, n);
                if (dy != null) {
                    dy.get(dyBase + r * rowLength, gs, 0, n);
                }
                if (inner == 1) {
                    flatSums(xs, gs, ke, s1, s2, n);
                    if (++chunks % FLUSH_CHUNKS == 0) {
                        fold(s1, s2, full, channels, sums);
                    }
                } else {
                    planeSums(xs, gs, r, Math.min(step, to - r), channels, inner, k, sums);
                }
            }
            if (inner == 1) {
                fold(s1, s2, full, channels, sums);
            }
        });
    }

    /** Channels-last chunk, position-wise: the same sums as {@link #planeSums}, in loops C2 vectorizes. */
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

    @Override
    public void affine(ByteBuffer uBytes, int uBase, ByteBuffer vBytes, int vBase, float[] a, float[] b, float[] k,
                       float[] d, ChannelView view, ByteBuffer outBytes, int outBase) {
        FloatBuffer u = uBytes == null ? null : floats(uBytes);
        FloatBuffer v = floats(vBytes);
        FloatBuffer out = floats(outBytes);
        int channels = view.channels();
        int inner = view.inner();
        int rowLength = unitLength(view);
        int step = rowsPerChunk(view);
        overRows(view, (from, to) -> {
            int full = step * rowLength;
            float[] ae = inner == 1 && u != null ? expanded(3, a, full) : null;     // not read without u
            float[] be = inner == 1 ? expanded(4, b, full) : null;
            float[] ke = inner == 1 ? expanded(5, k, full) : null;
            float[] de = inner == 1 ? expanded(6, d, full) : null;
            for (int r = from; r < to; r += step) {
                int rows = Math.min(step, to - r);
                int n = rows * rowLength;
                float[] us = u == null ? null : scratch(0, n);
                float[] vs = scratch(1, n);
                float[] os = scratch(2, n);
                if (u != null) {
                    u.get(uBase + r * rowLength, us, 0, n);
                }
                v.get(vBase + r * rowLength, vs, 0, n);
                if (inner == 1) {
                    flatAffine(us, vs, ae, be, ke, de, n, os);
                } else {
                    centredAffine(us, vs, a, b, k, d, r, rows, channels, inner, os);
                }
                out.put(outBase + r * rowLength, os, 0, n);
            }
        });
    }

    /** Units per chunk: about CHUNK_VALUES values, at least one unit. */
    private static int rowsPerChunk(ChannelView view) {
        return Math.max(1, CHUNK_VALUES / unitLength(view));
    }

    /**
     * Channels-last chunks ({@code inner == 1}) are processed as flat arrays against per-channel values repeated
     * along the chunk, so every array in a loop has the same index and C2 vectorizes it.
     */
    private static float[] expanded(int slot, float[] perChannel, int n) {
        float[] e = scratch(slot, n);
        int channels = perChannel.length;
        for (int i = 0; i < n; i += channels) {
            System.arraycopy(perChannel, 0, e, i, channels);
        }
        return e;
    }

    /** Folds position-wise float sums of a channels-last chunk into per-channel double sums, and clears them. */
    private static void fold(float[] s1, float[] s2, int n, int channels, FloatBatchNormKernels.Sums out) {
        for (int row = 0; row < n; row += channels) {
            for (int c = 0; c < channels; c++) {
                out.a[c] += s1[row + c];
                out.b[c] += s2[row + c];
            }
        }
        java.util.Arrays.fill(s1, 0, n, 0f);
        java.util.Arrays.fill(s2, 0, n, 0f);
    }

    /** This thread's chunk array in {@code slot} (0 to 6), at least {@code n} values. */
    private static float[] scratch(int slot, int n) {
        return Scratch.atLeast(slot, n);
    }

    /**
     * Sums over channels-first planes ({@code inner > 1}) {@code [first, first + planes)}: {@code sum(x - k)} and
     * {@code sum((x - k)^2)} when {@code dy} is null, else {@code sum(dy)} and {@code sum(dy * (x - k))}.
     */
    private static void planeSums(float[] x, float[] dy, int first, int planes, int channels, int inner, float[] k,
                                  FloatBatchNormKernels.Sums out) {
        for (int p = 0; p < planes; p++) {
            int c = (first + p) % channels;
            int base = p * inner;
            float kc = k[c];
            for (int i0 = 0; i0 < inner; i0 += FLUSH_VALUES) {
                int i1 = Math.min(inner, i0 + FLUSH_VALUES);
                // four independent chains per sum: the adds overlap instead of waiting on each other
                float s1a = 0, s1b = 0, s1c = 0, s1d = 0, s2a = 0, s2b = 0, s2c = 0, s2d = 0;
                int i = i0;
                for (; i + 3 < i1; i += 4) {
                    float d0 = x[base + i] - kc;
                    float d1 = x[base + i + 1] - kc;
                    float d2 = x[base + i + 2] - kc;
                    float d3 = x[base + i + 3] - kc;
                    float g0 = dy == null ? d0 : dy[base + i];
                    float g1 = dy == null ? d1 : dy[base + i + 1];
                    float g2 = dy == null ? d2 : dy[base + i + 2];
                    float g3 = dy == null ? d3 : dy[base + i + 3];
                    s1a += g0;
                    s1b += g1;
                    s1c += g2;
                    s1d += g3;
                    s2a += g0 * d0;
                    s2b += g1 * d1;
                    s2c += g2 * d2;
                    s2d += g3 * d3;
                }
                for (; i < i1; i++) {
                    float d0 = x[base + i] - kc;
                    float g0 = dy == null ? d0 : dy[base + i];
                    s1a += g0;
                    s2a += g0 * d0;
                }
                out.a[c] += (s1a + s1b) + (s1c + s1d);
                out.b[c] += (s2a + s2b) + (s2c + s2d);
            }
        }
    }

    /** Channels-last chunk: coefficients already repeated along the chunk. */
    private static void flatAffine(float[] u, float[] v, float[] a, float[] b, float[] k, float[] d, int n, float[] out) {
        if (u == null) {
            for (int i = 0; i < n; i++) {
                out[i] = b[i] * (v[i] - k[i]) + d[i];
            }
        } else {
            for (int i = 0; i < n; i++) {
                out[i] = a[i] * u[i] + b[i] * (v[i] - k[i]) + d[i];
            }
        }
    }

    /** Channels-first planes ({@code inner > 1}): per-channel coefficients hoisted out of the contiguous loop. */
    private static void centredAffine(float[] u, float[] v, float[] a, float[] b, float[] k, float[] d,
                                      int first, int planes, int channels, int inner, float[] out) {
        for (int p = 0; p < planes; p++) {
            int c = (first + p) % channels;
            int base = p * inner;
            float ac = u == null ? 0f : a[c];
            float bc = b[c];
            float kc = k[c];
            float dc = d[c];
            if (u == null) {
                for (int i = 0; i < inner; i++) {
                    out[base + i] = bc * (v[base + i] - kc) + dc;
                }
            } else {
                for (int i = 0; i < inner; i++) {
                    out[base + i] = ac * u[base + i] + bc * (v[base + i] - kc) + dc;
                }
            }
        }
    }
}
