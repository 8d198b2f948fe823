package io.github.dl4jbn.kernels;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * Both float kernel implementations (heap chunks, JDK Vector API) against the double kernels (themselves checked against the paper's reference in
 * BatchNormLayerTest) on the same float inputs: channels-first and channels-last views, tensors small enough
 * for one thread and large enough to be split, and a large mean with a small spread.
 */
class FloatKernelsTest {

    /**
     * Both implementations, whichever the JVM picks: the Vector API one needs --add-modules (set by the build) and
     * Java 17 or 18 (later JDKs run the heap one only, see {@link KernelLoadTest}).
     */
    static List<FloatBatchNormKernels> implementations() {
        if (Runtime.version().feature() >= 19) {
            return List.of(FloatBatchNormKernels.HEAP);
        }
        assertNotNull(FloatBatchNormKernels.VECTOR, "the build runs the tests with --add-modules jdk.incubator.vector");
        return List.of(FloatBatchNormKernels.HEAP, FloatBatchNormKernels.VECTOR);
    }

    static Stream<Arguments> cases() {
        String[] shapes = {
                "6, 5, 1, 0, 1",            // FF, one thread
                "4, 3, 7, 2, 3",            // NCW, one thread
                "64, 16, 640, -1, 2",       // NCHW, split over the pass threads
                "40000, 16, 1, 3, 0.5",     // NHWC (channels-last), split
                "5000, 3, 1, 10000, 0.01",  // large mean, small spread, channels-last, split over flush blocks
                "2, 3, 40000, 10000, 0.01", // large mean, small spread, long channels-first rows
                "3, 37, 1, 1, 2",           // channel count not a multiple of any vector length
                "7, 37, 1, 1, 2",           // rows in blocks of four and one by one, channel tail
                "3, 2, 45, 1, 2",           // short planes, run as whole rows with per-element coefficients
                "9, 2, 45, 1, 2",           // the same, rows in blocks of four and one by one
                "3, 2, 101, 1, 2",          // plane length not a multiple of any vector length, plane by plane
                "4000, 64, 3, 0, 1",        // short planes, split over the pass threads
                "9, 160, 1, 1, 2",          // long rows of whole 64-byte lines: aligned stores, head and tail vectors
                "66, 40, 50, 1, 2"          // short planes four rows at a time, split over the pass threads, two rows left
        };
        List<Arguments> out = new ArrayList<>();
        for (FloatBatchNormKernels k : implementations()) {
            for (String shape : shapes) {
                String[] f = shape.split(",\\s*");
                out.add(Arguments.of(k, Integer.parseInt(f[0]), Integer.parseInt(f[1]), Integer.parseInt(f[2]),
                        Double.parseDouble(f[3]), Double.parseDouble(f[4])));
            }
        }
        return out.stream();
    }

    /** Floats in a direct native-order buffer, as ND4J holds them, after {@code base} values of padding. */
    static ByteBuffer direct(float[] values, int base) {
        ByteBuffer b = ByteBuffer.allocateDirect(4 * (base + values.length)).order(ByteOrder.nativeOrder());
        for (int i = 0; i < values.length; i++) {
            b.putFloat(4 * (base + i), values[i]);
        }
        return b;
    }

