package io.github.dl4jbn.internal.kernels;

/**
 * Batch Normalization's steps, written once for every kind of tensor and element type: Algorithm 1's
 * statistics, the normalization of Algorithm 1 (lines 3-4) or Algorithm 2 (line 11), and the backward pass.
 * Each step is passes ({@link TensorPasses}: over native memory, or an array library's ops) around the
 * per-channel arithmetic of {@link ChannelMath}; this class only joins them. What a training forward leaves for the backward
 * is two per-channel vectors, the mean and {@code invStd}; the backward recomputes {@code xhat} from x.
 *
 * <p>A mask, where given, holds one value per {@code (outer, inner)} position of the {@link ChannelView} (a
 * recurrent input's {@code [mb, T]} features mask), 0 where the position is padding: padded positions add
 * nothing to any statistic or sum, and their output and dx are 0 whatever the input holds there. Masks are of
 * the computation's type: FLOAT for float kernels, DOUBLE for double ones.
 */
public final class BatchNormKernels<T> {

    private final TensorPasses<T> passes;
    /** Exact double statistics over the same float elements, for float sums that overflow; or null. */
    private final TensorPasses<T> exact;

    private BatchNormKernels(TensorPasses<T> passes, TensorPasses<T> exact) {
        this.passes = passes;
        this.exact = exact;
    }

    /**
     * The steps over any tensors: the passes of an array library, say.
     *
     * @param passes the two passes over such tensors
     * @param <T>    how a tensor is held
     * @return the steps
     */
    public static <T> BatchNormKernels<T> over(TensorPasses<T> passes) {
        return new BatchNormKernels<>(passes, null);
    }

    /**
     * FLOAT tensors with the fastest loops this JVM runs, chosen once by {@link KernelProvider}.
     *
     * @return the kernels
     */
    public static BatchNormKernels<TensorMemory> floats() {
        return new BatchNormKernels<>(new MemoryPasses(KernelProvider.bestFloat()), new MemoryPasses(new DoublePasses(true)));
    }

    /**
     * FLOAT tensors with the plain Java loops, which every JVM runs.
     *
     * @return the kernels
     */
    public static BatchNormKernels<TensorMemory> plainFloats() {
        return new BatchNormKernels<>(new MemoryPasses(KernelProvider.plainFloat()), new MemoryPasses(new DoublePasses(true)));
    }

    /**
     * 16-bit tensors (HALF, BFLOAT16), computed in float chunks with the plain Java loops.
     *
     * @param codec how the elements are stored
     * @return the kernels
     */
    public static BatchNormKernels<TensorMemory> sixteenBit(FloatCodec codec) {
        return new BatchNormKernels<>(new MemoryPasses(new FloatPasses<>(new HeapLoops(codec), codec, "plain Java, " + codec)), null);
    }

    /**
     * DOUBLE tensors, in double precision throughout, statistics in two passes.
     *
     * @return the kernels
     */
    public static BatchNormKernels<TensorMemory> doubles() {
        return new BatchNormKernels<>(new MemoryPasses(new DoublePasses(false)), null);
    }

    /** @return which loops run, for logs */
    @Override
    public String toString() {
        return passes.name();
    }

    /**
     * The number of valid positions of a mask: the m of every channel's statistics.
     *
     * @param mask one FLOAT or DOUBLE value per position, 0 where padded
     * @return how many values are not 0
     */
    public static long validPositions(TensorMemory mask) {
        return MemoryPasses.countValid(mask);
    }

    /**
     * Algorithm 1, lines 1-2: per-channel mean {@code mu_B} and biased variance {@code var_B} over the valid
     * values. Float sums that overflow (a variance near {@code Float.MAX_VALUE}) are taken again exactly in
     * double; a NaN or infinite input leaves non-finite statistics for the caller to judge.
     *
     * @param x    the input
     * @param mask the mask, or null
     * @param view the layout of x
     * @param mean output, per channel
     * @param var  output, per channel
     * @return m, the number of values per channel
     */
    public long batchStatistics(T x, T mask, ChannelView view, double[] mean, double[] var) {
        long m = mask == null ? view.valuesPerChannel() : passes.validPositions(mask);
        if (m == 0) {
            java.util.Arrays.fill(mean, Double.NaN);
            java.util.Arrays.fill(var, Double.NaN);
            return 0;
        }
        statistics(passes, x, mask, view, m, mean, var);
        if (exact != null && !allFinite(mean, var)) {
            statistics(exact, x, mask, view, m, mean, var);          // the float sums overflowed, or x is not finite
        }
        return m;
    }

