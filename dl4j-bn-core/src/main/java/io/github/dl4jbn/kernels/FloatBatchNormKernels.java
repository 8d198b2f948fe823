package io.github.dl4jbn.kernels;

import java.nio.FloatBuffer;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;

/**
 * The FLOAT counterpart of {@link BatchNormKernels}: the same steps on float tensors held in
 * {@link FloatBuffer}s (heap-backed, or direct ones such as ND4J's off-heap arrays), written for speed.
 *
 * <p>Each pass streams the tensor once, in chunks of whole rows of the {@link ChannelView} small enough to stay
 * in cache: a chunk is bulk-copied into a heap scratch array, processed with loops C2 vectorizes, and bulk-copied
 * out. So the memory traffic per element is that of an ideal fused kernel: training forward reads x twice and
 * writes y once (12 bytes in float), inference 8, backward 20. Sums are accumulated in float over short runs,
 * relative to a per-channel shift (one sample of the channel), and flushed into double, so a large mean with a
 * small spread keeps its accuracy without a second pass. Large tensors are split over two halves of the outer
 * axis, one on the calling thread and one on the common fork-join pool.
 *
 * <p>Forward and backward side by side, as in {@link BatchNormKernels}: the forward leaves {@code mean} and
 * {@code invStd} per channel (double), the backward recomputes {@code xhat} from x.
 */
public final class FloatBatchNormKernels {

