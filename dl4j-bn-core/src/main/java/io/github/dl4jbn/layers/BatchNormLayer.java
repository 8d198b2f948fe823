package io.github.dl4jbn.layers;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.Renorm;
import io.github.dl4jbn.conf.VarianceEstimate;
import io.github.dl4jbn.kernels.ChannelMath;
import io.github.dl4jbn.kernels.ChannelView;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.BaseLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * The runtime Batch Normalization layer configured by {@link BatchNorm}: a thin adapter between DL4J's layer
 * API and the kernels ({@link io.github.dl4jbn.kernels}).
 *
 * <p>{@code activate(training=true)} normalizes with the batch's mean and biased variance (Algorithm 1);
 * {@code activate(training=false)} with the stored population mean and variance (Algorithm 2).
 * {@code backpropGradient} differentiates whichever forward ran last: through the batch statistics after a
 * training forward, with the statistics as constants after an inference forward (as inside
 * {@code FrozenLayerWithBackprop}). The running statistics move only in the backward pass of a training
 * forward, once per training iteration, written straight into the parameter vector.
 *
 * <p>With a features mask (a recurrent input's {@code [mb, T]}, or {@code [mb * T, 1]} after an RNN-to-FF
 * preprocessor) the padded steps take no part in anything: not the batch or running statistics, not the m of
 * {@code m/(m-1)}, not dgamma or dbeta; their output and dx are 0, as DL4J's recurrent layers do, and the mask
 * goes on unchanged to the next layer.
 *
 * <p>Every check runs before anything is written, so a call that throws leaves parameters, running statistics
 * and the gradient untouched.
 */
public class BatchNormLayer extends BaseLayer<BatchNorm> {

    /**
     * What a forward pass keeps for the backward pass: per-channel vectors only, never a tensor. One slice per
     * ghost batch (one for the whole mini-batch without them), {@code rows} examples each.
     */
    private record ForwardCache(long rows, boolean batchStatistics, Slice[] slices) {
    }

    /**
     * One slice's forward: its view and m, the statistics it was normalized with, {@code skip} for channels
     * whose running statistics it must not update (non-finite, under SKIP), and the gamma and beta the passes
     * ran with: the layer's, or under Batch Renormalization {@code gamma r} and {@code beta + gamma d}
     * ({@code r}, {@code d} null when they are 1 and 0).
     */
    private record Slice(ChannelView view, long m, double[] mean, double[] invStd, double[] batchVariance,
                         boolean[] skip, double[] gamma, double[] beta, double[] r, double[] d) {
    }

    /** The passes this layer runs: host memory kernels on ND4J's CPU backend, ND4J ops elsewhere. */
    private final LayerKernels kernels;
    /** Per-channel arrays reused from call to call; the cache of the last forward points into them. */
    private final ChannelArrays arrays;
    /** Checks the batch statistics before anything is written, and rate-limits the SKIP warnings. */
    private final StatisticsGuard guard = new StatisticsGuard();
    /** Whether the layer's data type is narrower than DOUBLE, so its statistics must fit a float. */
    private final boolean floatRange;
    /** What the last training forward kept for the backward pass (x-hat's terms), or null. */
    private ForwardCache cache;
    /** Set while Algorithm 2's population pass is collecting, otherwise null. */
    private PopulationAverage populationAverage;
    /** Batches the population pass has seen, skipped ones included. */
    private long populationBatches;