    /** One pass around a value of each channel, and for two-pass passes a second around the mean. */
    private static <T> void statistics(TensorPasses<T> p, T x, T mask, ChannelView view, long m, double[] mean,
                                       double[] var) {
        int channels = view.channels();
        double[] centre = Scratch.doubles(Scratch.CALL_CENTRE, channels);
        double[] s1 = Scratch.doubles(Scratch.CALL_S1, channels);
        double[] s2 = Scratch.doubles(Scratch.CALL_S2, channels);
        p.firstValidValues(x, mask, view, centre);
        p.sums(view, x, null, mask, centre, s1, s2);
        ChannelMath.statistics(s1, s2, centre, m, mean, var);
        if (p.twoPassStatistics()) {
            for (int c = 0; c < channels; c++) {
                centre[c] = p.representable(mean[c]);
            }
            p.sums(view, x, null, mask, centre, s1, s2);
            ChannelMath.statistics(s1, s2, centre, m, mean, var);
        }
    }

    private static boolean allFinite(double[] mean, double[] var) {
        for (int c = 0; c < mean.length; c++) {
            if (!Double.isFinite(mean[c]) || !Double.isFinite(var[c])) {
                return false;
            }
        }
        return true;
    }

    /**
     * Algorithm 1, lines 3-4 (batch statistics) or Algorithm 2, line 11 (population statistics):
     * {@code y = gamma * (x - mean) * invStd + beta}, 0 at padded positions.
     *
     * @param x      the input
     * @param mask   the mask, or null
     * @param view   the layout of x and y
     * @param mean   per-channel mean
     * @param invStd per-channel {@code 1/sqrt(var + eps)}
     * @param gamma  per-channel scale
     * @param beta   per-channel shift
     * @param y      the output; may be x
     */
    public void normalize(T x, T mask, ChannelView view, double[] mean, double[] invStd, double[] gamma, double[] beta,
                          T y) {
        int channels = view.channels();
        double[] centre = centres(mean, channels);
        double[] scale = Scratch.doubles(Scratch.CALL_B, channels);
        double[] shift = Scratch.doubles(Scratch.CALL_D, channels);
        ChannelMath.affine(mean, invStd, gamma, beta, centre, scale, shift);
        passes.affine(view, x, null, mask, null, scale, centre, shift, y);
    }

    /**
     * The backward pass of {@link #normalize} (see {@link ChannelMath#backward}): one pass takes
     * {@code sum(dy)} and {@code sum(dy * (x - k))} over the valid values, a second writes dx.
     *
     * @param x                      the forward input
     * @param dy                     gradient with respect to y
     * @param mask                   the mask the forward used, or null
     * @param view                   the layout of x, dy and dx
     * @param m                      values per channel, as {@link #batchStatistics} returned it
     * @param mean                   the mean the forward used
     * @param invStd                 the {@code 1/sqrt(var + eps)} the forward used
     * @param gamma                  per-channel scale
     * @param throughBatchStatistics true after a training forward
     * @param dx                     output; may be dy
     * @param dgamma                 output, {@code sum(dy * xhat)}
     * @param dbeta                  output, {@code sum(dy)}
     */
    public void backward(T x, T dy, T mask, ChannelView view, long m, double[] mean, double[] invStd, double[] gamma,
                         boolean throughBatchStatistics, T dx, double[] dgamma, double[] dbeta) {
        int channels = view.channels();
        double[] centre = centres(mean, channels);
        double[] sumDy = Scratch.doubles(Scratch.CALL_S1, channels);
        double[] sumDyCentred = Scratch.doubles(Scratch.CALL_S2, channels);
        passes.sums(view, x, dy, mask, centre, sumDy, sumDyCentred);
        double[] a = Scratch.doubles(Scratch.CALL_A, channels);
        double[] b = Scratch.doubles(Scratch.CALL_B, channels);
        double[] d = Scratch.doubles(Scratch.CALL_D, channels);
        ChannelMath.backward(sumDy, sumDyCentred, mean, centre, invStd, gamma, m, throughBatchStatistics,
                dgamma, dbeta, a, b, d);
        passes.affine(view, x, dy, mask, a, b, centre, d, dx);
    }

    /** The mean rounded to the element type: a centre the loops subtract exactly. */
    private double[] centres(double[] mean, int channels) {
        double[] centre = Scratch.doubles(Scratch.CALL_CENTRE, channels);
        for (int c = 0; c < channels; c++) {
            centre[c] = passes.representable(mean[c]);
        }
        return centre;
    }

    /**
     * Counts the NaN and infinite values at valid positions of a FLOAT or DOUBLE input, for an error message.
     *
     * @param x    the input
     * @param mask the mask, or null
     * @param view the layout of x
     * @return how many values are not finite
     */
    public static long countNonFinite(TensorMemory x, TensorMemory mask, ChannelView view) {
        return new DoublePasses(x.elementBytes() == 4).countNonFinite(view, x, mask);
    }
}
