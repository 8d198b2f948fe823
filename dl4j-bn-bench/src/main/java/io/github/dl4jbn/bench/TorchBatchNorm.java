package io.github.dl4jbn.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;

/**
 * PyTorch's own CPU batch_norm (torch.nn.functional.batch_norm and its autograd backward), reached through DJL,
 * for the benchmark only. Two intra-op threads, like the rest of the run. Channels-last input ([N, H, W, C]) is
 * handed to torch as the permuted [N, C, H, W] view, whose strides make torch pick its channels-last kernel.
 * Each training step detaches a fresh leaf from the input (no copy), so the input gradient is written, not
 * accumulated, as in a training loop that clears gradients to None.
 */
final class TorchBatchNorm implements AutoCloseable {

    private static final float EPS = 1e-5f;
    private static final float DJL_MOMENTUM = 0.9f;             // DJL passes 1 - momentum to torch: torch's 0.1

    private final NDManager manager;
    private final Engine engine;
    private final boolean channelsLast;
    private final NDArray x;
    private final NDArray dy;
    private final NDArray mean;
    private final NDArray var;
    private final NDArray gamma;
    private final NDArray beta;

    /**
     * @param shape        the input shape as stored (channels-last for NHWC)
     * @param channelsLast whether the channel is the last axis of {@code shape}
     * @param xValues      input values, row-major
     * @param dyValues     output-gradient values, row-major
     */
    TorchBatchNorm(long[] shape, boolean channelsLast, float[] xValues, float[] dyValues) {
        this.engine = Engine.getEngine("PyTorch");                 // loads the native library first
        JniUtils.setNumThreads(2);
        this.manager = NDManager.newBaseManager(Device.cpu(), "PyTorch");
        this.channelsLast = channelsLast;
        long channels = channelsLast ? shape[shape.length - 1] : shape[1];
        this.x = manager.create(xValues, new Shape(shape));
        this.dy = manager.create(dyValues, new Shape(shape));
        this.mean = manager.zeros(new Shape(channels), DataType.FLOAT32);
        this.var = manager.ones(new Shape(channels), DataType.FLOAT32);
        this.gamma = manager.ones(new Shape(channels), DataType.FLOAT32);
        this.beta = manager.zeros(new Shape(channels), DataType.FLOAT32);
        gamma.setRequiresGradient(true);
        beta.setRequiresGradient(true);
    }

    /**
     * [N, C, ...] as torch wants it: NHWC storage seen through a permuted (channels-last strided) view, owned by
     * the step's manager; other layouts are the array itself.
     */
    private NDArray channelsFirst(NDArray a, NDManager step) {
        if (!channelsLast) {
            return a;
        }
        NDArray view = a.transpose(0, 3, 1, 2);
        view.attach(step);
        return view;
    }

    private NDArray normalize(NDArray input, boolean training) {
        return BatchNorm.batchNorm(input, mean, var, gamma, beta, -1, DJL_MOMENTUM, EPS, training).singletonOrThrow();
    }

    /** Training forward: batch statistics, output, running-statistics update. */
    Object trainingForward() {
        try (NDManager step = manager.newSubManager()) {
            NDArray y = normalize(channelsFirst(x, step), true);
            y.attach(step);
            return y;
        }
    }

    /** Training forward and autograd backward: dx, dgamma, dbeta. */
    Object trainingForwardBackward() {
        try (NDManager step = manager.newSubManager();
             GradientCollector collector = engine.newGradientCollector()) {
            NDArray leaf = x.stopGradient();
            leaf.attach(step);
            leaf.setRequiresGradient(true);
            NDArray y = normalize(channelsFirst(leaf, step), true);
            y.attach(step);
            JniUtils.backward((PtNDArray) y, (PtNDArray) channelsFirst(dy, step), false, false);
            NDArray dx = leaf.getGradient();
            dx.attach(step);
            return dx;
        }
    }

    /** Inference with the running statistics. */
    Object inference() {
        try (NDManager step = manager.newSubManager()) {
            NDArray y = normalize(channelsFirst(x, step), false);
            y.attach(step);
            return y;
        }
    }

    /** The training-mode output, in the input's own layout, to check against the other contenders. */
    float[] trainingOutput() {
        try (NDManager step = manager.newSubManager()) {
            NDArray y = normalize(channelsFirst(x, step), true);
            y.attach(step);
            NDArray stored = channelsLast ? y.transpose(0, 2, 3, 1) : y;
            stored.attach(step);
            return stored.toFloatArray();
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
