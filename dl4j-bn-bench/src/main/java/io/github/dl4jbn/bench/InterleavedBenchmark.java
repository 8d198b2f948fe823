package io.github.dl4jbn.bench;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.openjdk.jmh.annotations.AuxCounters;
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
 * Our layer as a network calls it: every step first runs ND4J's own ops on other arrays of the same size (a
 * gemm, as a dense or 1x1 convolution layer computes its output, then an in-place ReLU), with ND4J's OpenMP and
 * BLAS threads, then our layer's training forward and backward. The layer's call alone is timed inside the
 * step ({@link LayerTime}: its nanoseconds and calls, so the table divides them), with the default pass threads
 * and with one ({@code -Ddl4jbn.threads=1}). The ND4J ops take milliseconds and vary by as much, so the step's
 * own time says little. {@link BatchNormBenchmark} calls the layer back to back and never shows what the
 * helper threads cost or gain next to ND4J's.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 8, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g", "--add-modules=jdk.incubator.vector"})
public class InterleavedBenchmark {

    @Param({"FF_60x100", "FF_256x1024", "NCHW_32x64x32x32", "NHWC_32x32x32x64", "NCW_32x128x50"})
    public String shape;

    /** Pass threads: "default" (the layer's own choice) or "1". */
    @Param({"default", "1"})
    public String threads;

    /** Inner dimension of the gemm: about as many flops per output value as a small layer. */
    private static final int GEMM_K = 16;


    private LayerWorkspaceMgr mgr;
    private Layer layer;
    private INDArray x;
    private INDArray dy;
    private INDArray a;
    private INDArray b;
    private INDArray c;

    @Setup(Level.Trial)
    public void setUp() {
        if (threads.equals("1")) {
            System.setProperty("dl4jbn.threads", "1");          // each trial is a fresh JVM: read once at first use
        }
        long[] d = BatchNormBenchmark.dims(shape);
        long size = 1;
        for (long extent : d) {
            size *= extent;
        }
        x = Nd4j.randn(DataType.FLOAT, d).muli(2).addi(1);
        dy = Nd4j.randn(DataType.FLOAT, d);
        long columns = d[d.length - 1];
        a = Nd4j.randn(DataType.FLOAT, size / columns, GEMM_K);
        b = Nd4j.randn(DataType.FLOAT, GEMM_K, columns);
        c = Nd4j.createUninitialized(DataType.FLOAT, size / columns, columns);
        mgr = BenchLayer.workspaces();
        layer = BenchLayer.single(new BatchNorm.Builder().build(), BatchNormBenchmark.inputType(shape));
    }

    /** The layer's own time within the steps of an iteration: JMH reports both sums; their ratio is the call's time. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class LayerTime {
        /** Nanoseconds spent in the layer's forward and backward. */
        public long layerNanos;
        /** Forward and backward calls timed. */
        public long layerCalls;

        @Setup(Level.Iteration)
        public void clear() {
            layerNanos = 0;
            layerCalls = 0;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    /** One step: ND4J's gemm and ReLU, then our layer's training forward and backward, timed alone. */
    @Benchmark
    public double step(LayerTime time) {
        Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
        Transforms.relu(c, false);
        double out = c.getDouble(0);
        long start = System.nanoTime();
        out += BenchLayer.trainingForwardBackward(layer, x, dy, mgr);
        time.layerNanos += System.nanoTime() - start;
        time.layerCalls++;
        return out;
    }
}
