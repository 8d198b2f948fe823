package io.github.dl4jbn.bench;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * One Batch Normalization step, FLOAT, for each shape, mode and contender in the same run: this project's
 * layer (with its Vector API kernels, and with its plain Java ones as a JVM without the incubator module runs), DL4J's built-in layer (both through the DL4J layer API inside workspaces, as during training),
 * ND4J's fused batchnorm / batchnorm_bp ops on preallocated arrays, PyTorch's CPU batch_norm through DJL
 * ({@link TorchBatchNorm}, checked against the reference before it is timed), and a plain copy of the tensor
 * ({@code INDArray.assign}) as the memory reference, and the API floor: what any layer call costs through DL4J's
 * layer API with no math at all (its fresh output arrays in the workspaces, their NIO views, and a bulk copy of
 * the input, and of the output gradient, into them).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g", "--add-modules=jdk.incubator.vector"})
public class BatchNormBenchmark {

    @Param({"FF_60x100", "FF_256x1024", "NCHW_32x64x32x32", "NHWC_32x32x32x64", "NCW_32x128x50"})
    public String shape;

    @Param({"ours", "ours-heap", "builtin", "nd4j", "pytorch", "copy", "api-floor"})
    public String contender;


    private LayerWorkspaceMgr mgr;
    private Layer layer;
    private INDArray x;
    private INDArray dy;
    private INDArray out;
    private INDArray mean;
    private INDArray var;
    private INDArray gamma;
    private INDArray beta;
    private INDArray dx;
    private INDArray dgamma;
    private INDArray dbeta;
    private int[] reduceDims;
    private int channelAxis;
    private TorchBatchNorm torch;

    /** Shape, InputType and channel axis of a case name. */
    static InputType inputType(String shape) {
        switch (shape) {
            case "FF_60x100":
                return InputType.feedForward(100);
            case "FF_256x1024":
                return InputType.feedForward(1024);
            case "NCHW_32x64x32x32":
                return InputType.convolutional(32, 32, 64, CNN2DFormat.NCHW);
            case "NHWC_32x32x32x64":
                return InputType.convolutional(32, 32, 64, CNN2DFormat.NHWC);
            default:
                return InputType.recurrent(128, 50, RNNFormat.NCW);
        }
    }

    static long[] dims(String shape) {
        String[] parts = shape.substring(shape.indexOf('_') + 1).split("x");
        long[] d = new long[parts.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = Long.parseLong(parts[i]);
        }
        return d;
    }

    @Setup(Level.Trial)
    public void setUp() {
        long[] d = dims(shape);
        channelAxis = shape.startsWith("NHWC") ? 3 : 1;
        int channels = (int) d[channelAxis];
        reduceDims = new int[d.length - 1];
        for (int a = 0, k = 0; a < d.length; a++) {
            if (a != channelAxis) {
                reduceDims[k++] = a;
            }
        }
        x = Nd4j.randn(DataType.FLOAT, d).muli(2).addi(1);
        dy = Nd4j.randn(DataType.FLOAT, d);
        out = Nd4j.createUninitialized(DataType.FLOAT, d);
        dx = Nd4j.createUninitialized(DataType.FLOAT, d);
        mean = Nd4j.zeros(DataType.FLOAT, channels);
        var = Nd4j.ones(DataType.FLOAT, channels);
        gamma = Nd4j.ones(DataType.FLOAT, channels);
        beta = Nd4j.zeros(DataType.FLOAT, channels);
        dgamma = Nd4j.zeros(DataType.FLOAT, channels);
        dbeta = Nd4j.zeros(DataType.FLOAT, channels);
        mgr = BenchLayer.workspaces();
        if (contender.equals("ours-heap")) {
            System.setProperty("dl4jbn.vector", "false");      // each trial is a fresh JVM: the plain Java kernels
        }
        if (contender.startsWith("ours") || contender.equals("builtin")) {
            org.deeplearning4j.nn.conf.layers.Layer conf = contender.startsWith("ours")
                    ? new BatchNorm.Builder().build()
                    : new BatchNormalization.Builder().build();
            layer = BenchLayer.single(conf, inputType(shape));
        }
        if (contender.equals("pytorch")) {
            torch = new TorchBatchNorm(d, channelAxis == 3, x.data().asFloat(), dy.data().asFloat());
            checkTorchComputesTheSame();
        }
    }

