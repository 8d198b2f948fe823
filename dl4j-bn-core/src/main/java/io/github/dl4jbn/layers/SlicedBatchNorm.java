package io.github.dl4jbn.layers;

import io.github.dl4jbn.conf.NonFinitePolicy;
import io.github.dl4jbn.internal.kernels.ChannelMath;
import io.github.dl4jbn.internal.kernels.ChannelView;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * Batch Normalization's forward and backward over one mini-batch, whole or in ghost batches, on any
 * {@link LayerKernels}: per slice the statistics (Algorithm 1, lines 1-2), the guard, Batch Renormalization's
 * r and d, the normalization (lines 3-4), and the backward through them. It knows nothing of DL4J's layer API:
 * every tensor and per-channel value comes in as an argument, and what a forward leaves for its backward is
 * the {@link Forward} it returns. The per-channel arrays of the slices are reused from forward to forward, so
 * a {@code Forward} is valid until the next forward. Not thread-safe, like the layer that owns it.
 */
final class SlicedBatchNorm {

    /** Batch Renormalization's clipping bounds at this iteration (Ioffe 2017, Algorithm 1). */
    record Clip(double rMax, double dMax) {
    }

    /**
     * How a training forward treats its statistics.
     *
     * @param eps      added to the variance (Algorithm 1, line 3)
     * @param policy   what non-finite batch statistics do
     * @param clip     Batch Renormalization's bounds, or null for plain Batch Normalization
     * @param layerId  the layer's name, for messages
     * @param purpose  what the statistics are for ("training"), for messages
     */
    record Options(double eps, NonFinitePolicy policy, Clip clip, String layerId, String purpose) {
    }

    /**
     * One slice's forward: its range, layout, examples and m, the statistics it was normalized with, the channels whose running
     * statistics it must not update ({@code skip}, null for none), and the gamma and beta the passes ran with:
     * the layer's, or under Batch Renormalization {@code gamma r} and {@code beta + gamma d}.
     */
    static final class Slice {
        final double[] mean;
        final double[] variance;
        final double[] invStd;
        final double[] r;
        final double[] d;
        final double[] renormGamma;
        final double[] renormBeta;
        /** This slice's own dgamma and dbeta, before the slices' sum (slices may run concurrently). */
        final double[] dgamma;
        final double[] dbeta;
        TensorRange range;
        ChannelView view;
        long examples;
        long m;
        boolean[] skip;
        double[] gamma;
        double[] beta;
        /** Whether r and d apply (some channel has r != 1 or d != 0). */
        boolean renormed;

        Slice(int channels) {
            mean = new double[channels];
            variance = new double[channels];
            invStd = new double[channels];
            r = new double[channels];
            d = new double[channels];
            renormGamma = new double[channels];
            renormBeta = new double[channels];
            dgamma = new double[channels];
            dbeta = new double[channels];
        }
    }

    /**
     * What a forward keeps for its backward: per-channel vectors only, never a tensor.
     *
     * @param batchStatistics whether the slices were normalized with their own statistics (a training forward)
     * @param view            the layout of the whole input
     * @param slices          the slices, in the order of the batch axis, each with its own layout
     */
    record Forward(boolean batchStatistics, ChannelView view, Slice[] slices) {
    }

    private final LayerKernels kernels;
    private final StatisticsGuard guard;
    private final boolean floatRange;
    private Slice[] pool = new Slice[0];

    /**
     * @param kernels    the passes
     * @param guard      judges each slice's statistics before anything is written
     * @param floatRange whether the layer computes in float (its variances must fit a float)
     */
    SlicedBatchNorm(LayerKernels kernels, StatisticsGuard guard, boolean floatRange) {
        this.kernels = kernels;
        this.guard = guard;
        this.floatRange = floatRange;
    }

