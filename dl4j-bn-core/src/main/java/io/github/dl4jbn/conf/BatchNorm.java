package io.github.dl4jbn.conf;

import io.github.dl4jbn.layers.BatchNormLayer;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.nn.conf.constraint.BaseConstraint;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.LayerValidation;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.shade.jackson.annotation.JsonIgnore;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Configuration of a Batch Normalization layer (Ioffe &amp; Szegedy 2015), a drop-in replacement for DL4J's
 * {@link org.deeplearning4j.nn.conf.layers.BatchNormalization}.
 *
 * <p>Training normalizes each channel with the mini-batch mean and biased variance and applies the learned
 * scale gamma and shift beta (Algorithm 1); inference uses the population mean and variance accumulated
 * during training (Algorithm 2). One channel is a feature of a {@code [mb, C]} input or a feature map of a
 * recurrent (rank 3), convolutional (rank 4) or 3-D convolutional (rank 5) input, whose statistics are taken
 * over the batch and every time step or position.
 *
 * <p>Parameters live in DL4J's flat parameter vector in this order: {@code gamma} (absent with
 * {@link Builder#scale(boolean) scale(false)}), {@code beta} (absent with {@link Builder#center(boolean)
 * center(false)}), {@code mean, var} (absent with {@link Builder#trackRunningStatistics(boolean)
 * trackRunningStatistics(false)}), and {@code batchCount} (only with {@link Builder#cumulativeAverage()}). The running statistics are written by the layer itself during the
 * backward pass of a training step, never through gradients, so updaters, regularization and gradient
 * normalization cannot touch them.
 *
 * <p>The activation function defaults to identity (the normalized value is the output); a non-identity
 * activation set on this layer is applied after the normalization.
 *
 * <pre>{@code
 * .layer(new BatchNorm.Builder().build())                        // nIn/nOut and data format from the InputType
 * .layer(new BatchNorm.Builder().cumulativeAverage().build())    // the paper's E_B population average
 * }</pre>
 */
public class BatchNorm extends FeedForwardLayer {

    /** Epsilon added to the variance (Algorithm 1, line 3). */
    private double eps = 1e-5;
    /** Weight of the old running statistics in their moving average (Algorithm 2, line 10). */
    private double decay = 0.9;
    /** Whether the running statistics are the plain average of every batch instead of a moving one. */
    private boolean cumulativeAverage = false;
    /** How a batch variance enters the running variance: m/(m-1) corrected, or biased as DL4J stores it. */
    private VarianceEstimate varianceEstimate = VarianceEstimate.UNBIASED;
    /** Whether beta is a learned parameter (Keras's center); otherwise the shift is the fixed {@link #beta}. */
    private boolean center = true;
    /** Whether gamma is a learned parameter (Keras's scale); otherwise the scale is the fixed {@link #gamma}. */
    private boolean scale = true;
    /** Initial (or, when not learned, fixed) gamma: the scale of Algorithm 1, line 4. */
    private double gamma = 1.0;
    /** Initial (or, when not learned, fixed) beta: the shift of Algorithm 1, line 4. */
    private double beta = 0.0;
    /** Whether training normalizes with the running statistics and leaves them where they are (fine-tuning). */
    private boolean freezeStatistics = false;
    /** Whether the layer keeps running statistics; without them inference normalizes with each batch's own. */
    private boolean trackRunningStatistics = true;
    /** Whether the network's L1/L2/weight decay applies to gamma and beta too. */
    private boolean regularizeGammaBeta = false;
    /** Channel axis of rank-4 input. */
    private CNN2DFormat cnn2dFormat = CNN2DFormat.NCHW;
    /** Channel axis of rank-3 input. */
    private RNNFormat rnnFormat = RNNFormat.NCW;
    /** Channel axis of rank-5 input. */
    private Convolution3D.DataFormat cnn3dFormat = Convolution3D.DataFormat.NCDHW;
    /** What a training batch with non-finite statistics does: fail, or skip the running update. */
    private NonFinitePolicy nonFiniteBatches = NonFinitePolicy.FAIL;
    /** Batch Renormalization's clipping schedule, or null for plain Batch Normalization. */
    private Renorm renorm;
    /** Examples per ghost batch (statistics per slice of the mini-batch), or 0 for the whole mini-batch. */
    private int virtualBatchSize;
    /** The kind of input type the channel count came from (fixes the input rank), or null when nIn was set. */
    private InputType.Type inputKind;

    private BatchNorm(Builder builder) {
        super(builder);
        copyOptions(builder.options, this);
        if (this.activationFn == null) {
            this.activationFn = new ActivationIdentity();   // so that a network-wide default does not leak in
        }
        initializeConstraints(builder);
        this.constraints = withGammaBetaConstraints(builder);
        validate("BatchNorm" + (getLayerName() == null ? "" : " \"" + getLayerName() + "\""),
                IllegalArgumentException::new);
    }

    /** The builder's working copy: every option at the default its field declares. */
    private BatchNorm(Void prototype) {
        super();
    }

    /** This class's own options (its instance fields), for copying, equality and hashing without a list to keep. */
    private static final java.lang.reflect.Field[] OPTIONS = java.util.Arrays.stream(BatchNorm.class.getDeclaredFields())
            .filter(f -> !java.lang.reflect.Modifier.isStatic(f.getModifiers())).toArray(java.lang.reflect.Field[]::new);

    private static void copyOptions(BatchNorm from, BatchNorm to) {
        Object[] values = from.optionValues();
        try {
            for (int i = 0; i < OPTIONS.length; i++) {
                OPTIONS[i].set(to, values[i]);
            }
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);                // this class's own fields, read from this class
        }
    }

    private Object[] optionValues() {
        Object[] values = new Object[OPTIONS.length];
        try {
            for (int i = 0; i < OPTIONS.length; i++) {
                values[i] = OPTIONS[i].get(this);
            }
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
        return values;
    }

    /** Creates a layer with every default; used by JSON deserialization. */
    public BatchNorm() {
        this(new Builder());
    }

    /** Restricts network-wide constraints to gamma/beta and adds the gamma- and beta-only ones. */
    private List<LayerConstraint> withGammaBetaConstraints(Builder builder) {
        List<LayerConstraint> result = new ArrayList<>();
        Set<String> learned = new HashSet<>(BatchNormParamInitializer.getInstance().learnedKeys(this));
        if (constraints != null) {
            for (LayerConstraint c : constraints) {
                Set<String> params = new HashSet<>(c.getParams());
                params.retainAll(learned);                          // running statistics are never constrained
                if (!params.isEmpty()) {
                    c.setParams(params);
                    result.add(c);
                }
            }
        }
        addConstraints(result, builder.gammaConstraints, BatchNormParamInitializer.GAMMA);   // kept when locked:
        addConstraints(result, builder.betaConstraints, BatchNormParamInitializer.BETA);     // validate() refuses it
        return result.isEmpty() ? null : result;
    }

    private static void addConstraints(List<LayerConstraint> to, List<LayerConstraint> from, String param) {
        for (LayerConstraint c : from) {
            LayerConstraint copy = c.clone();
            copy.setParams(Collections.singleton(param));
            to.add(copy);
        }
    }

    @Override
    public BatchNorm clone() {
        return (BatchNorm) super.clone();
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf,
                                                       Collection<TrainingListener> trainingListeners,
                                                       int layerIndex, INDArray layerParamsView,
                                                       boolean initializeParams, DataType networkDataType) {
        LayerValidation.assertNOutSet("BatchNorm", getLayerName(), layerIndex, getNOut());
        validate("BatchNorm (layer " + layerIndex + (getLayerName() == null ? "" : ", name \"" + getLayerName() + "\"")
                + ")", DL4JInvalidConfigException::new);
        BatchNormLayer layer = new BatchNormLayer(conf, networkDataType);
        layer.setListeners(trainingListeners);
        layer.setIndex(layerIndex);
        layer.setParamsViewArray(layerParamsView);
        Map<String, INDArray> paramTable = initializer().init(conf, layerParamsView, initializeParams);
        layer.setParamTable(paramTable);
        layer.setConf(conf);
        return layer;
    }

    @Override
    public ParamInitializer initializer() {
        return BatchNormParamInitializer.getInstance();
    }

    /**
     * The output has the input's type and shape.
     *
     * @param layerIndex index of this layer, for error messages
     * @param inputType  feed-forward, recurrent, convolutional (2-D or 3-D) or flattened convolutional input
     * @return {@code inputType}
     */
    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        if (inputType == null) {
            throw new IllegalStateException("BatchNorm (layer index " + layerIndex + ", name \"" + getLayerName()
                    + "\"): input type is null");
        }
        switch (inputType.getType()) {
            case FF:
            case RNN:
            case CNN:
            case CNN3D:
            case CNNFlat:
                return inputType;
            default:
                throw new IllegalStateException("BatchNorm (layer index " + layerIndex + ", name \"" + getLayerName()
                        + "\"): expected input of type FF, RNN, CNN, CNN3D or CNNFlat, got " + inputType);
        }
    }

    /**
     * Sets the channel count ({@code nIn = nOut}) and the data format from the input type.
     *
     * @param inputType the type of this layer's input
     * @param override  replace an nIn already set
     */
    @Override
    public void setNIn(InputType inputType, boolean override) {
        long channels;
        switch (inputType.getType()) {
            case FF:
                channels = ((InputType.InputTypeFeedForward) inputType).getSize();
                break;
            case RNN:
                InputType.InputTypeRecurrent rnn = (InputType.InputTypeRecurrent) inputType;
                channels = rnn.getSize();
                rnnFormat = rnn.getFormat();
                break;
            case CNN:
                InputType.InputTypeConvolutional cnn = (InputType.InputTypeConvolutional) inputType;
                channels = cnn.getChannels();
                cnn2dFormat = cnn.getFormat();
                break;
            case CNN3D:
                InputType.InputTypeConvolutional3D cnn3d = (InputType.InputTypeConvolutional3D) inputType;
                channels = cnn3d.getChannels();
                cnn3dFormat = cnn3d.getDataFormat();
                break;
            case CNNFlat:
                channels = ((InputType.InputTypeConvolutionalFlat) inputType).getDepth();
                break;
            default:
                throw new IllegalStateException("BatchNorm (name \"" + getLayerName()
                        + "\"): expected input of type FF, RNN, CNN, CNN3D or CNNFlat, got " + inputType);
        }
        if (nIn <= 0 || override) {
            nIn = channels;
            nOut = channels;
            inputKind = inputType.getType() == InputType.Type.CNNFlat ? InputType.Type.CNN : inputType.getType();
        }
    }

    /**
     * Flattened convolutional input is reshaped back to {@code [mb, C, H, W]} so statistics are per feature map.
     *
     * @param inputType the type of this layer's input
     * @return a {@link FeedForwardToCnnPreProcessor} for CNNFlat input, otherwise null
     */
    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        if (inputType.getType() == InputType.Type.CNNFlat) {
            InputType.InputTypeConvolutionalFlat flat = (InputType.InputTypeConvolutionalFlat) inputType;
            return new FeedForwardToCnnPreProcessor(flat.getHeight(), flat.getWidth(), flat.getDepth());
        }
        return null;
    }

    /**
     * Checks every option, whichever path set it (the builder, the setters, JSON or YAML): the builder calls this
     * when it builds, {@link #instantiate} again with the layer's index, and the layer before each forward pass,
     * so a configuration edited or read after it was built, even on a live network, cannot reach the statistics
     * unchecked. The messages are the same on every path.
     *
     * @param layer      how to name the layer in a message
     * @param exceptions makes the exception thrown from a message
     * @throws RuntimeException made by {@code exceptions}, naming the layer, the option and its value
     */
    public void validate(String layer, java.util.function.Function<String, RuntimeException> exceptions) {
        validate(() -> layer, exceptions);
    }

    /**
     * As {@link #validate(String, java.util.function.Function)}, naming the layer only when an option is invalid:
     * for the layer's check before each forward pass, which must cost next to nothing.
     *
     * @param layer      how to name the layer in a message
     * @param exceptions makes the exception thrown from a message
     */
    public void validate(java.util.function.Supplier<String> layer,
                         java.util.function.Function<String, RuntimeException> exceptions) {
        String problem = BatchNormValidation.problem(this);
        if (problem != null) {
            throw exceptions.apply(layer.get() + ": " + problem);
        }
    }

    /**
     * gamma and beta are not regularized unless {@link Builder#regularizeGammaBeta(boolean)} is set; running
     * statistics never are.
     *
     * @param paramName a parameter key
     * @return the regularization for that parameter (possibly empty)
     */
    @Override
    public List<Regularization> getRegularizationByParam(String paramName) {
        if (regularizeGammaBeta) {
            if (BatchNormParamInitializer.GAMMA.equals(paramName)) {
                return regularization;
            }
            if (BatchNormParamInitializer.BETA.equals(paramName)) {
                return regularizationBias;
            }
        }
        return Collections.emptyList();
    }

    /**
     * gamma and beta use the layer's updater; the running statistics a {@link NoOp} (they receive no gradient).
     *
     * @param paramName a parameter key
     * @return the updater for that parameter
     */
    @Override
    public IUpdater getUpdaterByParam(String paramName) {
        if (BatchNormParamInitializer.GAMMA.equals(paramName) || BatchNormParamInitializer.BETA.equals(paramName)) {
            return iUpdater;
        }
        if (BatchNormParamInitializer.getInstance().statisticsKeys(this).contains(paramName)) {
            return new NoOp();
        }
        throw new IllegalArgumentException("BatchNorm \"" + getLayerName() + "\": unknown parameter \"" + paramName + "\"");
    }

    /**
     * Memory use: the parameters, the output, and in training a gradient-sized working array; the forward
     * keeps only two per-channel vectors for the backward pass.
     *
     * @param inputType the type of this layer's input
     * @return the report
     */
    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        InputType outputType = getOutputType(-1, inputType);
        long numParams = initializer().numParams(this);
        long updaterState = 0;
        for (String key : initializer().paramKeys(this)) {
            updaterState += getUpdaterByParam(key).stateSize(nOut);
        }
        long perExample = inputType.arrayElementsPerExample();
        return new LayerMemoryReport.Builder(getLayerName(), BatchNorm.class, inputType, outputType)
                .standardMemory(numParams, updaterState)
                .workingMemory(2 * nOut, 0, 4 * nOut, perExample)  // per-channel statistics; one activation-sized array in backprop
                .cacheMemory(MemoryReport.CACHE_MODE_ALL_ZEROS, MemoryReport.CACHE_MODE_ALL_ZEROS)
                .build();
    }

    @Override
    public boolean isPretrainParam(String paramName) {
        return false;
    }

    /** @return epsilon added to the variance before the square root (Algorithm 1, line 3) */
    public double getEps() {
        return eps;
    }

    /** @param eps epsilon added to the variance before the square root */
    public void setEps(double eps) {
        this.eps = eps;
    }

    /** @return weight of the old value in the exponential moving average, DL4J's convention */
    public double getDecay() {
        return decay;
    }

    /** @param decay weight of the old value in the exponential moving average */
    public void setDecay(double decay) {
        this.decay = decay;
    }

    /** @return true if the running statistics are the plain average over all batches (Algorithm 2, E_B) */
    public boolean isCumulativeAverage() {
        return cumulativeAverage;
    }

    /** @param cumulativeAverage use the plain average over all batches instead of the moving average */
    public void setCumulativeAverage(boolean cumulativeAverage) {
        this.cumulativeAverage = cumulativeAverage;
    }

    /** @return the population variance estimate the running variance accumulates */
    public VarianceEstimate getVarianceEstimate() {
        return varianceEstimate;
    }

    /** @param varianceEstimate the population variance estimate to accumulate */
    public void setVarianceEstimate(VarianceEstimate varianceEstimate) {
        this.varianceEstimate = varianceEstimate;
    }

    /**
     * @return true if neither gamma nor beta is learned ({@code center} and {@code scale} both false): both are
     *         then the fixed {@link #getGamma()} and {@link #getBeta()}
     */
    @JsonIgnore
    public boolean isLockGammaBeta() {
        return !center && !scale;
    }

    /**
     * @param lockGammaBeta true: fix gamma and beta to {@link #getGamma()} and {@link #getBeta()} (center and scale
     *                      false); false: learn both (center and scale true). Also reads older JSON's option.
     */
    @JsonProperty("lockGammaBeta")
    public void setLockGammaBeta(boolean lockGammaBeta) {
        this.center = !lockGammaBeta;
        this.scale = !lockGammaBeta;
    }

    /** @return true if beta is a learned parameter (Keras's {@code center}); false: the shift is the fixed beta */
    public boolean isCenter() {
        return center;
    }

    /** @param center learn beta (true), or shift by the fixed {@link #getBeta()} (false) */
    public void setCenter(boolean center) {
        this.center = center;
    }

    /** @return true if gamma is a learned parameter (Keras's {@code scale}); false: the scale is the fixed gamma */
    public boolean isScale() {
        return scale;
    }

    /** @param scale learn gamma (true), or scale by the fixed {@link #getGamma()} (false) */
    public void setScale(boolean scale) {
        this.scale = scale;
    }

    /**
     * @return true if training normalizes with the running statistics, backpropagates the affine map only and
     *         never moves the statistics (Keras's {@code trainable = False}, PyTorch's {@code freeze_bn_stats})
     */
    public boolean isFreezeStatistics() {
        return freezeStatistics;
    }

    /**
     * Freezes or thaws the running statistics. On a live network this acts from the layer's next forward pass,
     * and as part of the configuration it is saved by JSON and {@code ModelSerializer}.
     *
     * @param freezeStatistics true to normalize with the running statistics in training too, and never move them
     */
    public void setFreezeStatistics(boolean freezeStatistics) {
        this.freezeStatistics = freezeStatistics;
    }

    /**
     * @return true if the layer keeps running statistics (the {@code mean} and {@code var} parameters); false:
     *         training and inference both normalize with the batch's own statistics (PyTorch's
     *         {@code track_running_stats=False})
     */
    public boolean isTrackRunningStatistics() {
        return trackRunningStatistics;
    }

    /**
     * @param trackRunningStatistics keep running statistics; changes the parameter layout, so set it before the
     *                               network is built
     */
    public void setTrackRunningStatistics(boolean trackRunningStatistics) {
        this.trackRunningStatistics = trackRunningStatistics;
    }

    /** @return gamma's fixed value when not learned, its initial value otherwise */
    public double getGamma() {
        return gamma;
    }

    /** @param gamma gamma's fixed value when not learned, its initial value otherwise */
    public void setGamma(double gamma) {
        this.gamma = gamma;
    }

    /** @return beta's fixed value when not learned, its initial value otherwise */
    public double getBeta() {
        return beta;
    }

    /** @param beta beta's fixed value when not learned, its initial value otherwise */
    public void setBeta(double beta) {
        this.beta = beta;
    }

    /** @return true if the layer's regularization applies to gamma (weights) and beta (bias) */
    public boolean isRegularizeGammaBeta() {
        return regularizeGammaBeta;
    }

    /** @param regularizeGammaBeta apply the layer's regularization to gamma (weights) and beta (bias) */
    public void setRegularizeGammaBeta(boolean regularizeGammaBeta) {
        this.regularizeGammaBeta = regularizeGammaBeta;
    }

    /** @return the layout of rank-4 input */
    public CNN2DFormat getCnn2dFormat() {
        return cnn2dFormat;
    }

    /** @param cnn2dFormat the layout of rank-4 input */
    public void setCnn2dFormat(CNN2DFormat cnn2dFormat) {
        this.cnn2dFormat = cnn2dFormat;
    }

    /** @return the layout of rank-3 input */
    public RNNFormat getRnnFormat() {
        return rnnFormat;
    }

    /** @param rnnFormat the layout of rank-3 input */
    public void setRnnFormat(RNNFormat rnnFormat) {
        this.rnnFormat = rnnFormat;
    }

    /** @return the layout of rank-5 input */
    public Convolution3D.DataFormat getCnn3dFormat() {
        return cnn3dFormat;
    }

    /** @param cnn3dFormat the layout of rank-5 input */
    public void setCnn3dFormat(Convolution3D.DataFormat cnn3dFormat) {
        this.cnn3dFormat = cnn3dFormat;
    }

    /** @return what a training forward does with non-finite batch statistics */
    public NonFinitePolicy getNonFiniteBatches() {
        return nonFiniteBatches;
    }

    /** @param nonFiniteBatches what a training forward does with non-finite batch statistics */
    public void setNonFiniteBatches(NonFinitePolicy nonFiniteBatches) {
        this.nonFiniteBatches = nonFiniteBatches;
    }

    /** @return Batch Renormalization's schedule, or null when the layer is plain Batch Normalization */
    public Renorm getRenorm() {
        return renorm;
    }

    /** @param renorm Batch Renormalization's schedule, or null for plain Batch Normalization */
    public void setRenorm(Renorm renorm) {
        this.renorm = renorm;
    }

    /** @return examples per ghost batch, or 0 when the statistics span the whole mini-batch */
    public int getVirtualBatchSize() {
        return virtualBatchSize;
    }

    /** @param virtualBatchSize examples per ghost batch (at least 2), or 0 for the whole mini-batch */
    public void setVirtualBatchSize(int virtualBatchSize) {
        this.virtualBatchSize = virtualBatchSize;
    }

    /**
     * @return the kind of input type the channel count was inferred from (FF, RNN, CNN or CNN3D), which fixes the
     *         input rank; null when nIn was set by hand (any rank from 2 to 5 is then accepted)
     */
    public InputType.Type getInputKind() {
        return inputKind;
    }

    /** @param inputKind the kind of input type the channel count came from, or null for any rank */
    public void setInputKind(InputType.Type inputKind) {
        this.inputKind = inputKind;
    }

    @Override
    public boolean equals(Object o) {
        return this == o || (o instanceof BatchNorm && super.equals(o)
                && Arrays.deepEquals(optionValues(), ((BatchNorm) o).optionValues()));
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Arrays.deepHashCode(optionValues());
    }

    @Override
    public String toString() {
        return "BatchNorm(name=" + getLayerName() + ", nIn=" + nIn + ", eps=" + eps
                + (cumulativeAverage ? ", cumulativeAverage" : ", decay=" + decay) + ", variance=" + varianceEstimate
                + (scale ? "" : ", fixed gamma=" + gamma) + (center ? "" : ", fixed beta=" + beta)
                + (freezeStatistics ? ", frozen statistics" : "") + (trackRunningStatistics ? "" : ", no running statistics")
                + (renorm == null ? "" : ", " + renorm) + (virtualBatchSize == 0 ? "" : ", virtualBatchSize=" + virtualBatchSize) + ")";
    }

    /**
     * Builds a {@link BatchNorm}: {@code new BatchNorm.Builder().eps(1e-3).build()}. Every option has the default
     * given on its method.
     */
    public static class Builder extends FeedForwardLayer.Builder<Builder> {
        /** The options being built, each at its field's default until set. */
        private final BatchNorm options = new BatchNorm((Void) null);
        private List<LayerConstraint> gammaConstraints = new ArrayList<>();
        private List<LayerConstraint> betaConstraints = new ArrayList<>();

        /** Starts a builder with every default. */
        public Builder() {
        }

        /**
         * @param eps added to the variance before the square root (Algorithm 1, line 3): finite and {@code >= 0}
         *            (with 0, a channel with one value throughout divides by zero). Default 1e-5.
         * @return this builder
         */
        public Builder eps(double eps) {
            options.eps = eps;
            return this;
        }

        /**
         * Exponential moving average of the running statistics in DL4J's convention,
         * {@code running = decay * running + (1 - decay) * batch}. Default 0.9. Clears {@link #cumulativeAverage()}.
         *
         * @param decay in [0, 1)
         * @return this builder
         */
        public Builder decay(double decay) {
            options.decay = decay;
            options.cumulativeAverage = false;
            return this;
        }

        /**
         * Running statistics are the plain average over every training batch seen so far, the paper's E_B
         * (Algorithm 2, line 10; PyTorch's momentum=None). Adds the {@code batchCount} parameter.
         *
         * @return this builder
         */
        public Builder cumulativeAverage() {
            options.cumulativeAverage = true;
            return this;
        }

        /**
         * Which population variance the running variance accumulates. Default {@link VarianceEstimate#UNBIASED}
         * (times m/(m-1)); {@link VarianceEstimate#BIASED} mirrors DL4J's built-in layer.
         *
         * @param estimate the estimate
         * @return this builder
         */
        public Builder varianceEstimate(VarianceEstimate estimate) {
            options.varianceEstimate = Objects.requireNonNull(estimate, "estimate");
            return this;
        }

        /**
         * Fix gamma and beta to {@link #gamma(double)} and {@link #beta(double)} instead of learning them: the same
         * as {@code center(!lock).scale(!lock)}. Default false.
         *
         * @param lock true to fix gamma and beta
         * @return this builder
         */
        public Builder lockGammaBeta(boolean lock) {
            options.center = !lock;
            options.scale = !lock;
            return this;
        }

        /**
         * Keras's {@code center}: whether beta, the shift of Algorithm 1 line 4, is learned. Off, there is no
         * {@code beta} parameter and the shift is the fixed {@link #beta(double)} (0 by default). Default true.
         *
         * @param center learn beta
         * @return this builder
         */
        public Builder center(boolean center) {
            options.center = center;
            return this;
        }

        /**
         * Keras's {@code scale}: whether gamma, the scale of Algorithm 1 line 4, is learned. Off, there is no
         * {@code gamma} parameter and the scale is the fixed {@link #gamma(double)} (1 by default); Keras suggests
         * it before a ReLU or a linear layer, which can do the scaling. Default true.
         *
         * @param scale learn gamma
         * @return this builder
         */
        public Builder scale(boolean scale) {
            options.scale = scale;
            return this;
        }

        /**
         * Frozen statistics, for fine-tuning: training normalizes with the running statistics, as inference does
         * (Algorithm 2, line 11), backpropagates through that affine map only, and never moves the statistics;
         * gamma and beta still train. Keras's {@code trainable = False}, torchvision's {@code FrozenBatchNorm2d}
         * with gamma and beta learned, PyTorch's {@code freeze_bn_stats}. Ghost batches then do nothing; an
         * error with renorm or without running statistics. Default false; a live layer has the same switch
         * ({@link io.github.dl4jbn.layers.BatchNormLayer#setFreezeStatistics(boolean)}).
         *
         * @param freeze true to freeze the running statistics
         * @return this builder
         */
        public Builder freezeStatistics(boolean freeze) {
            options.freezeStatistics = freeze;
            return this;
        }

        /**
         * Whether the layer keeps running statistics. Off (PyTorch's {@code track_running_stats=False}), there
         * are no {@code mean} and {@code var} parameters, and training and inference both normalize each batch
         * with its own mean and biased variance (Algorithm 1), so inference needs more than one value per channel
         * too. Such a layer cannot be folded or converted to DL4J's layer, and the population pass skips it.
         * Default true.
         *
         * @param track keep running statistics
         * @return this builder
         */
        public Builder trackRunningStatistics(boolean track) {
            options.trackRunningStatistics = track;
            return this;
        }

        /**
         * PyTorch's defaults and conventions ({@code torch.nn.BatchNorm2d}): eps 1e-5, momentum 0.1 (here decay
         * 0.9, the weight of the old value), the unbiased running variance, gamma 1 and beta 0, both learned.
         * These are also this builder's defaults; the preset says so in code. {@code momentum=None} is
         * {@link #cumulativeAverage()}, {@code affine=False} {@code lockGammaBeta(true)},
         * {@code track_running_stats=False} {@code trackRunningStatistics(false)}.
         *
         * @return a builder with PyTorch's defaults
         */
        public static Builder pytorch() {
            return new Builder().eps(1e-5).decay(0.9).varianceEstimate(VarianceEstimate.UNBIASED).center(true).scale(true);
        }

        /**
         * Keras 3's defaults and conventions ({@code keras.layers.BatchNormalization}): epsilon 1e-3, momentum
         * 0.99 (here decay 0.99: Keras's momentum is the weight of the old value, as decay is), the biased batch
         * variance in the moving variance, center and scale true. The axis (Keras: -1, channels last) comes from
         * the InputType, as for every layer here.
         *
         * @return a builder with Keras 3's defaults
         */
        public static Builder keras() {
            return new Builder().eps(1e-3).decay(0.99).varianceEstimate(VarianceEstimate.BIASED).center(true).scale(true);
        }

        /**
         * @param gamma gamma's fixed value with {@code scale(false)} or {@link #lockGammaBeta(boolean)}, its initial
         *              value otherwise. Default 1.
         * @return this builder
         */
        public Builder gamma(double gamma) {
            options.gamma = gamma;
            return this;
        }

        /**
         * @param beta beta's fixed value with {@code center(false)} or {@link #lockGammaBeta(boolean)}, its initial
         *             value otherwise. Default 0.
         * @return this builder
         */
        public Builder beta(double beta) {
            options.beta = beta;
            return this;
        }

        /**
         * Apply the layer's regularization (l1, l2, weight decay) to gamma and its bias regularization to beta.
         * Default false: like DL4J's built-in layer, gamma and beta are not regularized.
         *
         * @param regularize true to regularize gamma and beta
         * @return this builder
         */
        public Builder regularizeGammaBeta(boolean regularize) {
            options.regularizeGammaBeta = regularize;
            return this;
        }

        /**
         * Layout of rank-4 input. Default NCHW; a convolutional InputType sets it.
         *
         * @param format NCHW or NHWC
         * @return this builder
         */
        public Builder dataFormat(CNN2DFormat format) {
            options.cnn2dFormat = Objects.requireNonNull(format, "format");
            return this;
        }

        /**
         * Layout of rank-3 input. Default NCW; a recurrent InputType sets it.
         *
         * @param format NCW or NWC
         * @return this builder
         */
        public Builder dataFormat(RNNFormat format) {
            options.rnnFormat = Objects.requireNonNull(format, "format");
            return this;
        }

        /**
         * Layout of rank-5 input. Default NCDHW; a 3-D convolutional InputType sets it.
         *
         * @param format NCDHW or NDHWC
         * @return this builder
         */
        public Builder dataFormat(Convolution3D.DataFormat format) {
            options.cnn3dFormat = Objects.requireNonNull(format, "format");
            return this;
        }

        /**
         * Constraints applied to gamma after each parameter update (for example non-negativity).
         *
         * @param constraints the constraints
         * @return this builder
         */
        public Builder constrainGamma(LayerConstraint... constraints) {
            this.gammaConstraints = Arrays.asList(constraints);
            return this;
        }

        /**
         * Constraints applied to beta after each parameter update.
         *
         * @param constraints the constraints
         * @return this builder
         */
        public Builder constrainBeta(LayerConstraint... constraints) {
            this.betaConstraints = Arrays.asList(constraints);
            return this;
        }

        /**
         * What a training forward does when the batch statistics of some channel are not finite (a NaN or an
         * infinity in the input). Default {@link NonFinitePolicy#FAIL}: an error, and nothing is written.
         *
         * @param policy FAIL or SKIP
         * @return this builder
         */
        public Builder nonFiniteBatches(NonFinitePolicy policy) {
            options.nonFiniteBatches = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /**
         * Batch Renormalization (Ioffe 2017): training normalizes with {@code xhat * r + d}, r and d computed
         * from the running statistics and clipped as the schedule says, constants in the backward pass.
         * Inference is unchanged. Default: off. With {@code Renorm.constant(1, 0)} the layer is plain Batch
         * Normalization, bit for bit.
         *
         * @param schedule the clipping schedule, for example {@code Renorm.warmUp(3, 5, 5000, 20000)}
         * @return this builder
         */
        public Builder renorm(Renorm schedule) {
            options.renorm = Objects.requireNonNull(schedule, "schedule");
            return this;
        }

        /**
         * Ghost batches (Hoffer, Hubara and Soudry 2017): training statistics, and the backward pass, per slice
         * of {@code examples} examples along the batch axis. The running statistics move once per mini-batch,
         * by the average of the slices' statistics. The mini-batch must be a multiple of {@code examples}.
         * Default: 0, off.
         *
         * @param examples examples per ghost batch, at least 2
         * @return this builder
         */
        public Builder virtualBatchSize(int examples) {
            options.virtualBatchSize = examples;
            return this;
        }

        /**
         * Builds the configuration.
         *
         * @return a new {@link BatchNorm}
         * @throws IllegalArgumentException if an option is invalid (the message names it, the expected and the
         *                                  actual value), or gamma and beta are locked and also constrained
         */
        @Override
        @SuppressWarnings("unchecked")
        public BatchNorm build() {
            return new BatchNorm(this);
        }
    }
}