    static float[] read(ByteBuffer b, int base, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = b.getFloat(4 * (base + i));
        }
        return out;
    }

    @ParameterizedTest(name = "{0}: [{1}, {2}, {3}] mean {4} std {5}")
    @MethodSource("cases")
    void floatKernelsMatchTheDoubleKernels(FloatBatchNormKernels kernels, int outer, int channels, int inner, double mean, double std) {
        ChannelView view = new ChannelView(outer, channels, inner);
        Random r = new Random(outer * 31L + inner);
        float[] x = new float[view.size()];
        float[] dy = new float[view.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (mean + std * r.nextGaussian() * (1 + (i / inner) % channels));
            dy[i] = (float) r.nextGaussian();
        }
        double[] xd = new double[x.length];
        double[] dyd = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            xd[i] = x[i];
            dyd[i] = dy[i];
        }
        double[] meanD = new double[channels];
        double[] varD = new double[channels];
        double[] meanF = new double[channels];
        double[] varF = new double[channels];
        BatchNormKernels.batchMeanAndVariance(xd, view, meanD, varD);
        int base = 3;                                              // arrays that start inside their buffer
        ByteBuffer xb = direct(x, base);
        ByteBuffer dyb = direct(dy, base);
        kernels.batchMeanAndVariance(xb, base, view, meanF, varF);
        for (int c = 0; c < channels; c++) {
            assertEquals(meanD[c], meanF[c], 1e-6 * Math.sqrt(varD[c]) + 1e-7 * Math.abs(meanD[c]), "mean " + c);
            assertEquals(varD[c], varF[c], 1e-5 * varD[c], "var " + c);
        }
        double[] gamma = new double[channels];
        double[] beta = new double[channels];
        for (int c = 0; c < channels; c++) {
            gamma[c] = 0.5 + c;
            beta[c] = 1 - c;
        }
        double[] invStd = new double[channels];
        BatchNormKernels.inverseStd(varD, 1e-5, invStd, channels);
        double[] yd = new double[x.length];
        BatchNormKernels.normalize(xd, view, meanD, invStd, gamma, beta, yd);
        ByteBuffer yb = direct(new float[x.length], 0);
        kernels.normalize(xb, base, view, meanD, invStd, gamma, beta, yb, 0);
        float[] yf = read(yb, 0, x.length);
        for (int i = 0; i < x.length; i++) {
            assertEquals(yd[i], yf[i], 1e-5 * (1 + Math.abs(yd[i])), "y " + i);
        }
        for (boolean through : new boolean[]{true, false}) {
            double[] dxd = new double[x.length];
            double[] dgD = new double[channels];
            double[] dbD = new double[channels];
            double[] dgF = new double[channels];
            double[] dbF = new double[channels];
            BatchNormKernels.backward(xd, dyd, view, meanD, invStd, gamma, through, dxd, dgD, dbD);
            ByteBuffer dxb = direct(new float[x.length], 1);
            kernels.backward(xb, base, dyb, base, view, meanD, invStd, gamma, through, dxb, 1, dgF, dbF);
            float[] dxf = read(dxb, 1, x.length);
            int m = view.valuesPerChannel();
            for (int c = 0; c < channels; c++) {
                assertEquals(dbD[c], dbF[c], 1e-5 * Math.sqrt(m), "dbeta " + c);
                assertEquals(dgD[c], dgF[c], 1e-5 * Math.sqrt(m), "dgamma " + c);
            }
            for (int i = 0; i < x.length; i++) {
                int c = (i / inner) % channels;
                double scale = gamma[c] * invStd[c];
                assertEquals(dxd[i], dxf[i], 1e-5 * scale * (1 + Math.abs(dyd[i])), "dx " + i + " through=" + through);
            }
        }
    }

    /** Mean, variance and dgamma of one statistics + backward call. */
    private static double[][] statisticsAndDgamma(FloatBatchNormKernels kernels, ByteBuffer x, ByteBuffer dy,
                                                  ChannelView view) {
        int channels = view.channels();
        double[] mean = new double[channels];
        double[] var = new double[channels];
        double[] dgamma = new double[channels];
        double[] ones = new double[channels];
        Arrays.fill(ones, 1.0);
        kernels.batchMeanAndVariance(x, 0, view, mean, var);
        kernels.backward(x, 0, dy, 0, view, mean, ones, ones, true, direct(new float[0], view.size()), 0, dgamma,
                new double[channels]);
        return new double[][]{mean, var, dgamma};
    }

    /** Runs {@code body} while another thread owns the pass threads, so every pass runs on the calling thread alone. */
    private static double[][] onOneThread(Supplier<double[][]> body) throws InterruptedException {
        CountDownLatch owned = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread owner = new Thread(() -> PassThreads.run(2, i -> {
            owned.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        owner.start();
        owned.await();
        try {
            return body.get();
        } finally {
            release.countDown();
            owner.join();
        }
    }

    /**
     * The sums are added chunk by chunk in order, so a pass gives the same bits on the calling thread alone and
     * split over the helpers, whichever thread ran which chunk (100 runs). The input's scale grows by 100 from
     * one eighth of the outer axis to the next, so the partial sums span 14 orders of magnitude and adding them
     * in another order changes the last bits.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void splitPassesGiveTheSameBitsOnOneThreadAndOnMany(FloatBatchNormKernels kernels) throws InterruptedException {
        for (ChannelView view : new ChannelView[]{new ChannelView(1024, 512, 1), new ChannelView(64, 16, 640)}) {
            Random r = new Random(7);
            float[] x = new float[view.size()];
            float[] dy = new float[view.size()];
            for (int i = 0; i < x.length; i++) {
                double scale = Math.pow(100, (8L * i) / x.length);
                x[i] = (float) (scale * (3 + r.nextGaussian()));
                dy[i] = (float) r.nextGaussian();
            }
            ByteBuffer xb = direct(x, 0);
            ByteBuffer dyb = direct(dy, 0);
            double[][] alone = onOneThread(() -> statisticsAndDgamma(kernels, xb, dyb, view));
            for (int run = 0; run < 100; run++) {
                double[][] split = statisticsAndDgamma(kernels, xb, dyb, view);
                assertArrayEquals(alone[0], split[0], 0.0, "mean, run " + run);
                assertArrayEquals(alone[1], split[1], 0.0, "var, run " + run);
                assertArrayEquals(alone[2], split[2], 0.0, "dgamma, run " + run);
            }
        }
    }

    /**
     * The API lets {@code y} be {@code x} and {@code dx} be {@code dy}: in place, the kernels give the same bits as
     * into a separate buffer. Plane lengths with a vector tail that overlaps the plane's last full vector (50,
     * 101), channel counts with a tail (37), rows in blocks of four and alone, long rows stored aligned with
     * overlapping head and tail vectors (160).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void inPlaceCallsGiveTheSameBitsAsSeparateOutputs(FloatBatchNormKernels kernels) {
        for (ChannelView view : new ChannelView[]{new ChannelView(5, 4, 50), new ChannelView(3, 2, 101),
                new ChannelView(7, 37, 1), new ChannelView(4, 3, 20), new ChannelView(64, 16, 640),
                new ChannelView(9, 160, 1), new ChannelView(10, 6, 70)}) {
            Random r = new Random(view.size());
            float[] x = new float[view.size()];
            float[] dy = new float[view.size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (2 + r.nextGaussian());
                dy[i] = (float) r.nextGaussian();
            }
            int channels = view.channels();
            double[] mean = new double[channels];
            double[] var = new double[channels];
            double[] gamma = new double[channels];
            double[] beta = new double[channels];
            double[] invStd = new double[channels];
            ByteBuffer xb = direct(x, 0);
            kernels.batchMeanAndVariance(xb, 0, view, mean, var);
            for (int c = 0; c < channels; c++) {
                gamma[c] = 0.5 + c;
                beta[c] = 1 - c;
            }
            BatchNormKernels.inverseStd(var, 1e-5, invStd, channels);

            ByteBuffer separate = direct(new float[x.length], 0);
            kernels.normalize(xb, 0, view, mean, invStd, gamma, beta, separate, 0);
            ByteBuffer inPlace = direct(x, 0);
            kernels.normalize(inPlace, 0, view, mean, invStd, gamma, beta, inPlace, 0);
            assertArrayEquals(read(separate, 0, x.length), read(inPlace, 0, x.length), "y in place, " + view);

            ByteBuffer dyb = direct(dy, 0);
            ByteBuffer dxSeparate = direct(new float[x.length], 0);
            kernels.backward(xb, 0, dyb, 0, view, mean, invStd, gamma, true, dxSeparate, 0, new double[channels],
                    new double[channels]);
            kernels.backward(xb, 0, dyb, 0, view, mean, invStd, gamma, true, dyb, 0, new double[channels],
                    new double[channels]);
            assertArrayEquals(read(dxSeparate, 0, x.length), read(dyb, 0, x.length), "dx in place, " + view);
        }
    }
}
