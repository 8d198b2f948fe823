package io.github.dl4jbn.layers;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.Renorm;
import io.github.dl4jbn.internal.kernels.ChannelView;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
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
 * The runtime Batch Normalization layer configured by {@link BatchNorm}: DL4J's layer protocol, delegating the
 * passes over a mini-batch and its ghost batches to {@link SlicedBatchNorm}, the running statistics to
 * {@link RunningStatistics} and parameter I/O to {@link LayerParameters}.
 *
 * <p>{@code activate(training=true)} normalizes with the batch's mean and biased variance (Algorithm 1);
 * {@code activate(training=false)} with the stored population mean and variance (Algorithm 2).
 * {@code backpropGradient} differentiates whichever forward ran last: through the batch statistics after a
 * training forward, with the statistics as constants after an inference forward (as inside
 * {@code FrozenLayerWithBackprop}); it may be called more than once on one forward, with the same result.
 *
 * <p><b>When the running statistics move:</b> once per training forward, in the first {@code backpropGradient}
 * after it (so a training forward that is never differentiated, such as a score, moves nothing), written
 * straight into the parameter vector, never through an updater.
 *
 * <p>With a features mask (a recurrent input's {@code [mb, T]}, or {@code [mb * T, 1]} after an RNN-to-FF
 * preprocessor) the padded steps take no part in anything: not the batch or running statistics, not the m of
 * {@code m/(m-1)}, not dgamma or dbeta; their output and dx are 0, as DL4J's recurrent layers do, and the mask
 * goes on unchanged to the next layer.
 *
 * <p>Every check runs before anything is written, so a call that throws leaves parameters, running statistics
 * and the gradient untouched, and nothing of it reaches the next call.
 */
public class BatchNormLayer extends BaseLayer<BatchNorm> {

    /** The passes this layer runs: host memory kernels on ND4J's CPU backend, ND4J ops elsewhere. */
    private final LayerKernels kernels;
    private final LayerParameters parameters;
    private final SlicedBatchNorm passes;
    private final RunningStatistics statistics;
    /** What the last forward kept for the backward pass (per-channel vectors), or null. */
    private SlicedBatchNorm.Forward cache;
    /** Whether the last forward was a training forward whose running-statistics step is still to come. */
    private boolean runningUpdatePending;
    private boolean warnedConstantRenorm;
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(BatchNormLayer.class);

