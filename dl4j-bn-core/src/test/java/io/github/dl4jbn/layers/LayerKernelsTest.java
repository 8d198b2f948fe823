package io.github.dl4jbn.layers;

import io.github.dl4jbn.Compare;
import io.github.dl4jbn.internal.kernels.ChannelView;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ND4J's-ops kernels against the host kernels, call by call in one JVM: statistics, normalized output, dx,
 * dgamma and dbeta on the same loaded input, with and without a mask whose padded steps hold NaN; and which
 * kernels this JVM's layers run.
 */
class LayerKernelsTest {

    /** What the build expects: "nd4j" in the ND4J-ops run; the host kernels in every other run. */
    @Test
    void thisJvmRunsTheLayerKernelsTheBuildExpects() {
        String expected = System.getProperty("dl4jbn.test.expectedKernels");
        if ("nd4j".equals(expected)) {
            assertTrue(LayerKernels.nd4jOps());
            assertTrue(LayerKernels.forType(DataType.FLOAT) instanceof Nd4jOpsKernels);
        } else if (expected != null) {
            assertFalse(LayerKernels.nd4jOps());
            assertTrue(LayerKernels.forType(DataType.FLOAT) instanceof HostKernels);
        }
    }

    @ParameterizedTest(name = "{0} [{1},{2},{3}] masked={4}")
    @CsvSource({
            "FLOAT, 6, 5, 7, false",
            "FLOAT, 6, 5, 7, true",
            "DOUBLE, 4, 3, 33, true",
            "DOUBLE, 40, 9, 1, false",
            "HALF, 5, 4, 6, false",
            "HALF, 5, 4, 6, true",
            "BFLOAT16, 5, 4, 6, false",
            "BFLOAT16, 6, 3, 7, true",
            "FLOAT, 3, 70, 9, true"})
    void nd4jOpsGiveTheHostKernelsResults(DataType type, long outer, int channels, long inner, boolean masked) {
        ChannelView view = new ChannelView(outer, channels, inner);
        Random r = new Random(outer * 31 + channels);
        INDArray x = Nd4j.rand(DataType.DOUBLE, outer, channels, inner).muli(4).addi(7).castTo(type);
        INDArray dy = Nd4j.randn(DataType.DOUBLE, outer, channels, inner).castTo(type);
        INDArray mask = null;
        if (masked) {
            mask = Nd4j.ones(DataType.FLOAT, outer * inner);
            for (long o = 0; o < outer; o++) {
                for (long i = 1 + r.nextInt((int) inner); i < inner; i++) {
                    mask.putScalar(o * inner + i, 0);
                    for (int c = 0; c < channels; c++) {
                        x.putScalar(new long[]{o, c, i}, Double.NaN);         // padding never read
                        dy.putScalar(new long[]{o, c, i}, Double.NaN);
                    }
                }
            }
        }
        double[] gamma = new double[channels];
        double[] beta = new double[channels];
        for (int c = 0; c < channels; c++) {
            gamma[c] = 0.5 + r.nextDouble();
            beta[c] = r.nextGaussian();
        }
        Result host = run(HostKernels.forType(type), view, x, dy, mask, gamma, beta, type);
        Result ops = run(new Nd4jOpsKernels(type), view, x, dy, mask, gamma, beta, type);
        double tolerance = type == DataType.DOUBLE ? 1e-12 : type == DataType.FLOAT ? 2e-5 : 2e-2;
        assertEquals(host.m, ops.m, "m");
        assertClose(host.mean, ops.mean, tolerance, "mean");
        assertClose(host.var, ops.var, tolerance, "variance");
        assertClose(host.dgamma, ops.dgamma, tolerance, "dgamma");
        assertClose(host.dbeta, ops.dbeta, tolerance, "dbeta");
        assertClose(host.y, ops.y, tolerance * 4, "y");
        assertClose(host.dx, ops.dx, tolerance * 4, "dx");
    }

    private record Result(long m, double[] mean, double[] var, double[] y, double[] dx, double[] dgamma,
                          double[] dbeta) {
    }

    private static Result run(LayerKernels k, ChannelView view, INDArray x, INDArray dy, INDArray mask,
                              double[] gamma, double[] beta, DataType type) {
        int channels = view.channels();
        KernelInput in = KernelInput.whole(x, mask);
        double[] mean = new double[channels];
        double[] var = new double[channels];
        long m = k.batchStatistics(in, view, mean, var);
        double[] invStd = new double[channels];
        for (int c = 0; c < channels; c++) {
            invStd[c] = 1 / Math.sqrt(var[c] + 1e-5);
        }
        INDArray y = Nd4j.create(type, x.shape());
        k.normalize(in, view, mean, invStd, gamma, beta, y);
        INDArray dx = Nd4j.create(type, x.shape());
        double[] dgamma = new double[channels];
        double[] dbeta = new double[channels];
        k.backward(in, dy, view, m, mean, invStd, gamma, true, dx, dgamma, dbeta);
        return new Result(m, mean, var, flat(y), flat(dx), dgamma, dbeta);
    }

    /** Within {@code tolerance} of the expected values' scale (at least 1). */
    private static void assertClose(double[] expected, double[] actual, double tolerance, String what) {
        Compare.assertClose(expected, actual, 0, tolerance * Compare.scale(expected, 1), what);
    }

    private static double[] flat(INDArray a) {
        return a.castTo(DataType.DOUBLE).reshape(a.length()).toDoubleVector();
    }
}
