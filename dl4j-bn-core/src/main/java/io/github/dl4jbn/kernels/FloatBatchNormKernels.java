package io.github.dl4jbn.kernels;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.InvocationTargetException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The FLOAT counterpart of {@link BatchNormKernels}: the same steps on float tensors held in native-order
 * {@link ByteBuffer}s (ND4J's off-heap arrays, or heap buffers in tests), written for speed.
 *
 * <p>The math lives here once; the passes over memory are a {@link FloatPasses}: {@link #VECTOR}, with the JDK
 * Vector API straight on the buffers (needs {@code --add-modules jdk.incubator.vector} at JVM start, an
 * incubator module in Java 17; JDK 19 and later have no ByteBuffer vector access and take the heap passes), or
 * {@link #HEAP}, plain Java through cache-sized heap chunks, for any JVM.
 * {@link #best()} picks the first one available, as Lucene does; both are tested against the double kernels.
 * Each pass streams the tensor once, so the memory traffic per element is that of an ideal fused kernel:
 * training forward reads x twice and writes y once (12 bytes in float), inference 8, backward 20. Sums are
 * accumulated in float over short runs, relative to a per-channel shift (one sample of the channel), and flushed
 * into double, so a large mean with a small spread keeps its accuracy without a second pass. Large tensors are
 * cut into chunks along the outer axis, run on the calling thread and on {@link PassThreads}' helpers.
 *
 * <p>Forward and backward side by side, as in {@link BatchNormKernels}: the forward leaves {@code mean} and
 * {@code invStd} per channel (double), the backward recomputes {@code xhat} from x.
 */
public final class FloatBatchNormKernels {

    private static final Logger log = LoggerFactory.getLogger(FloatBatchNormKernels.class);

    /**
     * Values per chunk of a pass split over {@link PassThreads}: 32 Ki values (128 KiB) take a few microseconds
     * per pass, several times the hand-over to a spinning helper. Depends on the shape only, so the sums (added
     * chunk by chunk in order) are the same on any machine and thread count.
     */
    static final int CHUNK_VALUES = 1 << 15;
    /** Least values a chunk of a sums pass adds per accumulator (see {@link #sumOverUnits}). */
    static final int VALUES_PER_ACCUMULATOR = 16;
    /** Least values of a chunk of a sums pass: each chunk sets up and flushes its own partial sums. */
    static final int SUM_CHUNK_VALUES = 1 << 16;

    /** Plain Java through heap chunks: any JVM. */
    public static final FloatBatchNormKernels HEAP = new FloatBatchNormKernels(new HeapChunkPasses(), "heap chunks");
    /**
     * The JDK Vector API on the buffers themselves, or null when jdk.incubator.vector is not in the JVM or its API
     * is not Java 17's (JDK 19 and later).
     */
    public static final FloatBatchNormKernels VECTOR = vectorIfPresent();
    private static final FloatBatchNormKernels BEST = chooseBest();

    private final FloatPasses passes;
    private final String name;

    private FloatBatchNormKernels(FloatPasses passes, String name) {
        this.passes = passes;
        this.name = name;
    }

    /**
     * The fastest implementation this JVM can run: {@link #VECTOR} when the JVM was started with
     * {@code --add-modules jdk.incubator.vector} on a JDK 17 or 18 (and {@code -Ddl4jbn.vector=false} is not
     * set), else {@link #HEAP}. Logged once at first use.
     *
     * @return the kernels to use
     */
    public static FloatBatchNormKernels best() {
        return BEST;
    }

    private static boolean vectorModulePresent() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    private static FloatBatchNormKernels vectorIfPresent() {
        return vectorModulePresent() ? load("io.github.dl4jbn.kernels.VectorPasses", "JDK Vector API") : null;
    }

    /**
     * Kernels over the {@link FloatPasses} class {@code className}, or null, with a warning, when that class
     * cannot load or run on this JVM (its constructor checks what it needs).
     */
    static FloatBatchNormKernels load(String className, String name) {
        try {
            FloatPasses passes = (FloatPasses) Class.forName(className).getDeclaredConstructor().newInstance();
            return new FloatBatchNormKernels(passes, name);
        } catch (InvocationTargetException e) {
            log.warn("dl4j-bn: the {} kernels cannot run here ({}); using heap chunks", name, e.getCause().getMessage());
            return null;
        } catch (ReflectiveOperationException | LinkageError e) {
            log.warn("dl4j-bn: the {} kernels failed to load ({}); using heap chunks", name, e.toString());
            return null;
        }
    }

    private static FloatBatchNormKernels chooseBest() {
        boolean wanted = !"false".equalsIgnoreCase(System.getProperty("dl4jbn.vector"));
        FloatBatchNormKernels best = wanted && VECTOR != null ? VECTOR : HEAP;
        log.info("dl4j-bn FLOAT kernels: {}, up to {} thread(s) per pass on large tensors (-Ddl4jbn.threads){}",
                best.name, PassThreads.parallelism(), best == HEAP && !vectorModulePresent()
                        ? " (start the JVM with --add-modules jdk.incubator.vector for the Vector API kernels)" : "");
        return best;
    }

    /** @return which implementation this is, for logs */
    @Override
    public String toString() {
        return name;
    }

    /** Per-channel pairs of sums of one chunk of a pass. */
    static final class Sums {
        final double[] a;
        final double[] b;

        /** Chunk {@code chunk}'s sums, zero, in the calling thread's {@link Scratch}. */
        Sums(int chunk, int channels) {
            a = Scratch.doubles(Scratch.CHUNK_SUMS + 2 * chunk, channels);
            b = Scratch.doubles(Scratch.CHUNK_SUMS + 2 * chunk + 1, channels);
            Arrays.fill(a, 0.0);
            Arrays.fill(b, 0.0);
        }

        void add(Sums other) {
            for (int c = 0; c < a.length; c++) {
                a[c] += other.a[c];
                b[c] += other.b[c];
            }
        }
    }

    /** Sums over units [from, to) of a view into {@code sums}. */
    interface SumRows {
        void run(int from, int to, Sums sums);
    }

    /** Writes units [from, to) of a view. */
    interface Rows {
        void run(int from, int to);
    }

    /**
     * The unit a pass is made of: a row of C values for channels-last views ({@code inner == 1}), a plane of
     * {@code inner} values of one channel for channels-first ones.
     */
    static int unitLength(ChannelView view) {
        return view.inner() == 1 ? view.channels() : view.inner();
    }

    static int units(ChannelView view) {
        return view.inner() == 1 ? view.outer() : view.outer() * view.channels();
    }

    /** Sums over every unit of a view, in chunks over the {@link PassThreads} (see {@link #sumOverUnits}). */
    static Sums sumOverRows(ChannelView view, SumRows rows) {
        return sumOverUnits(units(view), view.size(), view.channels(), view.channels(), rows);
    }

    /** Writes every unit of a view, in chunks over the {@link PassThreads}. */
    static void overRows(ChannelView view, Rows rows) {
        overUnits(units(view), view.size(), rows);
    }

    /** Chunks of a pass over {@code units} units holding {@code size} values: about {@link #CHUNK_VALUES} each. */
    private static int chunks(int units, int size) {
        return Math.min(units, Math.max(1, size / CHUNK_VALUES));
    }

    private static int chunkStart(int units, int chunks, int i) {
        return (int) ((long) units * i / chunks);
    }

    /**
     * Sums over units [0, units) of a tensor of {@code size} values: each chunk into its own sums, added in chunk
     * order, so the result does not depend on which thread ran which chunk. A chunk sums at least
     * {@link #SUM_CHUNK_VALUES} values and {@link #VALUES_PER_ACCUMULATOR} per accumulator it keeps, so its
     * set-up and flush stay a small part.
     *
     * @param accumulators how many accumulators a chunk keeps (channels, or the positions of a row)
     */
    static Sums sumOverUnits(int units, int size, int channels, int accumulators, SumRows rows) {
        int chunks = Math.max(1, Math.min(Math.min(units, size / SUM_CHUNK_VALUES),
                size / (VALUES_PER_ACCUMULATOR * accumulators)));
        Sums[] sums = new Sums[chunks];
        for (int i = 0; i < chunks; i++) {
            sums[i] = new Sums(i, channels);
        }
        PassThreads.run(chunks, i -> rows.run(chunkStart(units, chunks, i), chunkStart(units, chunks, i + 1), sums[i]));
        for (int i = 1; i < chunks; i++) {
            sums[0].add(sums[i]);
        }
        return sums[0];
    }

    /** Writes units [0, units) of a tensor of {@code size} values, in chunks over the {@link PassThreads}. */
    static void overUnits(int units, int size, Rows rows) {
        int chunks = chunks(units, size);
        PassThreads.run(chunks, i -> rows.run(chunkStart(units, chunks, i), chunkStart(units, chunks, i + 1)));
    }

    /**
     * Algorithm 1, lines 1-2: per-channel mean and biased variance, from shifted sums
     * {@code S1 = sum(x - k)}, {@code S2 = sum((x - k)^2)}: {@code mean = k + S1/m}, {@code var = S2/m - (S1/m)^2}.
     *
     * @param x    input, native-order floats
     * @param base element index of the input's first value in {@code x}
     * @param view layout of {@code x}
     * @param mean output, per channel
     * @param var  output, per channel
     */
    public void batchMeanAndVariance(ByteBuffer x, int base, ChannelView view, double[] mean, double[] var) {
        int channels = view.channels();
        int inner = view.inner();
        float[] shift = Scratch.floats(Scratch.SHIFT, channels);
        for (int c = 0; c < channels; c++) {
            shift[c] = x.getFloat(4 * (base + c * inner));                    // a sample of the channel: first value of row 0
        }
        Sums total = passes.sums(x, base, null, 0, view, shift);
        double perValue = 1.0 / view.valuesPerChannel();                // a product per channel, not two divisions
        for (int c = 0; c < channels; c++) {
            double d = total.a[c] * perValue;
            mean[c] = shift[c] + d;
            var[c] = Math.max(0.0, total.b[c] * perValue - d * d);
        }
    }

    /**
     * Algorithm 1, lines 3-4, or Algorithm 2, line 11: {@code y = gamma * (x - mean) * invStd + beta}, computed
     * as {@code y = s * (x - k) + t} per channel with {@code k} the mean rounded to float (no cancellation for a
     * large mean).
     *
     * @param x      input, native-order floats
     * @param xBase  element index of the input's first value in {@code x}
     * @param view   layout of {@code x} and {@code y}
     * @param mean   per-channel mean
     * @param invStd per-channel {@code 1/sqrt(var + eps)}
     * @param gamma  per-channel scale
     * @param beta   per-channel shift
     * @param y      output; may be {@code x}
     * @param yBase  element index of the output's first value in {@code y}
     */
    public void normalize(ByteBuffer x, int xBase, ChannelView view, double[] mean, double[] invStd, double[] gamma,
                          double[] beta, ByteBuffer y, int yBase) {
        int channels = view.channels();
        float[] scale = Scratch.floats(Scratch.SCALE, channels);
        float[] center = Scratch.floats(Scratch.CENTER, channels);
        float[] shift = Scratch.floats(Scratch.SHIFT, channels);
        for (int c = 0; c < channels; c++) {
            double s = gamma[c] * invStd[c];
            center[c] = (float) mean[c];
            scale[c] = (float) s;
            shift[c] = (float) (beta[c] - (mean[c] - center[c]) * s);
        }
        passes.affine(null, 0, x, xBase, null, scale, center, shift, view, y, yBase);
    }

    /**
     * Backward pass of {@link #normalize}; see {@link BatchNormKernels#backward} for the formulas. One streaming
     * pass takes {@code sum(dy)} and {@code sum(dy * (x - mean))}, a second computes
     * {@code dx = a * dy + b * (x - k) + d} per channel.
     *
     * @param x                      the forward input
     * @param xBase                  element index of its first value in {@code x}
     * @param dy                     gradient with respect to y
     * @param dyBase                 element index of its first value in {@code dy}
     * @param view                   layout of {@code x}, {@code dy} and {@code dx}
     * @param mean                   the mean the forward used
     * @param invStd                 the {@code 1/sqrt(var + eps)} the forward used
     * @param gamma                  per-channel scale
     * @param throughBatchStatistics true after a training forward
     * @param dx                     output; may be {@code dy}
     * @param dxBase                 element index of its first value in {@code dx}
     * @param dgamma                 output: {@code sum(dy * xhat)} per channel
     * @param dbeta                  output: {@code sum(dy)} per channel
     */
    public void backward(ByteBuffer x, int xBase, ByteBuffer dy, int dyBase, ChannelView view, double[] mean,
                         double[] invStd, double[] gamma, boolean throughBatchStatistics,
                         ByteBuffer dx, int dxBase, double[] dgamma, double[] dbeta) {
        int channels = view.channels();
        float[] center = Scratch.floats(Scratch.CENTER, channels);
        for (int c = 0; c < channels; c++) {
            center[c] = (float) mean[c];
        }
        Sums total = passes.sums(x, xBase, dy, dyBase, view, center);
        double perValue = 1.0 / view.valuesPerChannel();
        float[] a = Scratch.floats(Scratch.SLOPE, channels);
        float[] b = Scratch.floats(Scratch.SCALE, channels);
        float[] d = Scratch.floats(Scratch.SHIFT, channels);       // dx = a * dy + b * (x - center) + d
        for (int c = 0; c < channels; c++) {
            double sumDy = total.a[c];
            double sumDyXmu = total.b[c] - sumDy * (mean[c] - center[c]);   // sums were taken around the float centre
            dbeta[c] = sumDy;
            dgamma[c] = sumDyXmu * invStd[c];
            double scale = gamma[c] * invStd[c];
            a[c] = (float) scale;
            if (throughBatchStatistics) {
                // dx = scale * (dy - sumDy/m - (x - mean) * k), k = invStd^2 * sumDyXmu / m
                double k = invStd[c] * invStd[c] * sumDyXmu * perValue;
                b[c] = (float) (-scale * k);
                d[c] = (float) (-scale * (sumDy * perValue + (center[c] - mean[c]) * k));
            } else {
                b[c] = 0f;                                          // statistics held constant: dx = scale * dy
                d[c] = 0f;
            }
        }
        passes.affine(dy, dyBase, x, xBase, a, b, center, d, view, dx, dxBase);
    }

}
