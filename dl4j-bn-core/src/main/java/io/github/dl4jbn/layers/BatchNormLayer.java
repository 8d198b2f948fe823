package io.github.dl4jbn.layers;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.VarianceEstimate;
import io.github.dl4jbn.kernels.BatchNormKernels;
import io.github.dl4jbn.kernels.ChannelView;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.BaseLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Map;

/**
 * The runtime Batch Normalization layer configured by {@link BatchNorm}: a thin adapter between DL4J's layer
 * API and {@link BatchNormKernels}.
 *
 * <p>{@code activate(training=true)} normalizes with the batch's mean and biased variance (Algorithm 1);
 * {@code activate(training=false)} with the stored population mean and variance (Algorithm 2).
 * {@code backpropGradient} differentiates whichever forward ran last: through the batch statistics after a
 * training forward, with the statistics as constants after an inference forward (as inside
 * {@code FrozenLayerWithBackprop}). The running statistics move only in the backward pass of a training
 * forward, once per training iteration, written straight into the parameter vector.
 *
 * <p>Every check runs before anything is written, so a call that throws leaves parameters, running statistics
 * and the gradient untouched.
 */
public class BatchNormLayer extends BaseLayer<BatchNorm> {

    /** What a forward pass keeps for the backward pass: per-channel vectors only, never a tensor. */
    private record ForwardCache(ChannelView view, boolean batchStatistics, double[] mean, double[] invStd,
                                double[] batchVariance) {
    }

    private final HostArrays host = new HostArrays();
    private double[] xBuffer;       // the input x, row-major
    private double[] gradBuffer;    // dy on the backward
    private double[] outBuffer;     // y on the forward, dx on the backward
    private ForwardCache cache;

