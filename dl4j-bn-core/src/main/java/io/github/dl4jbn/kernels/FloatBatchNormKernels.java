package io.github.dl4jbn.kernels;

import java.util.Arrays;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;

/**
 * The FLOAT counterpart of {@link BatchNormKernels}: the same four steps on {@code float[]} tensors, written
 * for speed. Values stay in float; every sum is accumulated in float over short runs, relative to a per-channel
 * shift (one sample of that channel), and flushed into double, so a large mean with a small spread keeps its
 * accuracy without a second pass. Loops index every array the same way so C2 vectorizes them; channels-last
 * views ({@code inner == 1}) accumulate into per-channel arrays row by row. Large tensors are split over two
 * halves of the outer axis, one on the calling thread and one on the common fork-join pool.
 *
 * <p>Forward and backward side by side, as in {@link BatchNormKernels}: the forward leaves {@code mean} and
 * {@code invStd} per channel (double), the backward recomputes {@code xhat} from x.
 */
public final class FloatBatchNormKernels {

    /** Tensors smaller than this run on one thread: the fork costs more than it saves. */
    static final int PARALLEL_THRESHOLD = 1 << 16;
    /** Rows of a channels-last tensor accumulated in float before flushing into double. */
    private static final int FLUSH_ROWS = 64;
    /** Values of one channels-first row accumulated in float before flushing into double. */
    private static final int FLUSH_VALUES = 1024;

    private FloatBatchNormKernels() {
    }

    /** Per-channel partial sums of one half of the outer axis. */
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

    /** Runs {@code body(from, to)} over [0, outer), in two halves when the tensor is large. */
    private interface OuterRange {
        void run(int from, int to);
    }

    private static void split(ChannelView view, OuterRange body) {
        int outer = view.outer();
        if (view.size() < PARALLEL_THRESHOLD || outer < 2 || ForkJoinPool.getCommonPoolParallelism() < 1) {
            body.run(0, outer);
            return;
        }
        int mid = outer / 2;
        ForkJoinTask<?> other = ForkJoinPool.commonPool().submit(() -> body.run(mid, outer));
        body.run(0, mid);
        other.join();
    }

    /**
     * Algorithm 1, lines 1-2: per-channel mean and biased variance, from shifted sums
     * {@code S1 = sum(x - k)}, {@code S2 = sum((x - k)^2)}: {@code mean = k + S1/m}, {@code var = S2/m - (S1/m)^2}.
     *
     * @param x    input, {@code view.size()} values
     * @param view layout of {@code x}
     * @param mean output, per channel
     * @param var  output, per channel
     */
    public static void batchMeanAndVariance(float[] x, ChannelView view, double[] mean, double[] var) {
        int channels = view.channels();
        float[] shift = new float[channels];
        for (int c = 0; c < channels; c++) {
            shift[c] = x[c * view.inner()];                         // a sample of the channel: first value of row 0
        }
        Sums total = new Sums(channels);
        Sums second = new Sums(channels);
        split(view, (from, to) -> shiftedSums(x, view, shift, from, to, from == 0 ? total : second));
        if (second != total) {
            total.add(second);
        }
        double m = view.valuesPerChannel();
        for (int c = 0; c < channels; c++) {
            double d = total.a[c] / m;
            mean[c] = shift[c] + d;
            var[c] = Math.max(0.0, total.b[c] / m - d * d);
        }
    }

    private static void shiftedSums(float[] x, ChannelView view, float[] shift, int from, int to, Sums out) {
        int channels = view.channels();
        int inner = view.inner();
        if (inner == 1) {
            float[] s1 = new float[channels];
            float[] s2 = new float[channels];
            for (int o = from; o < to; o++) {
                int base = o * channels;
                for (int c = 0; c < channels; c++) {
                    float d = x[base + c] - shift[c];
                    s1[c] += d;
                    s2[c] += d * d;
                }
                if ((o - from) % FLUSH_ROWS == FLUSH_ROWS - 1 || o == to - 1) {
                    flush(s1, s2, out);
                }
            }
            return;
        }
        for (int o = from; o < to; o++) {
            for (int c = 0; c < channels; c++) {
                int base = (o * channels + c) * inner;
                float k = shift[c];
                for (int i0 = 0; i0 < inner; i0 += FLUSH_VALUES) {
                    int i1 = Math.min(inner, i0 + FLUSH_VALUES);
                    float s1 = 0;
                    float s2 = 0;
                    for (int i = i0; i < i1; i++) {
                        float d = x[base + i] - k;
                        s1 += d;
                        s2 += d * d;
                    }
                    out.a[c] += s1;
                    out.b[c] += s2;
                }
            }
        }
    }

    private static void flush(float[] s1, float[] s2, Sums out) {
        for (int c = 0; c < s1.length; c++) {
            out.a[c] += s1[c];
            out.b[c] += s2[c];
        }
        Arrays.fill(s1, 0f);
        Arrays.fill(s2, 0f);
    }

