package io.github.dl4jbn.bench;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.RNNFormat;
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

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Training forward and backward of a recurrent input with and without a features mask, FLOAT, [32, 128, 50] in
 * NCW and NWC: each example valid for a length drawn between 25 and 50 steps, as padded sequences are. The masked
 * passes run over each example's valid steps and write 0 over the padded ones; the floor is 1.5x the unmasked
 * time.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g", "--add-modules=jdk.incubator.vector"})
public class MaskedBenchmark {

    @Param({"NCW", "NWC"})
    public String format;

    @Param({"unmasked", "masked"})
    public String mask;


    private LayerWorkspaceMgr mgr;
    private Layer layer;
    private INDArray x;
    private INDArray dy;

    @Setup(Level.Trial)
    public void setUp() {
        RNNFormat rnn = RNNFormat.valueOf(format);
        long[] shape = rnn == RNNFormat.NCW ? new long[]{32, 128, 50} : new long[]{32, 50, 128};
        x = Nd4j.randn(DataType.FLOAT, shape).muli(2).addi(1);
        dy = Nd4j.randn(DataType.FLOAT, shape);
        mgr = BenchLayer.workspaces();
        layer = BenchLayer.single(new BatchNorm.Builder().build(), InputType.recurrent(128, 50, rnn));
        if (mask.equals("masked")) {
            Random r = new Random(1);
            INDArray m = Nd4j.zeros(DataType.FLOAT, 32, 50);
            for (int e = 0; e < 32; e++) {
                for (int t = 0, length = 25 + r.nextInt(26); t < length; t++) {
                    m.putScalar(e, t, 1);
                }
            }
            layer.setMaskArray(m);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    @Benchmark
    public double trainingForwardBackward() {
        return BenchLayer.trainingForwardBackward(layer, x, dy, mgr);
    }
}