    /** Refuses to time PyTorch unless its training output is the normalized input, computed here by ND4J. */
    private void checkTorchComputesTheSame() {
        INDArray mu = x.mean(reduceDims);
        INDArray sd = Transforms.sqrt(x.var(false, reduceDims).addi(1e-5), false);
        INDArray expected = x.sub(mu.reshape(broadcastShape())).divi(sd.reshape(broadcastShape()));
        INDArray actual = Nd4j.createFromArray(torch.trainingOutput()).reshape(x.shape());
        double worst = Transforms.abs(actual.sub(expected), false).maxNumber().doubleValue();
        if (worst > 1e-3) {
            throw new IllegalStateException("PyTorch's batch_norm differs from the reference by " + worst);
        }
    }

    private long[] broadcastShape() {
        long[] b = new long[x.rank()];
        java.util.Arrays.fill(b, 1);
        b[channelAxis] = x.size(channelAxis);
        return b;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (torch != null) {
            torch.close();
        }
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    private DynamicCustomOp forwardOp(INDArray m, INDArray v) {
        return DynamicCustomOp.builder("batchnorm").addInputs(x, m, v, gamma, beta).addOutputs(out)
                .addIntegerArguments(1, 1, channelAxis).addFloatingPointArguments(1e-5).build();
    }

    /**
     * The floor under any layer call: a fresh output array of {@code from}'s shape in the workspace of
     * {@code type}, made as our layer makes it (ND4J's padded-array constructor with no padding), and filled
     * with a bulk copy of {@code from} through both arrays' NIO views.
     */
    private double floorCall(ArrayType type, INDArray from) {
        INDArray to;
        try (MemoryWorkspace borrowed = mgr.notifyScopeBorrowed(type)) {
            long[] noPadding = new long[from.rank()];
            to = Nd4j.getNDArrayFactory().create(DataType.FLOAT, from.shape(), noPadding, noPadding, 'c',
                    Nd4j.getMemoryManager().getCurrentWorkspace());
        }
        to.data().asNio().put(0, from.data().asNio(), 0, 4 * (int) from.length());
        return to.getDouble(0);
    }

    /** Training forward: batch statistics, then the normalized output. */
    @Benchmark
    public Object trainingForward() {
        switch (contender) {
            case "copy":
                return out.assign(x);
            case "api-floor":
                try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
                    return floorCall(ArrayType.ACTIVATIONS, x);
                }
            case "pytorch":
                return torch.trainingForward();
            case "nd4j":
                Nd4j.exec(forwardOp(x.mean(reduceDims), x.var(false, reduceDims)));
                return out;
            default:
                try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
                    layer.setInput(x, mgr);
                    return layer.activate(true, mgr).getDouble(0);
                }
        }
    }

    /** Training forward and backward. */
    @Benchmark
    public Object trainingForwardBackward() {
        switch (contender) {
            case "copy":
                return out.assign(x);
            case "api-floor":
                try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS);
                     MemoryWorkspace grad = mgr.notifyScopeEntered(ArrayType.ACTIVATION_GRAD)) {
                    return floorCall(ArrayType.ACTIVATIONS, x) + floorCall(ArrayType.ACTIVATION_GRAD, dy);
                }
            case "pytorch":
                return torch.trainingForwardBackward();
            case "nd4j": {
                INDArray m = x.mean(reduceDims);
                INDArray v = x.var(false, reduceDims);
                Nd4j.exec(forwardOp(m, v));
                Nd4j.exec(DynamicCustomOp.builder("batchnorm_bp").addInputs(x, m, v, gamma, beta, dy)
                        .addOutputs(dx, dgamma, dbeta).addIntegerArguments(1, 1, channelAxis)
                        .addFloatingPointArguments(1e-5).build());
                return dx;
            }
            default:
                return BenchLayer.trainingForwardBackward(layer, x, dy, mgr);
        }
    }

    /** Inference forward with the population statistics. */
    @Benchmark
    public Object inference() {
        switch (contender) {
            case "copy":
                return out.assign(x);
            case "api-floor":
                try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
                    return floorCall(ArrayType.ACTIVATIONS, x);
                }
            case "pytorch":
                return torch.inference();
            case "nd4j":
                Nd4j.exec(forwardOp(mean, var));
                return out;
            default:
                try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
                    layer.setInput(x, mgr);
                    return layer.activate(false, mgr).getDouble(0);
                }
        }
    }
}
