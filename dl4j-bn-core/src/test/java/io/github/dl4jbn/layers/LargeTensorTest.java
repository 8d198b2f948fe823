package io.github.dl4jbn.layers;

import io.github.dl4jbn.Compare;
import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.VarianceEstimate;
import io.github.dl4jbn.internal.kernels.BatchNormKernels;
import io.github.dl4jbn.internal.kernels.ChannelMath;
import io.github.dl4jbn.internal.kernels.ChannelView;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tensors past a NIO buffer's 2 GiB reach: a FLOAT NCHW [40, 64, 480, 480] (589,824,000 values, more than
 * 2^29) and a DOUBLE NHWC [3, 1000, 1000, 90] (270,000,000 values, more than 2^28), through the layer (training
 * forward, backward, inference) and, for FLOAT, through the plain Java kernels as well. Per-channel statistics,
 * dgamma and dbeta are checked against sums in double taken while the test writes the values ({@link #fill}),
 * to 1e-5 relative: the mean to 1e-5
 * of the spread, the variance of itself, and the sums dgamma and dbeta of their scale, the larger of their
 * value and the root of their terms' squares (a sum of 9 million terms that cancels to near 0 is no more
 * exact than its terms).
 * y, dx and the inference output are checked at 20,000 random positions spread over the whole tensor (most past
 * the first window) and at its very end.
 *
 * <p>About 12 GB off-heap at the peak: the build runs this class alone in a JVM whose JavaCPP limits are raised.
 */
@Tag("large")
class LargeTensorTest {

    private static final double EPS = 1e-5;
    private static final double TOLERANCE = 1e-5;
    private static final double SHIFT = 3;

    /**
     * Per-channel reference values, in double: the batch mean and biased variance, the gradient sums, and the
     * scale of each sum, the root of its terms' squares.
     */
    private record Reference(double[] mean, double[] var, double[] sumDy, double[] sumDyXhat, double[] scaleDy,
                             double[] scaleDyXhat) {
    }

    /**
     * Whether this JVM reads memory as JDK 17 does. On JDK 22 and later only the FLOAT layer's Vector API loops
     * read memory differently (memory segments, the jar's JDK 22 part); DOUBLE and the plain loops read the same
     * NIO windows on every JDK, so their tests run once, on JDK 17.
     */
    private static final boolean NIO_MEMORY = Runtime.version().feature() < 22;

    @Test
    void floatBeyondTwoGibibytes() {
        long[] shape = {40, 64, 480, 480};
        INDArray x = Nd4j.createUninitialized(DataType.FLOAT, shape);
        INDArray dy = Nd4j.createUninitialized(DataType.FLOAT, shape);
        Reference ref = fill(x, dy, 1, 1, 2);                       // x uniform on [1, 5), dy on [-1, 1)
        MultiLayerNetwork net = net(DataType.FLOAT, InputType.convolutional(480, 480, 64, CNN2DFormat.NCHW));
        checkLayer(net.getLayer(0), x, dy, ref, 1, shape);
        if (!NIO_MEMORY) {
            x.close();
            dy.close();
            return;
        }

        // the plain Java kernels on the same memory, through the layer's own memory adapter
        BatchNormKernels<io.github.dl4jbn.internal.kernels.TensorMemory> plain = BatchNormKernels.plainFloats();
        ChannelView view = new ChannelView(40, 64, 480L * 480);
        double[] mean = new double[64];
        double[] var = new double[64];
        long m = plain.batchStatistics(new Nd4jMemory(x), null, view, mean, var);
        assertEquals(40L * 480 * 480, m);
        assertChannels(ref.mean(), mean, ref.var(), "plain mean");
        assertChannels(ref.var(), var, ref.var(), "plain var");
        double[] invStd = new double[64];
        ChannelMath.inverseStd(var, EPS, invStd);
        double[] ones = new double[64];
        Arrays.fill(ones, 1.0);
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, shape);
        plain.normalize(new Nd4jMemory(x), null, view, mean, invStd, ones, new double[64], new Nd4jMemory(y));
        checkElements(x, y, null, ref, 1, false, "plain y");
        double[] dgamma = new double[64];
        double[] dbeta = new double[64];
        INDArray dx = y;                                            // y is checked: its memory takes dx
        plain.backward(new Nd4jMemory(x), new Nd4jMemory(dy), null, view, m, mean, invStd, ones, true,
                new Nd4jMemory(dx), dgamma, dbeta);
        assertSums(ref.sumDy(), dbeta, ref.scaleDy(), "plain dbeta");
        assertSums(ref.sumDyXhat(), dgamma, ref.scaleDyXhat(), "plain dgamma");
        checkElements(x, dx, dy, ref, 1, true, "plain dx");
        x.close();
        dy.close();
        y.close();
    }

    @Test
    void doubleBeyondOneGibiElements() {
        org.junit.jupiter.api.Assumptions.assumeTrue(NIO_MEMORY, "DOUBLE reads the same memory on every JDK: run on JDK 17");
        long[] shape = {3, 1000, 1000, 90};
        INDArray x = Nd4j.createUninitialized(DataType.DOUBLE, shape);
        INDArray dy = Nd4j.createUninitialized(DataType.DOUBLE, shape);
        Reference ref = fill(x, dy, 3, 3, 4);
        MultiLayerNetwork net = net(DataType.DOUBLE, InputType.convolutional(1000, 1000, 90, CNN2DFormat.NHWC));
        checkLayer(net.getLayer(0), x, dy, ref, 3, shape);
        x.close();
        dy.close();
    }

    /**
     * Independent values from seeded generators, written through the array's memory windows: uniform on
     * [1, 5), or standard Gaussian. ND4J's own rand/randn are unseeded, and at this size their streams
     * correlate (channel sums of 9 million Gaussians 12 standard deviations from 0).
     */
    private static INDArray random(DataType type, long[] shape, long seed, boolean gaussian) {
        INDArray a = Nd4j.createUninitialized(type, shape);
        Nd4jMemory memory = new Nd4jMemory(a);
        int piece = 1 << 22;
        long pieces = (a.length() + piece - 1) / piece;
        java.util.stream.LongStream.range(0, pieces).parallel().forEach(p -> {
            java.util.SplittableRandom r = new java.util.SplittableRandom(seed * 1_000_003 + p);
            long first = p * piece;
            int n = (int) Math.min(piece, a.length() - first);
            java.nio.ByteBuffer w = memory.window(first, n);
            for (int i = 0; i < n; i++) {
                double v = gaussian ? r.nextGaussian() : 1 + 4 * r.nextDouble();
                if (type == DataType.FLOAT) {
                    w.putFloat(4 * i, (float) v);
                } else {
                    w.putDouble(8 * i, v);
                }
            }
        });
        return a;
    }

    /**
     * A DOUBLE layer streams through its tensors: calls on a 10M-value input (80 MB) allocate under 1 MB of Java
     * heap (40 KB measured: ND4J's and DL4J's objects and per-channel arrays), and the layer keeps
     * under 1 MB of it afterwards: the heap a full GC frees when the network is dropped. Before, a DOUBLE layer
     * kept three tensor-sized heap arrays (2.4 GB here).
     */
    @Test
    void doubleCallsKeepTheJavaHeapSmall() throws InterruptedException {
        org.junit.jupiter.api.Assumptions.assumeTrue(NIO_MEMORY, "DOUBLE reads the same memory on every JDK: run on JDK 17");
        long[] shape = {10, 10, 1000, 100};
        INDArray x = random(DataType.DOUBLE, shape, 5, false);
        INDArray dy = random(DataType.DOUBLE, shape, 6, true);
        MultiLayerNetwork net = net(DataType.DOUBLE, InputType.convolutional(1000, 100, 10, CNN2DFormat.NCHW));
        Layer layer = net.getLayer(0);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long allocated = 0;
        for (int call = 0; call < 2; call++) {                     // the second call: per-thread pieces exist
            long before = threads.getCurrentThreadAllocatedBytes();
            layer.setInput(x, mgr);
            layer.activate(true, mgr).close();
            layer.backpropGradient(dy, mgr).getSecond().close();
            layer.activate(false, mgr).close();
            allocated = threads.getCurrentThreadAllocatedBytes() - before;
        }
        assertTrue(allocated < 1_000_000, "a training step and an inference call allocated " + allocated + " bytes");
        long withLayer = usedHeapAfterGc();
        layer = null;
        net = null;
        long without = usedHeapAfterGc();
        assertTrue(withLayer - without < 1_000_000, "the layer keeps " + (withLayer - without) + " bytes of Java heap");
        x.close();
        dy.close();
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        Runtime runtime = Runtime.getRuntime();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 4; i++) {                              // the least of a few: settled
            System.gc();
            Thread.sleep(100);
            used = Math.min(used, runtime.totalMemory() - runtime.freeMemory());
        }
        return used;
    }

    private static MultiLayerNetwork net(DataType type, InputType inputType) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(type).list()
                .layer(new BatchNorm.Builder().decay(0).eps(EPS).varianceEstimate(VarianceEstimate.BIASED).build())
                .setInputType(inputType).build());
        net.init();
        net.initGradientsView();
        return net;
    }

    /**
     * Training forward, backward (which stores the batch statistics as the running ones: decay 0, biased) and
     * inference, without workspaces, each checked.
     */
    private static void checkLayer(Layer layer, INDArray x, INDArray dy, Reference ref, int channelAxis, long[] shape) {
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        layer.setInput(x, mgr);
        INDArray y = layer.activate(true, mgr);
        assertTrue(Arrays.equals(shape, y.shape()));
        checkElements(x, y, null, ref, channelAxis, false, "y");
        y.close();
        Pair<Gradient, INDArray> back = layer.backpropGradient(dy, mgr);
        assertSums(ref.sumDy(), values(back.getFirst().getGradientFor(BatchNormParamInitializer.BETA)), ref.scaleDy(), "dbeta");
        assertSums(ref.sumDyXhat(), values(back.getFirst().getGradientFor(BatchNormParamInitializer.GAMMA)),
                ref.scaleDyXhat(), "dgamma");
        checkElements(x, back.getSecond(), dy, ref, channelAxis, true, "dx");
        back.getSecond().close();
        assertChannels(ref.mean(), values(layer.getParam(BatchNormParamInitializer.MEAN)), ref.var(), "running mean");
        assertChannels(ref.var(), values(layer.getParam(BatchNormParamInitializer.VAR)), ref.var(), "running var");
        INDArray inference = layer.activate(false, mgr);
        checkElements(x, inference, null, ref, channelAxis, false, "inference y");
        inference.close();
    }

    private static double[] values(INDArray a) {
        return a.castTo(DataType.DOUBLE).toDoubleVector();
    }

    /** The mean to 1e-5 of the spread (sqrt(var)), the variance to 1e-5 of sqrt(var) too (8.7e-6 of itself here). */
    private static void assertChannels(double[] expected, double[] actual, double[] var, String what) {
        double[] tolerance = new double[expected.length];
        for (int c = 0; c < expected.length; c++) {
            tolerance[c] = TOLERANCE * Math.sqrt(var[c]);
        }
        Compare.assertWithin(expected, actual, tolerance, what);
    }

    /** A sum to 1e-5 of the larger of its value and the root of its terms' squares. */
    private static void assertSums(double[] expected, double[] actual, double[] termScale, String what) {
        double[] tolerance = new double[expected.length];
        for (int c = 0; c < expected.length; c++) {
            tolerance[c] = TOLERANCE * Math.max(Math.abs(expected[c]), termScale[c]);
        }
        Compare.assertWithin(expected, actual, tolerance, what);
    }

    /**
     * Fills x (uniform on [1, 5)) and dy (uniform on [-1, 1)) from seeded generators, piece by piece through the
     * arrays' memory windows, and takes the reference of every channel from the same values in the same loop, in
     * double: per channel the sums of {@code u = x - 3} (the data's middle, so double loses nothing to
     * cancellation), {@code u^2}, {@code dy}, {@code dy^2}, {@code dy u}, {@code dy^2 u}, {@code dy^2 u^2}, per
     * piece, added in piece order (the same sums whatever the threads). They give the mean, the biased variance,
     * {@code sum(dy xhat)} and the scale of each gradient sum. Independent of the layer: its own indexing
     * ({@code channel = (i / inner) % C}) and arithmetic. ND4J's own rand/randn are unseeded, and at this size
     * their streams correlate (channel sums of 9 million Gaussians 12 standard deviations from 0).
     */
    private static Reference fill(INDArray x, INDArray dy, int channelAxis, long seedX, long seedDy) {
        long[] shape = x.shape();
        int channels = (int) shape[channelAxis];
        long inner = 1;
        for (int a = channelAxis + 1; a < shape.length; a++) {
            inner *= shape[a];
        }
        boolean floats = x.dataType() == DataType.FLOAT;
        Nd4jMemory xs = new Nd4jMemory(x);
        Nd4jMemory dys = new Nd4jMemory(dy);
        int piece = 1 << 22;
        int pieces = (int) ((x.length() + piece - 1) / piece);
        double[][][] partial = new double[pieces][7][channels];      // u, u^2, dy, dy^2, dy u, dy^2 u, dy^2 u^2
        long innerSize = inner;
        java.util.stream.IntStream.range(0, pieces).parallel().forEach(p -> {
            java.util.SplittableRandom rx = new java.util.SplittableRandom(seedX * 1_000_003 + p);
            java.util.SplittableRandom rg = new java.util.SplittableRandom(seedDy * 1_000_003 + p);
            long first = (long) p * piece;
            int n = (int) Math.min(piece, x.length() - first);
            java.nio.ByteBuffer wx = xs.window(first, n);
            java.nio.ByteBuffer wg = dys.window(first, n);
            double[][] sums = partial[p];
            int channel = (int) ((first / innerSize) % channels);
            long position = first % innerSize;
            for (int i = 0; i < n; i++) {
                double v = 1 + 4 * rx.nextDouble();
                double g = 2 * rg.nextDouble() - 1;
                if (floats) {
                    wx.putFloat(4 * i, (float) v);
                    wg.putFloat(4 * i, (float) g);
                    v = (float) v;
                    g = (float) g;
                } else {
                    wx.putDouble(8 * i, v);
                    wg.putDouble(8 * i, g);
                }
                double u = v - SHIFT;
                double gu = g * u;
                sums[0][channel] += u;
                sums[1][channel] += u * u;
                sums[2][channel] += g;
                sums[3][channel] += g * g;
                sums[4][channel] += gu;
                sums[5][channel] += g * gu;
                sums[6][channel] += gu * gu;
                if (++position == innerSize) {
                    position = 0;
                    channel = channel + 1 == channels ? 0 : channel + 1;
                }
            }
        });
        double[][] sums = new double[7][channels];
        for (double[][] part : partial) {
            for (int k = 0; k < 7; k++) {
                for (int c = 0; c < channels; c++) {
                    sums[k][c] += part[k][c];
                }
            }
        }
        double m = x.length() / (double) channels;
        double[] mean = new double[channels];
        double[] var = new double[channels];
        double[] sumDyXhat = new double[channels];
        double[] scaleDy = new double[channels];
        double[] scaleDyXhat = new double[channels];
        for (int c = 0; c < channels; c++) {
            double mu = sums[0][c] / m;                         // E[u]
            mean[c] = SHIFT + mu;
            var[c] = sums[1][c] / m - mu * mu;
            double s = 1 / Math.sqrt(var[c] + EPS);
            sumDyXhat[c] = (sums[4][c] - mu * sums[2][c]) * s;                  // sum dy (x - mean) s
            scaleDy[c] = Math.sqrt(sums[3][c]);
            scaleDyXhat[c] = Math.sqrt(sums[6][c] - 2 * mu * sums[5][c] + mu * mu * sums[3][c]) * s;
        }
        return new Reference(mean, var, sums[2], sumDyXhat, scaleDy, scaleDyXhat);
    }

    /**
     * Elementwise at 20,000 random positions and the last one: y = xhat (gamma 1, beta 0), or dx by the boxed
     * formula of docs/backward-pass.md from the reference sums.
     */
    private static void checkElements(INDArray x, INDArray out, INDArray dy, Reference ref, int channelAxis,
                                      boolean gradient, String what) {
        long n = x.length();
        long[] shape = x.shape();
        long inner = 1;
        for (int a = channelAxis + 1; a < shape.length; a++) {
            inner *= shape[a];
        }
        int channels = (int) shape[channelAxis];
        double m = n / (double) channels;
        Random r = new Random(n);
        for (int k = 0; k <= 20_000; k++) {
            long i = k == 20_000 ? n - 1 : (long) (r.nextDouble() * n);
            int c = (int) ((i / inner) % channels);
            double s = 1 / Math.sqrt(ref.var()[c] + EPS);
            double xhat = (x.getDouble(i) - ref.mean()[c]) * s;
            double expected = gradient
                    ? s / m * (m * dy.getDouble(i) - ref.sumDy()[c] - xhat * ref.sumDyXhat()[c])
                    : xhat;
            assertEquals(expected, out.getDouble(i), TOLERANCE * (1 + Math.abs(expected)),
                    what + " at element " + i + " of " + n);
        }
    }
}
