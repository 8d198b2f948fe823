package io.github.dl4jbn.bench;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.Renorm;
import org.deeplearning4j.nn.api.Layer;
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
 * Training forward+backward of plain BatchNorm, Batch Renormalization (clipping active: r and d differ from 1 and
 * 0) and ghost batches of 16 examples (20 for the batch of 60), FLOAT, on {@link BatchNormBenchmark}'s shapes,
 * in the same run. {@code BenchTable --renorm} divides each by plain BatchNorm.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g", "--add-modules=jdk.incubator.vector"})
public class RenormBenchmark {

    @Param({"FF_60x100", "FF_256x1024", "NCHW_32x64x32x32", "NHWC_32x32x32x64", "NCW_32x128x50"})
    public String shape;

    @Param({"plain", "renorm", "ghost"})
    public String variant;


    private LayerWorkspaceMgr mgr;
    private Layer layer;
    private INDArray x;
    private INDArray dy;

    @Setup(Level.Trial)
    public void setUp() {
        long[] d = BatchNormBenchmark.dims(shape);
        x = Nd4j.randn(DataType.FLOAT, d).muli(2).addi(1);
        dy = Nd4j.randn(DataType.FLOAT, d);
        mgr = BenchLayer.workspaces();
        BatchNorm.Builder b = new BatchNorm.Builder();
        if (variant.equals("renorm")) {
            b.renorm(Renorm.constant(1.5, 0.5));     // the running statistics start at 0 and 1: r and d are clipped
        } else if (variant.equals("ghost")) {
            b.virtualBatchSize(d[0] % 16 == 0 ? 16 : 20);
        }
        layer = BenchLayer.single(b.build(), BatchNormBenchmark.inputType(shape));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    /** Training forward and backward through DL4J's layer API. */
    @Benchmark
    public double trainingForwardBackward() {
        return BenchLayer.trainingForwardBackward(layer, x, dy, mgr);
    }
}