    /**
     * Creates the layer; DL4J calls this through {@link BatchNorm#instantiate}.
     *
     * @param conf     the layer's configuration
     * @param dataType the network's data type
     */
    public BatchNormLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
        this.kernels = LayerKernels.forType(dataType);
        this.arrays = new ChannelArrays(kernels.hostMemory());
        this.floatRange = dataType != DataType.DOUBLE;
    }

    @Override
    public Type type() {
        return Type.NORMALIZATION;
    }

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    @Override
    public void clearNoiseWeightParams() {
        // no weight noise on normalization parameters
    }

    @Override
    public void clear() {
        super.clear();
        cache = null;
    }

    /**
     * Normalizes the input: with batch statistics when training (Algorithm 1), with the population statistics
     * otherwise (Algorithm 2, line 11), then applies the layer's activation (identity by default). Padded steps
     * of a masked input are 0.
     *
     * @param training     true for a training forward pass
     * @param workspaceMgr DL4J's workspace manager; the result lives in {@link ArrayType#ACTIVATIONS}
     * @return the normalized output, same shape as the input
     * @throws DL4JInvalidInputException on a wrong rank, channel count, format or mask, one value per channel
     *                                   in training, or batch statistics the layer cannot use (see
     *                                   {@link BatchNorm.Builder#nonFiniteBatches})
     */
    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        ChannelView view = InputLayout.of(input.shape(), layerConf(), layerId());
        INDArray mask = InputLayout.mask(maskArray, input.shape(), view, layerId());
        long rows = training ? ghostBatchRows() : input.size(0);
        int count = (int) (input.size(0) / rows);
        applyDropOutIfNecessary(training, workspaceMgr);
        INDArray output = HostArrays.createUninitialized(workspaceMgr, ArrayType.ACTIVATIONS, dataType, input.shape());
        ChannelView sliceView = count == 1 ? view : InputLayout.of(sliceShape(rows), layerConf(), layerId());
        Slice[] slices = new Slice[count];
        for (int s = 0; s < count; s++) {                        // per ghost batch; nothing is written yet
            slices[s] = forward(training, sliceView, mask, output, count == 1 ? -1 : s, rows);
        }
        cache = new ForwardCache(rows, training, slices);
        if (!(layerConf().getActivationFn() instanceof ActivationIdentity)) {
            output = layerConf().getActivationFn().getActivation(output, training);
            if (mask != null) {
                zeroPaddedSteps(output);                         // act(0) need not be 0; DL4J's RNNs give 0
            }
        }
        return output;
    }

    /**
     * Normalizes one slice of the input (the whole mini-batch, or one ghost batch) into its part of {@code out}.
     *
     * @param slice the ghost batch, or -1 for the whole mini-batch
     * @param rows  examples per ghost batch
     */
    private Slice forward(boolean training, ChannelView view, INDArray mask, INDArray out, int slice, long rows) {
        boolean collecting = !training && populationAverage != null;
        String name = slice < 0 ? "" : "@" + slice;
        kernels.loadMask(mask);
        kernels.loadInput(input);
        restrictToSlice(mask, slice, rows);
        long valid = mask == null ? view.valuesPerChannel() : kernels.validPositions();
        if ((training || collecting) && valid < 2) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId() + ": "
                    + (training ? "training" : "estimating population statistics") + " needs more than one value per "
                    + "channel to compute a batch variance, got input shape " + Arrays.toString(input.shape())
                    + (slice < 0 ? "" : " in ghost batches of " + rows + " examples")
                    + (mask == null ? "" : " with " + valid + " unmasked position(s)")
                    + " (" + valid + " value per channel); use a mini-batch of 2 or more"
                    + (training ? ", or inference mode" : ""));
        }
        if (collecting) {
            collectBatchStatistics(view);
        }
        int channels = view.channels();
        double[] gamma = gammaOrBeta(BatchNormParamInitializer.GAMMA, channels);
        double[] beta = gammaOrBeta(BatchNormParamInitializer.BETA, channels);
        if (!training) {
            double[] mean = param(BatchNormParamInitializer.MEAN);
            double[] invStd = arrays.get("invStd", channels);
            ChannelMath.inverseStd(param(BatchNormParamInitializer.VAR), layerConf().getEps(), invStd);
            kernels.normalize(view, mean, invStd, gamma, beta, out);           // Algorithm 2, line 11
            return new Slice(view, valid, mean, invStd, null, null, gamma, beta, null, null);
        }
        double[] mean = arrays.get("batchMean" + name, channels);
        double[] variance = arrays.get("batchVariance" + name, channels);
        long m = kernels.batchStatistics(view, mean, variance);                 // Algorithm 1, lines 1-2
        boolean[] skip = guard.check(mean, variance, floatRange, layerConf().getNonFiniteBatches(),
                () -> kernels.countNonFinite(view), layerId(), "training");
        double[] invStd = arrays.get("invStd" + name, channels);
        ChannelMath.inverseStd(variance, layerConf().getEps(), invStd);
        double[] r = null;
        double[] d = null;
        Renorm renorm = layerConf().getRenorm();
        if (renorm != null) {                                   // Batch Renormalization: xhat r + d, r and d constants
            r = arrays.get("renormR" + name, channels);
            d = arrays.get("renormD" + name, channels);
            long iteration = getIterationCount();
            if (ChannelMath.renorm(mean, variance, param(BatchNormParamInitializer.MEAN), param(BatchNormParamInitializer.VAR),
                    layerConf().getEps(), renorm.rMaxAt(iteration), renorm.dMaxAt(iteration), r, d)) {
                double[] scaled = arrays.get("renormGamma" + name, channels);
                double[] shifted = arrays.get("renormBeta" + name, channels);
                ChannelMath.renormAffine(gamma, beta, r, d, scaled, shifted);
                gamma = scaled;
                beta = shifted;
            } else {
                r = null;                                       // r = 1, d = 0: plain Batch Normalization, bit for bit
                d = null;
            }
        }
        kernels.normalize(view, mean, invStd, gamma, beta, out);               // Algorithm 1, lines 3-4
        return new Slice(view, m, mean, invStd, variance, skip, gamma, beta, r, d);
    }

    /**
     * @return examples per ghost batch in training: the configured virtual batch size, or the whole mini-batch
     * @throws DL4JInvalidInputException if the mini-batch is no multiple of the virtual batch size
     */
    private long ghostBatchRows() {
        int k = layerConf().getVirtualBatchSize();
        long examples = input.size(0);
        if (k == 0 || k == examples) {
            return examples;
        }
        if (examples % k != 0) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId() + ": virtualBatchSize " + k + " needs a "
                    + "mini-batch that is a multiple of " + k + " examples in training, got " + examples
                    + " (input shape " + Arrays.toString(input.shape()) + ")");
        }
        return k;
    }

    /** The input's shape with {@code rows} examples: one ghost batch's. */
    private long[] sliceShape(long rows) {
        long[] shape = input.shape().clone();
        shape[0] = rows;
        return shape;
    }

    /** Restricts the kernels to ghost batch {@code slice} of {@code rows} examples, if it is one (slice >= 0). */
    private void restrictToSlice(INDArray mask, int slice, long rows) {
        if (slice < 0) {
            return;
        }
        long examples = input.size(0);
        long elements = input.length() / examples * rows;                 // rows examples are contiguous
        long positions = mask == null ? 0 : mask.length() / examples * rows;
        kernels.restrict(new TensorRange(slice * elements, elements, slice * positions, positions));
    }

    /** Multiplies an array of the input's shape by the mask, broadcast along the channels. */
    private void zeroPaddedSteps(INDArray a) {
        INDArray mask = maskArray.castTo(a.dataType());
        if (a.rank() == 2) {
            a.muliColumnVector(mask.reshape(a.size(0), 1));
        } else {
            boolean nwc = layerConf().getRnnFormat() == RNNFormat.NWC;
            Nd4j.getExecutioner().exec(new BroadcastMulOp(a, mask, a, nwc ? new int[]{0, 1} : new int[]{0, 2}));
        }
    }

    /**
     * Gradients of the last forward pass: dx, and dgamma/dbeta as sums over the mini-batch. After a training
     * forward the gradient flows through the batch statistics and the running statistics move one step
     * (moving average, or cumulative average E_B of Algorithm 2, line 10); their own gradient is zero.
     *
     * @param epsilon      gradient of the loss with respect to this layer's output
     * @param workspaceMgr DL4J's workspace manager; dx lives in {@link ArrayType#ACTIVATION_GRAD}
     * @return the parameter gradients and dx
     */
    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        ForwardCache f = cache;
        if (f == null) {
            throw new IllegalStateException("BatchNorm " + layerId() + ": backpropGradient called without a forward pass");
        }
        if (!Arrays.equals(epsilon.shape(), input.shape())) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId() + ": expected an output gradient of shape "
                    + Arrays.toString(input.shape()) + ", got " + Arrays.toString(epsilon.shape()));
        }
        int channels = f.slices()[0].view().channels();
        int count = f.slices().length;
        INDArray mask = InputLayout.mask(maskArray, input.shape(), InputLayout.of(input.shape(), layerConf(), layerId()), layerId());
        if (!(layerConf().getActivationFn() instanceof ActivationIdentity)) {
            // through the activation first: recompute z = bn(x), then dL/dz = act'(z) * epsilon
            INDArray z = HostArrays.createUninitialized(workspaceMgr, ArrayType.BP_WORKING_MEM, dataType, input.shape());
            for (int s = 0; s < count; s++) {
                Slice sl = f.slices()[s];
                kernels.loadMask(mask);
                kernels.loadInput(input);
                restrictToSlice(mask, count == 1 ? -1 : s, f.rows());
                kernels.normalize(sl.view(), sl.mean(), sl.invStd(), sl.gamma(), sl.beta(), z);
            }
            epsilon = layerConf().getActivationFn().backprop(z, workspaceMgr.dup(ArrayType.BP_WORKING_MEM, epsilon, 'c')).getFirst();
        }

        double[] dgamma = arrays.get("dgamma", channels);
        double[] dbeta = arrays.get("dbeta", channels);
        INDArray dx = HostArrays.createUninitialized(workspaceMgr, ArrayType.ACTIVATION_GRAD, dataType, input.shape());
        double[] sliceDgamma = count == 1 ? dgamma : arrays.get("sliceDgamma", channels);
        double[] sliceDbeta = count == 1 ? dbeta : arrays.get("sliceDbeta", channels);
        Arrays.fill(dgamma, 0.0);
        Arrays.fill(dbeta, 0.0);
        for (int s = 0; s < count; s++) {                        // per ghost batch: its own statistics and m
            Slice sl = f.slices()[s];
            kernels.loadMask(mask);
            kernels.loadInput(input);
            kernels.loadGradient(epsilon);
            restrictToSlice(mask, count == 1 ? -1 : s, f.rows());
            kernels.backward(sl.view(), sl.m(), sl.mean(), sl.invStd(), sl.gamma(), f.batchStatistics(), dx,
                    sliceDgamma, sliceDbeta);
            if (sl.r() != null) {
                ChannelMath.renormGammaGradient(sliceDgamma, sliceDbeta, sl.r(), sl.d());   // r sum(dy xhat) + d sum(dy)
            }
            if (count > 1) {
                for (int c = 0; c < channels; c++) {
                    dgamma[c] += sliceDgamma[c];                 // gamma and beta are shared by the slices
                    dbeta[c] += sliceDbeta[c];
                }
            }
        }
        dx = backpropDropOutIfPresent(dx);

        Gradient gradient = new DefaultGradient();
        if (!layerConf().isLockGammaBeta()) {
            arrays.write("gammaGradient", dgamma, gradientViews.get(BatchNormParamInitializer.GAMMA));
            arrays.write("betaGradient", dbeta, gradientViews.get(BatchNormParamInitializer.BETA));
            gradient.gradientForVariable().put(BatchNormParamInitializer.GAMMA, gradientViews.get(BatchNormParamInitializer.GAMMA));
            gradient.gradientForVariable().put(BatchNormParamInitializer.BETA, gradientViews.get(BatchNormParamInitializer.BETA));
        }
        for (String key : BatchNormParamInitializer.getInstance().statisticsKeys(layerConf())) {
            INDArray zero = gradientViews.get(key);                     // statistics are not learned by gradient
            String name = key + "Gradient";
            arrays.write(name, arrays.get(name, (int) zero.length()), zero);  // zeros: that working array is never written
            gradient.gradientForVariable().put(key, zero);
        }
        if (f.batchStatistics()) {
            updateRunningStatistics(f.slices());
            cache = new ForwardCache(f.rows(), false, f.slices());             // one update per forward
        }
        return new Pair<>(gradient, dx);
    }

    /**
     * Adds the loaded input's batch statistics to the population average being collected. A batch with
     * non-finite statistics is an error naming it, or (SKIP) is left out of the average.
     */
    private void collectBatchStatistics(ChannelView view) {
        double[] mean = new double[view.channels()];
        double[] variance = new double[view.channels()];
        long m = kernels.batchStatistics(view, mean, variance);
        long batch = ++populationBatches;
        boolean[] skip = guard.check(mean, variance, floatRange, layerConf().getNonFiniteBatches(),
                () -> kernels.countNonFinite(view), layerId(), "the population pass, batch " + batch);
        if (skip == null) {
            populationAverage.add(mean, variance, m);
        }
    }

    /**
     * Resets the running statistics as a new layer has them: mean 0, variance 1, batch count 0. gamma and beta
     * stay as they are.
     */
    public void resetRunningStatistics() {
        int channels = (int) getParam(BatchNormParamInitializer.MEAN).length();
        double[] value = new double[channels];
        writeParam(BatchNormParamInitializer.MEAN, value);
        Arrays.fill(value, 1.0);
        writeParam(BatchNormParamInitializer.VAR, value);
        if (layerConf().isCumulativeAverage()) {
            writeParam(BatchNormParamInitializer.BATCH_COUNT, new double[]{0.0});
        }
    }

    /**
     * Starts collecting Algorithm 2's population statistics: every following inference forward adds its input's
     * batch mean and unbiased variance to a plain average, until {@link #finishPopulationAverage(boolean)}.
     * Used by {@link io.github.dl4jbn.PopulationStatistics}; the layer's output is unaffected.
     */
    public void startPopulationAverage() {
        populationAverage = new PopulationAverage();
        populationBatches = 0;
    }

    /**
     * Stops collecting and, if asked and at least one batch was seen, stores E_B[mu_B] as the running mean,
     * E_B[m/(m-1) var_B] as the running variance and the batch count (with the cumulative average).
     *
     * @param store write the averages into the parameters
     * @return what was collected
     */
    public PopulationAverage finishPopulationAverage(boolean store) {
        PopulationAverage collected = populationAverage;
        populationAverage = null;
        if (store && collected != null && collected.batches() > 0) {
            storePopulationAverage(collected);
        }
        return collected;
    }

    /**
     * Stores E_B[mu_B] as the running mean, E_B[m/(m-1) var_B] as the running variance and the batch count (with
     * the cumulative average): Algorithm 2, lines 9-10. For averages collected elsewhere and merged.
     *
     * @param average at least one batch, with this layer's channel count
     * @throws IllegalArgumentException if the average is empty or has another channel count; nothing is written
     */
    public void storePopulationAverage(PopulationAverage average) {
        long channels = getParam(BatchNormParamInitializer.MEAN).length();
        if (average.batches() == 0 || average.mean().length != channels) {
            throw new IllegalArgumentException("BatchNorm " + layerId() + ": expected a population average over at least one batch of "
                    + channels + " channels, got " + average.batches() + " batches"
                    + (average.batches() == 0 ? "" : " of " + average.mean().length + " channels"));
        }
        writeParam(BatchNormParamInitializer.MEAN, average.mean());
        writeParam(BatchNormParamInitializer.VAR, average.variance());
        if (layerConf().isCumulativeAverage()) {
            writeParam(BatchNormParamInitializer.BATCH_COUNT, new double[]{average.batches()});
        }
    }

    /**
     * Algorithm 2, line 10 (or its moving-average form), with the batch variance made unbiased if configured.
     * With ghost batches the batch values are the slices' averages: one update per mini-batch.
     */
    private void updateRunningStatistics(Slice[] slices) {
        BatchNorm conf = layerConf();
        int channels = slices[0].view().channels();
        double[] batchMean = arrays.get("runningUpdateMean", channels);
        double[] batchVariance = arrays.get("runningUpdate", channels);
        Arrays.fill(batchMean, 0.0);
        Arrays.fill(batchVariance, 0.0);
        for (Slice sl : slices) {
            double factor = conf.getVarianceEstimate() == VarianceEstimate.UNBIASED ? ChannelMath.unbiasedFactor(sl.m()) : 1.0;
            for (int c = 0; c < channels; c++) {
                batchMean[c] += sl.mean()[c] / slices.length;
                batchVariance[c] += factor * sl.batchVariance()[c] / slices.length;   // m/(m-1) var_B, or var_B
            }
        }
        double[] count = conf.isCumulativeAverage() ? param(BatchNormParamInitializer.BATCH_COUNT) : null;
        double weight = ChannelMath.runningWeight(conf.getDecay(), count != null, count == null ? 0 : count[0]);
        double[] mean = param(BatchNormParamInitializer.MEAN);
        double[] variance = param(BatchNormParamInitializer.VAR);
        for (Slice sl : slices) {
            if (sl.skip() == null) {
                continue;
            }
            for (int c = 0; c < channels; c++) {
                if (sl.skip()[c]) {                              // skipped channels: their batch value is the old one
                    batchMean[c] = mean[c];
                    batchVariance[c] = variance[c];
                }
            }
        }
        ChannelMath.runningAverage(mean, batchMean, weight);
        ChannelMath.runningAverage(variance, batchVariance, weight);
        writeParam(BatchNormParamInitializer.MEAN, mean);
        writeParam(BatchNormParamInitializer.VAR, variance);
        if (count != null) {
            count[0] += 1.0;
            writeParam(BatchNormParamInitializer.BATCH_COUNT, count);
        }
    }

    /** gamma or beta per channel: the parameter, or the configured constant when locked. */
    private double[] gammaOrBeta(String key, int channels) {
        if (!layerConf().isLockGammaBeta()) {
            return param(key);
        }
        double[] values = arrays.get(key, channels);
        Arrays.fill(values, BatchNormParamInitializer.GAMMA.equals(key) ? layerConf().getGamma() : layerConf().getBeta());
        return values;
    }

    /** The parameter's current values, in its working array (named by its key). */
    private double[] param(String key) {
        return arrays.read(key, getParam(key));
    }

    private void writeParam(String key, double[] values) {
        arrays.write(key, values, getParam(key));
    }

    @Override
    public void fit(INDArray input, LayerWorkspaceMgr workspaceMgr) {
        throw new UnsupportedOperationException("BatchNorm " + layerId() + " has no unsupervised fit");
    }
}
