package io.github.dl4jbn.bench;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
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
 * Training forward+backward of one FLOAT layer as the work grows, from 16 KiB to 2.4 GB, NCHW and NHWC, with the
 * copy of the same tensor ({@code INDArray.assign}, 8 bytes moved per element) in the same run: an ideal fused
 * forward+backward moves 32 bytes per element, so its memory bound is 4x the copy's time. {@link CostPlot} turns
 * the CSV into time per element. The largest case is the 2.36 GB volume [40, 64, 480, 480] that once failed;
 * its JVM holds about 10 GB off-heap (input, gradient, output, dx), so JavaCPP's limits are raised.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "--add-modules=jdk.incubator.vector",
        "-Dorg.bytedeco.javacpp.maxbytes=14G", "-Dorg.bytedeco.javacpp.maxphysicalbytes=20G"})
public class CostPerElementBenchmark {

    /** The NCHW shape of each size; NHWC runs the same extents channels-last. 4 bytes per value. */
    @Param({"4x16x8x8", "8x16x16x16", "16x16x32x32", "32x64x32x32", "32x64x64x64", "64x64x64x64", "128x64x128x128",
            "40x64x480x480"})
    public String nchw;

    @Param({"NCHW", "NHWC"})
    public String format;

    @Param({"ours", "copy"})
    public String contender;


    private LayerWorkspaceMgr mgr;
    private Layer layer;
    private INDArray x;
    private INDArray dy;
    private INDArray out;

    /**
     * @param nchw   extents N x C x H x W
     * @param format NCHW or NHWC
     * @return the tensor's shape in that format
     */
    static long[] shape(String nchw, String format) {
        long[] d = BatchNormBenchmark.dims("_" + nchw);
        return format.equals("NCHW") ? d : new long[]{d[0], d[2], d[3], d[1]};
    }

    @Setup(Level.Trial)
    public void setUp() {
        long[] d = shape(nchw, format);
        x = Nd4j.rand(DataType.FLOAT, d).subi(0.5).muli(4);
        if (contender.equals("copy")) {
            out = Nd4j.createUninitialized(DataType.FLOAT, d);
            return;
        }
        dy = Nd4j.rand(DataType.FLOAT, d).subi(0.5);
        mgr = BenchLayer.workspaces();
        long[] n = BatchNormBenchmark.dims("_" + nchw);
        CNN2DFormat f = CNN2DFormat.valueOf(format);
        layer = BenchLayer.single(new BatchNorm.Builder().build(), InputType.convolutional(n[2], n[3], n[1], f));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    /** Training forward and backward through DL4J's layer API, or the copy. */
    @Benchmark
    public Object trainingForwardBackward() {
        if (contender.equals("copy")) {
            return out.assign(x);
        }
        return BenchLayer.trainingForwardBackward(layer, x, dy, mgr);
    }
}