    /**
     * Tensors smaller than this (512 Ki values) run on one thread: waking a pool thread costs more than it saves
     * (measured: [256, 1024] forward+backward 1.07 ms split, 0.80 ms not).
     */
    static final int PARALLEL_THRESHOLD = 1 << 19;
    /** Target chunk size in floats (128 KiB): three chunk buffers stay in a core's L2 cache. */
    static final int CHUNK = 1 << 15;
    /** Values of one channels-first row accumulated in float before flushing into double. */
    private static final int FLUSH_VALUES = 1024;
    /** Chunks of a channels-last tensor accumulated in float before flushing into double. */
    private static final int FLUSH_CHUNKS = 16;

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[9][0]);

    private FloatBatchNormKernels() {
    }

    /** Per-channel pairs of sums of one half of the outer axis. */
    private static final class Sums {
        final double[] a;
        final double[] b;

        Sums(int channels) {
            a = new double[channels];
            b = new double[channels];
        }

        void add(Sums other) {
            for (int c = 0; c < a.length; c++) {
                a[c] += other.a[c];
                b[c] += other.b[c];
            }
        }
    }

    /** Processes rows [from, to) of the outer axis, chunk by chunk, with the calling thread's scratch arrays. */
    private interface Rows {
        void run(int from, int to, Sums sums);
    }

    /**
     * The unit a chunk is made of: a row of C values for channels-last views ({@code inner == 1}), a plane of
     * {@code inner} values of one channel for channels-first ones, so chunks stay small whatever the layout.
     */
    private static int unitLength(ChannelView view) {
        return view.inner() == 1 ? view.channels() : view.inner();
    }

    private static int units(ChannelView view) {
        return view.inner() == 1 ? view.outer() : view.outer() * view.channels();
    }

    /** Runs {@code rows} over every unit, in two halves when the tensor is large; returns the summed sums. */
    private static Sums overRows(ChannelView view, Rows rows) {
        Sums first = new Sums(view.channels());
        int outer = units(view);
        if (view.size() < PARALLEL_THRESHOLD || outer < 2 || ForkJoinPool.getCommonPoolParallelism() < 1) {
            rows.run(0, outer, first);
            return first;
        }
        int mid = outer / 2;
        Sums second = new Sums(view.channels());
        ForkJoinTask<?> other = ForkJoinPool.commonPool().submit(() -> rows.run(mid, outer, second));
        rows.run(0, mid, first);
        other.join();
        first.add(second);
        return first;
    }

    /** Units per chunk: about CHUNK / 4 values (32 KiB), small enough for the scratch arrays to stay in L1/L2. */
    private static int rowsPerChunk(ChannelView view) {
        return Math.max(1, (CHUNK / 4) / unitLength(view));
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
    private static void fold(float[] s1, float[] s2, int n, int channels, Sums out) {
        for (int row = 0; row < n; row += channels) {
            for (int c = 0; c < channels; c++) {
                out.a[c] += s1[row + c];
                out.b[c] += s2[row + c];
            }
        }
        java.util.Arrays.fill(s1, 0, n, 0f);
        java.util.Arrays.fill(s2, 0, n, 0f);
    }

    private static float[] scratch(int slot, int n) {
        float[][] s = SCRATCH.get();
        if (s[slot].length < n) {
            s[slot] = new float[n];
        }
        return s[slot];
    }

    /**
     * Algorithm 1, lines 1-2: per-channel mean and biased variance, from shifted sums
     * {@code S1 = sum(x - k)}, {@code S2 = sum((x - k)^2)}: {@code mean = k + S1/m}, {@code var = S2/m - (S1/m)^2}.
     *
     * @param x    input, {@code view.size()} values from its position
     * @param view layout of {@code x}
     * @param mean output, per channel
     * @param var  output, per channel
     */
    public static void batchMeanAndVariance(FloatBuffer x, ChannelView view, double[] mean, double[] var) {
        int channels = view.channels();
        int inner = view.inner();
        int rowLength = unitLength(view);
        int base = x.position();
        float[] shift = new float[channels];
        for (int c = 0; c < channels; c++) {
            shift[c] = x.get(base + c * inner);                    // a sample of the channel: first value of row 0
        }
        int step = rowsPerChunk(view);
        Sums total = overRows(view, (from, to, sums) -> {
            if (inner == 1) {
                int full = step * rowLength;
                float[] k = expanded(3, shift, full);
                float[] s1 = scratch(4, full);
                float[] s2 = scratch(5, full);
                java.util.Arrays.fill(s1, 0, full, 0f);
                java.util.Arrays.fill(s2, 0, full, 0f);
                int chunks = 0;
                for (int r = from; r < to; r += step) {
                    int n = Math.min(step, to - r) * rowLength;
                    float[] xs = scratch(0, n);
                    x.get(base + r * rowLength, xs, 0, n);
                    for (int i = 0; i < n; i++) {
                        float d = xs[i] - k[i];
                        s1[i] += d;
                        s2[i] += d * d;
                    }
                    if (++chunks % FLUSH_CHUNKS == 0) {
                        fold(s1, s2, full, channels, sums);
                    }
                }
                fold(s1, s2, full, channels, sums);
                return;
            }
            for (int r = from; r < to; r += step) {
                int planes = Math.min(step, to - r);
                float[] chunk = scratch(0, planes * rowLength);
                x.get(base + r * rowLength, chunk, 0, planes * rowLength);
                shiftedSums(chunk, r, planes, channels, inner, shift, sums);
            }
        });
        double m = view.valuesPerChannel();
        for (int c = 0; c < channels; c++) {
            double d = total.a[c] / m;
            mean[c] = shift[c] + d;
            var[c] = Math.max(0.0, total.b[c] / m - d * d);
        }
    }

    /** Shifted sums of channels-first planes ({@code inner > 1}) {@code [first, first + planes)}. */
    private static void shiftedSums(float[] x, int first, int planes, int channels, int inner, float[] shift, Sums out) {
        for (int p = 0; p < planes; p++) {
            int c = (first + p) % channels;
            int base = p * inner;
            float k = shift[c];
            for (int i0 = 0; i0 < inner; i0 += FLUSH_VALUES) {
                int i1 = Math.min(inner, i0 + FLUSH_VALUES);
                // four independent chains per sum: the adds overlap instead of waiting on each other
                float s1a = 0, s1b = 0, s1c = 0, s1d = 0, s2a = 0, s2b = 0, s2c = 0, s2d = 0;
                int i = i0;
                for (; i + 3 < i1; i += 4) {
                    float d0 = x[base + i] - k;
                    float d1 = x[base + i + 1] - k;
                    float d2 = x[base + i + 2] - k;
                    float d3 = x[base + i + 3] - k;
                    s1a += d0;
                    s1b += d1;
                    s1c += d2;
                    s1d += d3;
                    s2a += d0 * d0;
                    s2b += d1 * d1;
                    s2c += d2 * d2;
                    s2d += d3 * d3;
                }
                for (; i < i1; i++) {
                    float d0 = x[base + i] - k;
                    s1a += d0;
                    s2a += d0 * d0;
                }
                out.a[c] += (s1a + s1b) + (s1c + s1d);
                out.b[c] += (s2a + s2b) + (s2c + s2d);
            }
        }
    }

    /**
     * Algorithm 1, lines 3-4, or Algorithm 2, line 11: {@code y = gamma * (x - mean) * invStd + beta}, computed
     * as {@code y = s * (x - k) + t} per channel with {@code k} the mean rounded to float (no cancellation for a
     * large mean).
     *
     * @param x      input, from its position
     * @param view   layout of {@code x} and {@code y}
     * @param mean   per-channel mean
     * @param invStd per-channel {@code 1/sqrt(var + eps)}
     * @param gamma  per-channel scale
     * @param beta   per-channel shift
     * @param y      output, from its position; may be {@code x}
     */
    public static void normalize(FloatBuffer x, ChannelView view, double[] mean, double[] invStd, double[] gamma,
                                 double[] beta, FloatBuffer y) {
        int channels = view.channels();
        float[] scale = new float[channels];
        float[] center = new float[channels];
        float[] shift = new float[channels];
        for (int c = 0; c < channels; c++) {
            double s = gamma[c] * invStd[c];
            center[c] = (float) mean[c];
            scale[c] = (float) s;
            shift[c] = (float) (beta[c] - (mean[c] - center[c]) * s);
        }
        stream(null, x, new float[channels], scale, center, shift, view, y);
    }

    /**
     * Backward pass of {@link #normalize}; see {@link BatchNormKernels#backward} for the formulas. One streaming
     * pass takes {@code sum(dy)} and {@code sum(dy * (x - mean))}, a second computes
     * {@code dx = a * dy + b * (x - k) + d} per channel.
     *
     * @param x                      the forward input
     * @param dy                     gradient with respect to y
     * @param view                   layout of {@code x}, {@code dy} and {@code dx}
     * @param mean                   the mean the forward used
     * @param invStd                 the {@code 1/sqrt(var + eps)} the forward used
     * @param gamma                  per-channel scale
     * @param throughBatchStatistics true after a training forward
     * @param dx                     output; may be {@code dy}
     * @param dgamma                 output: {@code sum(dy * xhat)} per channel
     * @param dbeta                  output: {@code sum(dy)} per channel
     */
    public static void backward(FloatBuffer x, FloatBuffer dy, ChannelView view, double[] mean, double[] invStd,
                                double[] gamma, boolean throughBatchStatistics,
                                FloatBuffer dx, double[] dgamma, double[] dbeta) {
        int channels = view.channels();
        int inner = view.inner();
        int rowLength = unitLength(view);
        float[] center = new float[channels];
        for (int c = 0; c < channels; c++) {
            center[c] = (float) mean[c];
        }
        int xBase = x.position();
        int dyBase = dy.position();
        int step = rowsPerChunk(view);
        Sums total = overRows(view, (from, to, sums) -> {
            float[] k = inner == 1 ? expanded(3, center, step * rowLength) : null;
            float[] s1 = inner == 1 ? scratch(4, step * rowLength) : null;
            float[] s2 = inner == 1 ? scratch(5, step * rowLength) : null;
            if (inner == 1) {
                java.util.Arrays.fill(s1, 0, step * rowLength, 0f);
                java.util.Arrays.fill(s2, 0, step * rowLength, 0f);
            }
            int chunks = 0;
            for (int r = from; r < to; r += step) {
                int n = Math.min(step, to - r) * rowLength;
                float[] xs = scratch(0, n);
                float[] gs = scratch(1, n);
                x.get(xBase + r * rowLength, xs, 0, n);
                dy.get(dyBase + r * rowLength, gs, 0, n);
                if (inner == 1) {
                    for (int i = 0; i < n; i++) {
                        float g = gs[i];
                        s1[i] += g;
                        s2[i] += g * (xs[i] - k[i]);
                    }
                    if (++chunks % FLUSH_CHUNKS == 0) {
                        fold(s1, s2, step * rowLength, channels, sums);
                    }
                } else {
                    gradientSums(xs, gs, r, Math.min(step, to - r), channels, inner, center, sums);
                }
            }
            if (inner == 1) {
                fold(s1, s2, step * rowLength, channels, sums);
            }
        });
        double m = view.valuesPerChannel();
        float[] a = new float[channels];
        float[] b = new float[channels];
        float[] d = new float[channels];                            // dx = a * dy + b * (x - center) + d
        for (int c = 0; c < channels; c++) {
            double sumDy = total.a[c];
            double sumDyXmu = total.b[c] - sumDy * (mean[c] - center[c]);   // sums were taken around the float centre
            dbeta[c] = sumDy;
            dgamma[c] = sumDyXmu * invStd[c];
            double scale = gamma[c] * invStd[c];
            a[c] = (float) scale;
            if (throughBatchStatistics) {
                // dx = scale * (dy - sumDy/m - (x - mean) * k), k = invStd^2 * sumDyXmu / m
                double k = invStd[c] * invStd[c] * sumDyXmu / m;
                b[c] = (float) (-scale * k);
                d[c] = (float) (-scale * (sumDy / m + (center[c] - mean[c]) * k));
            }
        }
        stream(dy, x, a, b, center, d, view, dx);
    }

    /** Gradient sums of channels-first planes ({@code inner > 1}) {@code [first, first + planes)}. */
    private static void gradientSums(float[] x, float[] dy, int first, int planes, int channels, int inner, float[] center, Sums out) {
        for (int p = 0; p < planes; p++) {
            int c = (first + p) % channels;
            int base = p * inner;
            float k = center[c];
            for (int i0 = 0; i0 < inner; i0 += FLUSH_VALUES) {
                int i1 = Math.min(inner, i0 + FLUSH_VALUES);
                float s1a = 0, s1b = 0, s1c = 0, s1d = 0, s2a = 0, s2b = 0, s2c = 0, s2d = 0;
                int i = i0;
                for (; i + 3 < i1; i += 4) {
                    float g0 = dy[base + i];
                    float g1 = dy[base + i + 1];
                    float g2 = dy[base + i + 2];
                    float g3 = dy[base + i + 3];
                    s1a += g0;
                    s1b += g1;
                    s1c += g2;
                    s1d += g3;
                    s2a += g0 * (x[base + i] - k);
                    s2b += g1 * (x[base + i + 1] - k);
                    s2c += g2 * (x[base + i + 2] - k);
                    s2d += g3 * (x[base + i + 3] - k);
                }
                for (; i < i1; i++) {
                    float g0 = dy[base + i];
                    s1a += g0;
                    s2a += g0 * (x[base + i] - k);
                }
                out.a[c] += (s1a + s1b) + (s1c + s1d);
                out.b[c] += (s2a + s2b) + (s2c + s2d);
            }
        }
    }

    /** Streams {@code out = a[c] * u + b[c] * (v - k[c]) + d[c]} chunk by chunk; {@code u} may be null (a = 0). */
    private static void stream(FloatBuffer u, FloatBuffer v, float[] a, float[] b, float[] k, float[] d,
                               ChannelView view, FloatBuffer out) {
        int channels = view.channels();
        int inner = view.inner();
        int rowLength = unitLength(view);
        int uBase = u == null ? 0 : u.position();
        int vBase = v.position();
        int outBase = out.position();
        int step = rowsPerChunk(view);
        overRows(view, (from, to, ignored) -> {
            int full = step * rowLength;
            float[] ae = inner == 1 ? expanded(3, a, full) : null;
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
            float ac = a[c];
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