    /**
     * Creates the layer; DL4J calls this through {@link BatchNorm#instantiate}.
     *
     * @param conf     the layer's configuration
     * @param dataType the network's data type
     */
    public BatchNormLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
        this.kernels = LayerKernels.forType(dataType);
        this.parameters = new LayerParameters(kernels.hostMemory(), this::getParam);
        boolean floatRange = dataType != DataType.DOUBLE;
        StatisticsGuard guard = new StatisticsGuard();
        this.passes = new SlicedBatchNorm(kernels, guard, floatRange);
        this.statistics = new RunningStatistics(kernels, guard, floatRange);
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
        runningUpdatePending = false;
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
        cache = null;                                            // a failed forward leaves nothing to differentiate
        runningUpdatePending = false;
        BatchNorm conf = layerConf();
        conf.validate(() -> "BatchNorm " + layerId(), DL4JInvalidConfigException::new);   // edited since it was built?
        if (BatchNormParamInitializer.getInstance().numParams(conf) != numParams()) {
            throw new DL4JInvalidConfigException("BatchNorm " + layerId() + ": the configuration now needs "
                    + BatchNormParamInitializer.getInstance().paramKeys(conf) + ", got the parameters " + paramTable().keySet()
                    + " the network was built with: center, scale, trackRunningStatistics and cumulativeAverage change"
                    + " the parameter layout, so set them before the network is built. Nothing was written");
        }
        ChannelView view = InputLayout.of(input.shape(), conf, layerId());
        INDArray mask = InputLayout.mask(maskArray, input.shape(), view, layerId());
        boolean frozen = training && conf.isFreezeStatistics();
        boolean ownStatistics = training ? !frozen : !conf.isTrackRunningStatistics();   // normalize by the batch's own
        GhostBatches ghosts = training && ownStatistics && conf.getVirtualBatchSize() > 0
                ? GhostBatches.split(input.shape(), mask == null ? 0 : mask.length(), conf.getVirtualBatchSize(),
                        rows -> InputLayout.of(sliceShape(rows), conf, layerId()))
                : GhostBatches.whole(view, input.size(0));
        boolean collecting = !training && statistics.collecting();
        long m = view.valuesPerChannel();
        for (int s = 0; s < ghosts.count(); s++) {               // nothing is written before every slice is checked
            TensorRange range = ghosts.range(s);
            long valid = mask == null ? ghosts.view(s).valuesPerChannel() : kernels.validPositions(new KernelInput(input, mask, range));
            m = Math.min(m, valid);
            if ((ownStatistics || collecting) && valid < 2) {
                throw new DL4JInvalidInputException("BatchNorm " + layerId() + ": "
                        + (training ? "training" : collecting ? "estimating population statistics"
                        : "inference without running statistics (trackRunningStatistics false)")
                        + " needs more than one value per channel to compute a batch variance, got input shape "
                        + Arrays.toString(input.shape())
                        + (ghosts.count() == 1 ? "" : " in ghost batches of " + conf.getVirtualBatchSize() + " examples")
                        + (mask == null ? "" : " with " + valid + " unmasked position(s)")
                        + " (" + valid + " value per channel); use a mini-batch of 2 or more"
                        + (training && conf.isTrackRunningStatistics() ? ", or inference mode" : ""));
            }
        }
        applyDropOutIfNecessary(training, workspaceMgr);
        INDArray output = HostArrays.createUninitialized(workspaceMgr, ArrayType.ACTIVATIONS, dataType, input.shape());
        if (collecting) {
            statistics.collect(KernelInput.whole(input, mask), view, conf.getNonFiniteBatches(), layerId());
        }
        int channels = view.channels();
        double[] gamma = gammaOrBeta(BatchNormParamInitializer.GAMMA, channels, conf.getGamma());
        double[] beta = gammaOrBeta(BatchNormParamInitializer.BETA, channels, conf.getBeta());
        Renorm renorm = training ? conf.getRenorm() : null;
        boolean readsRunning = !ownStatistics || renorm != null;       // inference, frozen, or renorm's r and d
        double[] runningMean = readsRunning ? parameters.read(BatchNormParamInitializer.MEAN) : null;
        double[] runningVar = readsRunning ? parameters.read(BatchNormParamInitializer.VAR) : null;
        SlicedBatchNorm.Forward forward;
        if (ownStatistics) {
            long iteration = getIterationCount();
            if (renorm != null && !warnedConstantRenorm && renorm.rMaxAt(0) + renorm.dMaxAt(0) > 1) {   // clipping at step 0
                warnedConstantRenorm = true;
                log.warn("BatchNorm {}: Batch Renormalization clips from the first step, against running statistics that"
                        + " are still a new layer's (mean 0, variance 1); training can diverge on inputs far from them."
                        + " Renorm.warmUp(rMax, dMax, hold, ramp) holds plain BatchNorm while they settle", layerId());
            }
            SlicedBatchNorm.Clip clip = renorm == null ? null
                    : new SlicedBatchNorm.Clip(renorm.rMaxAt(iteration), renorm.dMaxAt(iteration));
            forward = passes.train(input, mask, view, ghosts, gamma, beta, runningMean, runningVar,
                    new SlicedBatchNorm.Options(conf.getEps(), conf.getNonFiniteBatches(), clip, layerId(),
                            training ? "training" : "inference without running statistics"), output);
        } else {                                                 // inference, or training with frozen statistics
            forward = passes.infer(input, mask, view, m, gamma, beta, runningMean, runningVar, conf.getEps(), output);
        }
        cache = forward;
        runningUpdatePending = training && ownStatistics && conf.isTrackRunningStatistics();
        if (!(conf.getActivationFn() instanceof ActivationIdentity)) {
            output = conf.getActivationFn().getActivation(output, training);
            if (mask != null) {
                zeroPaddedSteps(output);                         // act(0) need not be 0; DL4J's RNNs give 0
            }
        }
        return output;
    }

    /** The input's shape with {@code rows} examples: one ghost batch's. */
    private long[] sliceShape(long rows) {
        long[] shape = input.shape().clone();
        shape[0] = rows;
        return shape;
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
     * forward the gradient flows through the batch statistics, and the first call after it moves the running
     * statistics one step (moving average, or cumulative average E_B of Algorithm 2, line 10); their own
     * gradient is zero. A second call on the same forward returns the same gradients and moves nothing.
     *
     * @param epsilon      gradient of the loss with respect to this layer's output
     * @param workspaceMgr DL4J's workspace manager; dx lives in {@link ArrayType#ACTIVATION_GRAD}
     * @return the parameter gradients and dx
     */
    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        SlicedBatchNorm.Forward f = cache;
        if (f == null) {
            throw new IllegalStateException("BatchNorm " + layerId() + ": backpropGradient called without a forward pass");
        }
        if (!Arrays.equals(epsilon.shape(), input.shape())) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId() + ": expected an output gradient of shape "
                    + Arrays.toString(input.shape()) + ", got " + Arrays.toString(epsilon.shape()));
        }
        BatchNorm conf = layerConf();
        INDArray mask = InputLayout.mask(maskArray, input.shape(), InputLayout.of(input.shape(), conf, layerId()), layerId());
        if (!(conf.getActivationFn() instanceof ActivationIdentity)) {
            // through the activation first: recompute z = bn(x), then dL/dz = act'(z) * epsilon
            INDArray z = HostArrays.createUninitialized(workspaceMgr, ArrayType.BP_WORKING_MEM, dataType, input.shape());
            passes.normalizeAgain(f, input, mask, z);
            epsilon = conf.getActivationFn().backprop(z, workspaceMgr.dup(ArrayType.BP_WORKING_MEM, epsilon, 'c')).getFirst();
        }
        int channels = f.view().channels();
        double[] dgamma = parameters.working("dgamma", channels);
        double[] dbeta = parameters.working("dbeta", channels);
        INDArray dx = HostArrays.createUninitialized(workspaceMgr, ArrayType.ACTIVATION_GRAD, dataType, input.shape());
        passes.backward(f, input, mask, epsilon, dx, dgamma, dbeta);
        dx = backpropDropOutIfPresent(dx);

        Gradient gradient = new DefaultGradient();
        for (String key : BatchNormParamInitializer.getInstance().learnedKeys(conf)) {
            parameters.writeGradient(key, BatchNormParamInitializer.GAMMA.equals(key) ? dgamma : dbeta, gradientViews.get(key));
            gradient.gradientForVariable().put(key, gradientViews.get(key));
        }
        for (String key : BatchNormParamInitializer.getInstance().statisticsKeys(conf)) {
            parameters.zeroGradient(key, gradientViews.get(key));          // statistics are not learned by gradient
            gradient.gradientForVariable().put(key, gradientViews.get(key));
        }
        if (runningUpdatePending) {
            runningUpdatePending = false;                        // once per training forward
            updateRunningStatistics(f);
        }
        return new Pair<>(gradient, dx);
    }

    /** One step of the running statistics from a training forward's slices, written into the parameters. */
    private void updateRunningStatistics(SlicedBatchNorm.Forward f) {
        BatchNorm conf = layerConf();
        double[] mean = parameters.read(BatchNormParamInitializer.MEAN);
        double[] variance = parameters.read(BatchNormParamInitializer.VAR);
        double[] count = conf.isCumulativeAverage() ? parameters.read(BatchNormParamInitializer.BATCH_COUNT) : null;
        statistics.update(f.slices(), conf.getVarianceEstimate(), conf.getDecay(), mean, variance, count);
        parameters.write(BatchNormParamInitializer.MEAN, mean);
        parameters.write(BatchNormParamInitializer.VAR, variance);
        if (count != null) {
            parameters.write(BatchNormParamInitializer.BATCH_COUNT, count);
        }
    }

    /**
     * Resets the running statistics as a new layer has them: mean 0, variance 1, batch count 0. gamma and beta
     * stay as they are. A Batch Renormalization schedule goes on where the network's iteration count is (see
     * {@link Renorm}): past its ramp, r and d start at their bounds until the statistics settle.
     */
    public void resetRunningStatistics() {
        if (!hasRunningStatistics()) {
            return;                                              // trackRunningStatistics(false): nothing to reset
        }
        double[] mean = parameters.read(BatchNormParamInitializer.MEAN);
        double[] variance = parameters.read(BatchNormParamInitializer.VAR);
        double[] count = layerConf().isCumulativeAverage() ? parameters.read(BatchNormParamInitializer.BATCH_COUNT) : null;
        RunningStatistics.reset(mean, variance, count);
        parameters.write(BatchNormParamInitializer.MEAN, mean);
        parameters.write(BatchNormParamInitializer.VAR, variance);
        if (count != null) {
            parameters.write(BatchNormParamInitializer.BATCH_COUNT, count);
        }
    }

    /**
     * Starts collecting Algorithm 2's population statistics: every following inference forward adds its input's
     * batch mean and unbiased variance to a plain average, until {@link #finishPopulationAverage(boolean)}.
     * Used by {@link io.github.dl4jbn.PopulationStatistics}; the layer's output is unaffected.
     */
    public void startPopulationAverage() {
        requireRunningStatistics("a population average");
        statistics.startPopulationAverage();
    }

    /**
     * Stops collecting and, if asked and at least one batch was seen, stores E_B[mu_B] as the running mean,
     * E_B[m/(m-1) var_B] as the running variance and the batch count (with the cumulative average).
     *
     * @param store write the averages into the parameters
     * @return what was collected
     */
    public PopulationAverage finishPopulationAverage(boolean store) {
        PopulationAverage collected = statistics.finishPopulationAverage();
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
        requireRunningStatistics("a population average");
        long channels = getParam(BatchNormParamInitializer.MEAN).length();
        if (average.batches() == 0 || average.mean().length != channels) {
            throw new IllegalArgumentException("BatchNorm " + layerId() + ": expected a population average over at least one batch of "
                    + channels + " channels, got " + average.batches() + " batches"
                    + (average.batches() == 0 ? "" : " of " + average.mean().length + " channels"));
        }
        parameters.write(BatchNormParamInitializer.MEAN, average.mean());
        parameters.write(BatchNormParamInitializer.VAR, average.variance());
        if (layerConf().isCumulativeAverage()) {
            parameters.write(BatchNormParamInitializer.BATCH_COUNT, new double[]{average.batches()});
        }
    }

    /**
     * @return whether this layer keeps running statistics ({@code mean} and {@code var}); false with
     *         {@link BatchNorm.Builder#trackRunningStatistics(boolean) trackRunningStatistics(false)}
     */
    public boolean hasRunningStatistics() {
        return layerConf().isTrackRunningStatistics();
    }

    private void requireRunningStatistics(String what) {
        if (!hasRunningStatistics()) {
            throw new IllegalStateException("BatchNorm " + layerId() + " has no running statistics"
                    + " (trackRunningStatistics false), so it cannot store " + what + "; expected a layer that tracks them");
        }
    }

    /** gamma or beta per channel: the parameter, or the configured constant when it is not learned (no parameter). */
    private double[] gammaOrBeta(String key, int channels, double fixed) {
        return paramTable().containsKey(key) ? parameters.read(key) : parameters.constant(key, channels, fixed);
    }

    /**
     * Freezes or thaws this layer's running statistics from its next forward pass (see
     * {@link BatchNorm.Builder#freezeStatistics(boolean)}): the switch is the layer's configuration, so JSON and
     * {@code ModelSerializer} save it. {@link io.github.dl4jbn.FrozenStatistics} sets it on every layer of a network.
     *
     * @param freeze true: training normalizes with the running statistics and never moves them
     * @throws DL4JInvalidConfigException if this layer has no running statistics or trains with renorm; nothing changes
     */
    public void setFreezeStatistics(boolean freeze) {
        BatchNorm conf = layerConf();
        boolean before = conf.isFreezeStatistics();
        conf.setFreezeStatistics(freeze);
        try {
            conf.validate(() -> "BatchNorm " + layerId(), DL4JInvalidConfigException::new);
        } catch (DL4JInvalidConfigException e) {
            conf.setFreezeStatistics(before);
            throw e;
        }
    }

    /** @return whether this layer's running statistics are frozen (see {@link #setFreezeStatistics(boolean)}) */
    public boolean isFreezeStatistics() {
        return layerConf().isFreezeStatistics();
    }

    @Override
    public void fit(INDArray input, LayerWorkspaceMgr workspaceMgr) {
        throw new UnsupportedOperationException("BatchNorm " + layerId() + " has no unsupervised fit");
    }
}