    /**
     * A training forward, Algorithm 1 per slice: each slice's mean and biased variance, judged by the guard, then
     * {@code y = gamma * (x - mu_B) / sqrt(var_B + eps) + beta} into that slice of {@code out}. Under Batch
     * Renormalization, {@code y = gamma * (xhat * r + d) + beta} with r and d from the running statistics.
     *
     * @param x           the input
     * @param mask        its mask, or null
     * @param view        the layout of the whole input
     * @param slices      the ghost batches ({@link GhostBatches#whole} for the whole mini-batch)
     * @param gamma       per-channel scale
     * @param beta        per-channel shift
     * @param runningMean the running mean, read by Batch Renormalization only (null without it)
     * @param runningVar  the running variance, read by Batch Renormalization only (null without it)
     * @param options     eps, the non-finite policy, the renorm bounds
     * @param out         the output, of x's shape
     * @return what the backward needs
     */
    Forward train(INDArray x, INDArray mask, ChannelView view, GhostBatches ghosts, double[] gamma, double[] beta,
                  double[] runningMean, double[] runningVar, Options options, INDArray out) {
        Slice[] slices = slices(ghosts.count(), view.channels());
        for (int s = 0; s < slices.length; s++) {
            slices[s].range = ghosts.range(s);
            slices[s].view = ghosts.view(s);
            slices[s].examples = ghosts.examples(s);
        }
        long largest = largestSlice(slices);
        KernelInput whole = KernelInput.whole(x, mask);
        kernels.forEachSlice(whole, null, slices.length, largest, s -> {                 // Algorithm 1, lines 1-2
            Slice sl = slices[s];
            sl.m = kernels.batchStatistics(new KernelInput(x, mask, sl.range), sl.view, sl.mean, sl.variance);
        });
        for (Slice sl : slices) {                                // every slice is judged before any is written
            KernelInput in = new KernelInput(x, mask, sl.range);
            sl.skip = guard.check(sl.mean, sl.variance, floatRange, options.policy(),
                    () -> kernels.countNonFinite(in, sl.view), options.layerId(), options.purpose());
            ChannelMath.inverseStd(sl.variance, options.eps(), sl.invStd);
            sl.gamma = gamma;
            sl.beta = beta;
            sl.renormed = options.clip() != null && ChannelMath.renorm(sl.mean, sl.variance, runningMean, runningVar,
                    options.eps(), options.clip().rMax(), options.clip().dMax(), sl.r, sl.d);
            if (sl.renormed) {                                   // r = 1, d = 0 otherwise: plain Batch Normalization
                ChannelMath.renormAffine(gamma, beta, sl.r, sl.d, sl.renormGamma, sl.renormBeta);
                sl.gamma = sl.renormGamma;
                sl.beta = sl.renormBeta;
            }
        }
        kernels.forEachSlice(whole, null, slices.length, largest, s -> {
            Slice sl = slices[s];
            kernels.normalize(new KernelInput(x, mask, sl.range), sl.view, sl.mean, sl.invStd, sl.gamma, sl.beta, out);
        });
        return new Forward(true, view, slices);
    }

    /**
     * An inference forward, Algorithm 2, line 11: {@code y = gamma * (x - E[x]) / sqrt(Var[x] + eps) + beta}
     * with the running statistics, over the whole mini-batch.
     *
     * @param m the values per channel (for a backward through this forward, which treats the statistics as constants)
     */
    Forward infer(INDArray x, INDArray mask, ChannelView view, long m, double[] gamma, double[] beta,
                  double[] runningMean, double[] runningVar, double eps, INDArray out) {
        Slice sl = slices(1, view.channels())[0];
        sl.range = TensorRange.WHOLE;
        sl.view = view;
        sl.examples = x.size(0);
        sl.m = m;
        sl.skip = null;
        sl.renormed = false;
        System.arraycopy(runningMean, 0, sl.mean, 0, sl.mean.length);
        ChannelMath.inverseStd(runningVar, eps, sl.invStd);
        sl.gamma = gamma;
        sl.beta = beta;
        kernels.normalize(KernelInput.whole(x, mask), view, sl.mean, sl.invStd, gamma, beta, out);
        return new Forward(false, view, new Slice[]{sl});
    }

    /** The forward's output again, into {@code out}: for an activation's backward, which needs its input. */
    void normalizeAgain(Forward f, INDArray x, INDArray mask, INDArray out) {
        for (Slice sl : f.slices()) {
            kernels.normalize(new KernelInput(x, mask, sl.range), sl.view, sl.mean, sl.invStd, sl.gamma, sl.beta, out);
        }
    }

    /**
     * The backward pass of a forward, per slice with its own statistics and m: dx, and the sums over the slices
     * of dgamma ({@code sum(dy * xhat)}, under Batch Renormalization {@code r sum(dy xhat) + d sum(dy)}) and
     * dbeta ({@code sum(dy)}). Through the batch statistics after a training forward, with the statistics as
     * constants after an inference forward. A forward may be differentiated any number of times.
     */
    void backward(Forward f, INDArray x, INDArray mask, INDArray dy, INDArray dx, double[] dgamma, double[] dbeta) {
        Slice[] slices = f.slices();
        kernels.forEachSlice(KernelInput.whole(x, mask), dy, slices.length, largestSlice(slices), s -> {
            Slice sl = slices[s];
            kernels.backward(new KernelInput(x, mask, sl.range), dy, sl.view, sl.m, sl.mean, sl.invStd, sl.gamma,
                    f.batchStatistics(), dx, sl.dgamma, sl.dbeta);
        });
        Arrays.fill(dgamma, 0.0);
        Arrays.fill(dbeta, 0.0);
        for (Slice sl : slices) {                                // in slice order: the same bits on any thread
            if (sl.renormed) {
                ChannelMath.renormGammaGradient(sl.dgamma, sl.dbeta, sl.r, sl.d);        // r sum(dy xhat) + d sum(dy)
            }
            for (int c = 0; c < dgamma.length; c++) {
                dgamma[c] += sl.dgamma[c];                       // gamma and beta are shared by the slices
                dbeta[c] += sl.dbeta[c];
            }
        }
    }

    /** @return the values of the largest slice: whether slices run concurrently depends on it */
    private static long largestSlice(Slice[] slices) {
        long largest = 0;
        for (Slice sl : slices) {
            largest = Math.max(largest, sl.view.size());
        }
        return largest;
    }

    /** {@code count} slices of {@code channels} channels, reused when the shape repeats. */
    private Slice[] slices(int count, int channels) {
        if (pool.length != count || pool[0].mean.length != channels) {
            pool = new Slice[count];
            for (int s = 0; s < count; s++) {
                pool[s] = new Slice(channels);
            }
        }
        return pool;
    }
}