    /**
     * Algorithm 1, lines 3-4, or Algorithm 2, line 11: {@code y = gamma * (x - mean) * invStd + beta}, computed
     * as {@code y = x * scale + shift} per channel.
     *
     * @param x      input
     * @param view   layout of {@code x} and {@code y}
     * @param mean   per-channel mean
     * @param invStd per-channel {@code 1/sqrt(var + eps)}
     * @param gamma  per-channel scale
     * @param beta   per-channel shift
     * @param y      output, may be {@code x}
     */
    public static void normalize(float[] x, ChannelView view, double[] mean, double[] invStd, double[] gamma,
                                 double[] beta, float[] y) {
        int channels = view.channels();
        float[] zero = new float[channels];
        float[] scale = new float[channels];
        float[] center = new float[channels];
        float[] shift = new float[channels];
        for (int c = 0; c < channels; c++) {
            double s = gamma[c] * invStd[c];
            center[c] = (float) mean[c];
            scale[c] = (float) s;
            shift[c] = (float) (beta[c] - (mean[c] - center[c]) * s);   // y = s * (x - center) + shift, no cancellation
        }
        split(view, (from, to) -> centredAffine(x, x, zero, scale, center, shift, view, from, to, y));
    }

    /**
     * Backward pass of {@link #normalize}; see {@link BatchNormKernels#backward} for the formulas. The sums
     * {@code sum(dy)} and {@code sum(dy * (x - mean))} are taken first, then
     * {@code dx = a * dy + b * x + d} per channel in one pass.
     *
     * @param x                      the forward input
     * @param dy                     gradient with respect to y
     * @param view                   layout of {@code x}, {@code dy} and {@code dx}
     * @param mean                   the mean the forward used
     * @param invStd                 the {@code 1/sqrt(var + eps)} the forward used
     * @param gamma                  per-channel scale
     * @param throughBatchStatistics true after a training forward
     * @param dx                     output, may be {@code dy}
     * @param dgamma                 output: {@code sum(dy * xhat)} per channel
     * @param dbeta                  output: {@code sum(dy)} per channel
     */
    public static void backward(float[] x, float[] dy, ChannelView view, double[] mean, double[] invStd,
                                double[] gamma, boolean throughBatchStatistics,
                                float[] dx, double[] dgamma, double[] dbeta) {
        int channels = view.channels();
        float[] center = new float[channels];
        for (int c = 0; c < channels; c++) {
            center[c] = (float) mean[c];
        }
        Sums total = new Sums(channels);
        Sums second = new Sums(channels);
        split(view, (from, to) -> gradientSums(x, dy, view, center, from, to, from == 0 ? total : second));
        total.add(second);
        double m = view.valuesPerChannel();
        float[] a = new float[channels];
        float[] b = new float[channels];
        float[] d = new float[channels];                            // dx = a * dy + b * (x - center) + d
        for (int c = 0; c < channels; c++) {
            // sum(dy * (x - mean)) from sums around the float centre: the centre differs from mean by rounding
            double sumDy = total.a[c];
            double sumDyXmu = total.b[c] - sumDy * (mean[c] - center[c]);
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
        split(view, (from, to) -> centredAffine(dy, x, a, b, center, d, view, from, to, dx));
    }

    private static void gradientSums(float[] x, float[] dy, ChannelView view, float[] center, int from, int to, Sums out) {
        int channels = view.channels();
        int inner = view.inner();
        if (inner == 1) {
            float[] s1 = new float[channels];
            float[] s2 = new float[channels];
            for (int o = from; o < to; o++) {
                int base = o * channels;
                for (int c = 0; c < channels; c++) {
                    float g = dy[base + c];
                    s1[c] += g;
                    s2[c] += g * (x[base + c] - center[c]);
                }
                if ((o - from) % FLUSH_ROWS == FLUSH_ROWS - 1 || o == to - 1) {
                    flush(s1, s2, out);
                }
            }
            return;
        }
        for (int o = from; o < to; o++) {
            for (int c = 0; c < channels; c++) {
                int base = (o * channels + c) * inner;
                float k = center[c];
                for (int i0 = 0; i0 < inner; i0 += FLUSH_VALUES) {
                    int i1 = Math.min(inner, i0 + FLUSH_VALUES);
                    float s1 = 0;
                    float s2 = 0;
                    for (int i = i0; i < i1; i++) {
                        float g = dy[base + i];
                        s1 += g;
                        s2 += g * (x[base + i] - k);
                    }
                    out.a[c] += s1;
                    out.b[c] += s2;
                }
            }
        }
    }

    /** {@code out = a[c] * u + b[c] * (v - k[c]) + d[c]} per element. */
    private static void centredAffine(float[] u, float[] v, float[] a, float[] b, float[] k, float[] d,
                                      ChannelView view, int from, int to, float[] out) {
        int channels = view.channels();
        int inner = view.inner();
        for (int o = from; o < to; o++) {
            if (inner == 1) {
                int base = o * channels;
                for (int c = 0; c < channels; c++) {
                    out[base + c] = a[c] * u[base + c] + b[c] * (v[base + c] - k[c]) + d[c];
                }
                continue;
            }
            for (int c = 0; c < channels; c++) {
                int base = (o * channels + c) * inner;
                float ac = a[c];
                float bc = b[c];
                float kc = k[c];
                float dc = d[c];
                for (int i = 0; i < inner; i++) {
                    out[base + i] = ac * u[base + i] + bc * (v[base + i] - kc) + dc;
                }
            }
        }
    }
}