    /**
     * Creates the layer; DL4J calls this through {@link BatchNorm#instantiate}.
     *
     * @param conf     the layer's configuration
     * @param dataType the network's data type
     */
    public BatchNormLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
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
     * otherwise (Algorithm 2, line 11), then applies the layer's activation (identity by default).
     *
     * @param training     true for a training forward pass
     * @param workspaceMgr DL4J's workspace manager; the result lives in {@link ArrayType#ACTIVATIONS}
     * @return the normalized output, same shape as the input
     */
    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        ChannelView view = InputLayout.of(input.shape(), layerConf(), layerId());
        if (training && view.valuesPerChannel() < 2) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId() + ": training needs more than one value per "
                    + "channel to compute a batch variance, got input shape " + Arrays.toString(input.shape())
                    + " (" + view.valuesPerChannel() + " value per channel); use a mini-batch of 2 or more, "
                    + "or inference mode");
        }
        applyDropOutIfNecessary(training, workspaceMgr);
        double[] x = xBuffer = read(input, xBuffer, view.size());

        int channels = view.channels();
        double[] mean = new double[channels];
        double[] variance = new double[channels];
        if (training) {
            BatchNormKernels.batchMeanAndVariance(x, view, mean, variance);     // Algorithm 1, lines 1-2
        } else {
            readParam(BatchNormParamInitializer.MEAN, mean);
            readParam(BatchNormParamInitializer.VAR, variance);
        }
        double[] invStd = new double[channels];
        BatchNormKernels.inverseStd(variance, layerConf().getEps(), invStd, channels);
        double[] gamma = gammaOrBeta(BatchNormParamInitializer.GAMMA, channels);
        double[] beta = gammaOrBeta(BatchNormParamInitializer.BETA, channels);

        double[] y = outBuffer = HostArrays.atLeast(outBuffer, view.size());
        BatchNormKernels.normalize(x, view, mean, invStd, gamma, beta, y);   // Algorithm 1 lines 3-4 / Algorithm 2 line 11
        INDArray output = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, input.shape(), 'c');
        host.write(y, output);
        cache = new ForwardCache(view, training, mean, invStd, training ? variance : null);
        if (!(layerConf().getActivationFn() instanceof ActivationIdentity)) {
            output = layerConf().getActivationFn().getActivation(output, training);
        }
        return output;
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
        ChannelView view = f.view();
        int channels = view.channels();
        double[] gamma = gammaOrBeta(BatchNormParamInitializer.GAMMA, channels);
        double[] x = xBuffer = read(input, xBuffer, view.size());
        if (!(layerConf().getActivationFn() instanceof ActivationIdentity)) {
            epsilon = activationBackprop(f, x, gamma, epsilon, workspaceMgr);
        }
        double[] dy = gradBuffer = read(epsilon, gradBuffer, view.size());

        double[] dgamma = new double[channels];
        double[] dbeta = new double[channels];
        double[] dx = outBuffer = HostArrays.atLeast(outBuffer, view.size());
        BatchNormKernels.backward(x, dy, view, f.mean(), f.invStd(), gamma, f.batchStatistics(), dx, dgamma, dbeta);
        INDArray inputGradient = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, input.shape(), 'c');
        host.write(dx, inputGradient);
        inputGradient = backpropDropOutIfPresent(inputGradient);

        Gradient gradient = new DefaultGradient();
        Map<String, INDArray> views = gradientViews;
        if (!layerConf().isLockGammaBeta()) {
            writeParam(views.get(BatchNormParamInitializer.GAMMA), dgamma);
            writeParam(views.get(BatchNormParamInitializer.BETA), dbeta);
            gradient.gradientForVariable().put(BatchNormParamInitializer.GAMMA, views.get(BatchNormParamInitializer.GAMMA));
            gradient.gradientForVariable().put(BatchNormParamInitializer.BETA, views.get(BatchNormParamInitializer.BETA));
        }
        for (String key : BatchNormParamInitializer.getInstance().statisticsKeys(layerConf())) {
            views.get(key).assign(0);                                // statistics are not learned by gradient
            gradient.gradientForVariable().put(key, views.get(key));
        }
        if (f.batchStatistics()) {
            updateRunningStatistics(f);
            cache = new ForwardCache(f.view(), false, f.mean(), f.invStd(), null);   // one update per forward
        }
        return new Pair<>(gradient, inputGradient);
    }

    /** Gradient through the activation: recompute the normalized value z, then dL/dz = act'(z) * epsilon. */
    private INDArray activationBackprop(ForwardCache f, double[] x, double[] gamma, INDArray epsilon,
                                        LayerWorkspaceMgr mgr) {
        double[] beta = gammaOrBeta(BatchNormParamInitializer.BETA, f.view().channels());
        double[] z = outBuffer = HostArrays.atLeast(outBuffer, f.view().size());
        BatchNormKernels.normalize(x, f.view(), f.mean(), f.invStd(), gamma, beta, z);
        INDArray preActivation = mgr.createUninitialized(ArrayType.BP_WORKING_MEM, dataType, input.shape(), 'c');
        host.write(z, preActivation);
        INDArray eps = mgr.dup(ArrayType.BP_WORKING_MEM, epsilon, 'c');
        return layerConf().getActivationFn().backprop(preActivation, eps).getFirst();
    }

    /** Algorithm 2, line 10 (or its moving-average form), with the batch variance made unbiased if configured. */
    private void updateRunningStatistics(ForwardCache f) {
        BatchNorm conf = layerConf();
        int channels = f.view().channels();
        double m = f.view().valuesPerChannel();
        double[] batchVariance = f.batchVariance().clone();
        if (conf.getVarianceEstimate() == VarianceEstimate.UNBIASED) {
            for (int c = 0; c < channels; c++) {
                batchVariance[c] *= m / (m - 1);                    // unbiased: m/(m-1) * var_B
            }
        }
        double weight = 1.0 - conf.getDecay();
        INDArray countView = null;
        if (conf.isCumulativeAverage()) {
            countView = getParam(BatchNormParamInitializer.BATCH_COUNT);
            weight = 1.0 / (countView.getDouble(0) + 1.0);          // E_B: equal weight for every batch
        }
        double[] mean = new double[channels];
        double[] variance = new double[channels];
        readParam(BatchNormParamInitializer.MEAN, mean);
        readParam(BatchNormParamInitializer.VAR, variance);
        BatchNormKernels.updateRunningAverage(mean, f.mean(), weight, channels);
        BatchNormKernels.updateRunningAverage(variance, batchVariance, weight, channels);
        writeParam(getParam(BatchNormParamInitializer.MEAN), mean);
        writeParam(getParam(BatchNormParamInitializer.VAR), variance);
        if (countView != null) {
            countView.putScalar(0, countView.getDouble(0) + 1.0);
        }
    }

    /** Copies an array into a reusable row-major double[] buffer, densifying views and casting first if needed. */
    private double[] read(INDArray array, double[] buffer, int size) {
        double[] to = HostArrays.atLeast(buffer, size);
        INDArray dense = array.dataType() == dataType ? array : array.castTo(dataType);
        if (!HostArrays.isDenseRowMajor(dense)) {
            dense = dense.dup('c');
        }
        host.read(dense, to);
        return to;
    }

    /** gamma or beta per channel: the parameter, or the configured constant when locked. */
    private double[] gammaOrBeta(String key, int channels) {
        double[] values = new double[channels];
        if (layerConf().isLockGammaBeta()) {
            Arrays.fill(values, BatchNormParamInitializer.GAMMA.equals(key) ? layerConf().getGamma() : layerConf().getBeta());
        } else {
            readParam(key, values);
        }
        return values;
    }

    private void readParam(String key, double[] to) {
        INDArray param = getParam(key);
        if (HostArrays.isDenseRowMajor(param)) {
            host.read(param, to);
        } else {
            System.arraycopy(param.toDoubleVector(), 0, to, 0, to.length);
        }
    }

    private void writeParam(INDArray view, double[] values) {
        if (HostArrays.isDenseRowMajor(view)) {
            host.write(values, view);
        } else {
            try (var ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                view.assign(Nd4j.createFromArray(values).castTo(view.dataType()));
            }
        }
    }

    @Override
    public void fit(INDArray input, LayerWorkspaceMgr workspaceMgr) {
        throw new UnsupportedOperationException("BatchNorm " + layerId() + " has no unsupervised fit");
    }
}
