package io.github.dl4jbn.internal.kernels;

import io.github.dl4jbn.Compare;
import io.github.dl4jbn.ReferenceBatchNorm;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
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
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every kernel implementation this JVM runs (the Vector API loops, the plain Java loops, the double passes)
 * against {@link ReferenceBatchNorm}, the paper's formulas transcribed in double: channels-first and
 * channels-last views, tensors small enough for one thread and large enough to be split, rows and planes and
 * blocks of planes, lengths that are no multiple of a vector, a large mean with a small spread. Then the
 * properties results must have whatever runs them: the same bits on one thread and on many, the same bits
 * whatever the memory windows, in place as out of place, and nothing from padded positions.
 */
class KernelsTest {

    /** A kernel implementation with the element type it computes on. */
    record Impl(BatchNormKernels<TensorMemory> kernels, boolean doubles) {
    }

    /** The float kernels this JVM runs, the plain ones and (when it is chosen) the Vector API ones, and the double kernels. */
    static List<Named<Impl>> implementations() {
        List<Named<Impl>> list = new ArrayList<>();
        list.add(Named.of("plain Java", new Impl(BatchNormKernels.plainFloats(), false)));
        BatchNormKernels<TensorMemory> best = BatchNormKernels.floats();
        if (!best.toString().equals(BatchNormKernels.plainFloats().toString())) {
            list.add(Named.of(best.toString(), new Impl(best, false)));
        }
        list.add(Named.of("double", new Impl(BatchNormKernels.doubles(), true)));
        return list;
    }

    static Stream<Arguments> cases() {
        String[] shapes = {
                "6, 5, 1, 0, 1",            // FF, one thread
                "4, 3, 7, 2, 3",            // NCW, short planes as rows, one thread
                "64, 16, 640, -1, 2",       // NCHW, planes, split over the pass threads
                "40000, 16, 1, 3, 0.5",     // NHWC (channels-last), split
                "5000, 3, 1, 10000, 0.01",  // large mean, small spread, channels-last, split over flush blocks
                "2, 3, 40000, 10000, 0.01", // large mean, small spread, long channels-first rows
                "3, 37, 1, 1, 2",           // channel count not a multiple of any vector length
                "7, 37, 1, 1, 2",           // rows in blocks of four and one by one, channel tail
                "3, 2, 45, 1, 2",           // short planes, run as whole rows with per-position coefficients
                "9, 2, 45, 1, 2",           // the same, rows in blocks of four and one by one
                "3, 2, 101, 1, 2",          // plane length not a multiple of any vector length, plane by plane
                "4000, 64, 3, 0, 1",        // short planes as rows, split over the pass threads
                "9, 160, 1, 1, 2",          // long rows of whole vectors: aligned stores, head and tail vectors
                "66, 40, 50, 1, 2",         // mid planes four rows at a time, split, two rows left
                "5, 3000, 7, 1, 2",         // short planes whose rows are too long to expand: blocks of planes
                "2, 2, 1100000, 1, 2"       // planes longer than a segment: cut in two
        };
        List<Arguments> out = new ArrayList<>();
        for (Named<Impl> impl : implementations()) {
            for (String shape : shapes) {
                String[] f = shape.split(",\\s*");
                out.add(Arguments.of(impl, Long.parseLong(f[0]), Integer.parseInt(f[1]), Long.parseLong(f[2]),
                        Double.parseDouble(f[3]), Double.parseDouble(f[4])));
            }
        }
        return out.stream();
    }

    // ---------------------------------------------------------------- memory helpers

    /** Values in a direct native-order buffer after {@code base} elements of padding, as ND4J holds them. */
    static TensorMemory memory(double[] values, int base, boolean doubles) {
        int bytes = doubles ? 8 : 4;
        ByteBuffer b = ByteBuffer.allocateDirect(bytes * (base + values.length)).order(ByteOrder.nativeOrder());
        for (int i = 0; i < values.length; i++) {
            if (doubles) {
                b.putDouble(8 * (base + i), values[i]);
            } else {
                b.putFloat(4 * (base + i), (float) values[i]);
            }
        }
        return TensorMemory.of(b, base, values.length, bytes);
    }

    static double[] read(TensorMemory m) {
        ByteBuffer w = m.window(0, m.length());
        double[] out = new double[(int) m.length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = m.elementBytes() == 8 ? w.getDouble(8 * i) : w.getFloat(4 * i);
        }
        return out;
    }

    /** Values as the element type holds them (float-rounded for float kernels). */
    static double[] rounded(double[] values, boolean doubles) {
        double[] out = values.clone();
        if (!doubles) {
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) out[i];
            }
        }
        return out;
    }

    static double[] gaussian(int n, double mean, double std, long seed, long inner, int channels) {
        Random r = new Random(seed);
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = mean + std * r.nextGaussian() * (1 + (i / inner) % channels);
        }
        return x;
    }

    // ---------------------------------------------------------------- against the reference

    @ParameterizedTest(name = "{0}: [{1}, {2}, {3}] mean {4} std {5}")
    @MethodSource("cases")
    void kernelsMatchThePapersFormulas(Impl impl, long outer, int channels, long inner, double mean, double std) {
        ChannelView view = new ChannelView(outer, channels, inner);
        int n = (int) view.size();
        double[] x = rounded(gaussian(n, mean, std, outer * 31 + inner, inner, channels), impl.doubles());
        double[] dy = rounded(gaussian(n, 0, 1, outer * 37 + inner, inner, 1), impl.doubles());
        ReferenceBatchNorm ref = new ReferenceBatchNorm(new long[]{outer, channels, inner}, 1);
        ReferenceBatchNorm.Stats expected = ref.stats(x);
        // in double, a large mean over a small spread costs digits in any implementation, the reference's too
        double rel = impl.doubles() ? 1e-12 * (1 + Math.abs(mean) / std) : 1e-5;

        TensorMemory xm = memory(x, 3, impl.doubles());                 // arrays that start inside their buffer
        double[] mu = new double[channels];
        double[] var = new double[channels];
        long m = impl.kernels().batchStatistics(xm, null, view, mu, var);
        assertEquals(view.valuesPerChannel(), m);
        for (int c = 0; c < channels; c++) {
            double sd = Math.sqrt(expected.biasedVar()[c]);
            assertEquals(expected.mean()[c], mu[c], rel * (sd + 1e-2 * Math.abs(expected.mean()[c])), "mean " + c);
            assertEquals(expected.biasedVar()[c], var[c], rel * expected.biasedVar()[c], "var " + c);
        }

        double[] gamma = new double[channels];
        double[] beta = new double[channels];
        for (int c = 0; c < channels; c++) {
            gamma[c] = 0.5 + c % 7;
            beta[c] = 1 - c % 5;
        }
        double eps = 1e-5;
        double[] invStd = new double[channels];
        ChannelMath.inverseStd(expected.biasedVar(), eps, invStd);
        TensorMemory y = memory(new double[n], 0, impl.doubles());
        impl.kernels().normalize(xm, null, view, expected.mean(), invStd, gamma, beta, y);
        Compare.assertClose(ref.forward(x, expected.mean(), expected.biasedVar(), gamma, beta, eps), read(y), rel, rel, "y");

        ReferenceBatchNorm.Grads g = ref.backwardTraining(x, dy, gamma, eps);
        TensorMemory dym = memory(dy, 1, impl.doubles());
        TensorMemory dx = memory(new double[n], 2, impl.doubles());
        double[] dgamma = new double[channels];
        double[] dbeta = new double[channels];
        impl.kernels().backward(xm, dym, null, view, m, expected.mean(), invStd, gamma, true, dx, dgamma, dbeta);
        double sqrtM = Math.sqrt(view.valuesPerChannel());
        Compare.assertClose(g.dgamma(), dgamma, 0, rel * sqrtM, "dgamma");
        Compare.assertClose(g.dbeta(), dbeta, 0, rel * sqrtM, "dbeta");
        assertCloseScaled(g.dx(), read(dx), gamma, invStd, view, rel, "dx");

        ReferenceBatchNorm.Grads gi = ref.backwardInference(x, dy, expected.mean(), expected.biasedVar(), gamma, eps);
        impl.kernels().backward(xm, dym, null, view, m, expected.mean(), invStd, gamma, false, dx, dgamma, dbeta);
        Compare.assertClose(gi.dgamma(), dgamma, 0, rel * sqrtM, "dgamma, statistics held");
        assertCloseScaled(gi.dx(), read(dx), gamma, invStd, view, rel, "dx, statistics held");
    }

    /** dx's error scales with gamma * invStd, its size per unit of dy. */
    private static void assertCloseScaled(double[] expected, double[] actual, double[] gamma, double[] invStd,
                                          ChannelView view, double rel, String what) {
        double[] tolerance = new double[expected.length];
        for (int i = 0; i < expected.length; i++) {
            int c = (int) ((i / view.inner()) % view.channels());
            tolerance[i] = rel * gamma[c] * invStd[c] * (1 + Math.abs(expected[i]) / (gamma[c] * invStd[c]));
        }
        Compare.assertWithin(expected, actual, tolerance, what);
    }

    // ---------------------------------------------------------------- the same bits however it runs

    /** Mean, variance, y, dgamma and dx of one statistics + normalize + backward call. */
    private static double[][] everything(BatchNormKernels<TensorMemory> kernels, TensorMemory x, TensorMemory dy, TensorMemory mask,
                                         ChannelView view, boolean doubles) {
        int channels = view.channels();
        double[] mean = new double[channels];
        double[] var = new double[channels];
        long m = kernels.batchStatistics(x, mask, view, mean, var);
        double[] invStd = new double[channels];
        ChannelMath.inverseStd(var, 1e-5, invStd);
        double[] ones = new double[channels];
        Arrays.fill(ones, 1.0);
        TensorMemory y = memory(new double[(int) view.size()], 0, doubles);
        kernels.normalize(x, mask, view, mean, invStd, ones, new double[channels], y);
        double[] dgamma = new double[channels];
        TensorMemory dx = memory(new double[(int) view.size()], 0, doubles);
        kernels.backward(x, dy, mask, view, m, mean, invStd, ones, true, dx, dgamma, new double[channels]);
        return new double[][]{mean, var, read(y), dgamma, read(dx)};
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

    private static void assertSameBits(double[][] expected, double[][] actual, String what) {
        String[] names = {"mean", "var", "y", "dgamma", "dx"};
        for (int i = 0; i < expected.length; i++) {
            assertArrayEquals(expected[i], actual[i], 0.0, names[i] + ", " + what);
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
    void splitPassesGiveTheSameBitsOnOneThreadAndOnMany(Impl impl) throws InterruptedException {
        for (ChannelView view : new ChannelView[]{new ChannelView(1024, 512, 1), new ChannelView(64, 16, 640)}) {
            Random r = new Random(7);
            double[] x = new double[(int) view.size()];
            double[] dy = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                double scale = Math.pow(100, (8L * i) / x.length);
                x[i] = scale * (3 + r.nextGaussian());
                dy[i] = r.nextGaussian();
            }
            TensorMemory xm = memory(x, 0, impl.doubles());
            TensorMemory dym = memory(dy, 0, impl.doubles());
            double[][] alone = onOneThread(() -> everything(impl.kernels(), xm, dym, null, view, impl.doubles()));
            for (int run = 0; run < 100; run++) {
                assertSameBits(alone, everything(impl.kernels(), xm, dym, null, view, impl.doubles()), "run " + run);
            }
        }
    }

    /**
     * A tensor larger than a NIO buffer's reach is read through memory windows. Where their boundaries fall
     * changes no bit: the same calls through windows of 96 KiB (a few chunks each), 1 MiB and one window give
     * the same results, for rows, planes, and planes cut into segments.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void windowBoundariesChangeNoBit(Impl impl) {
        for (ChannelView view : new ChannelView[]{new ChannelView(40000, 16, 1), new ChannelView(64, 16, 640),
                new ChannelView(1, 2, 1_100_000), new ChannelView(20000, 12, 3)}) {
            double[] x = gaussian((int) view.size(), 2, 3, 11, view.inner(), view.channels());
            double[] dy = gaussian((int) view.size(), 0, 1, 12, view.inner(), 1);
            TensorMemory xm = memory(x, 0, impl.doubles());
            TensorMemory dym = memory(dy, 0, impl.doubles());
            double[][] oneWindow = everything(impl.kernels(), xm, dym, null, view, impl.doubles());
            long saved = PassScheduler.maxWindowBytes;
            try {
                for (long window : new long[]{96 << 10, 1 << 20}) {
                    PassScheduler.maxWindowBytes = window;
                    assertSameBits(oneWindow, everything(impl.kernels(), xm, dym, null, view, impl.doubles()),
                            view + " in windows of " + window + " bytes");
                }
            } finally {
                PassScheduler.maxWindowBytes = saved;
            }
        }
    }

    /**
     * The kernels let y be x and dx be dy: in place, they give the same bits as into a separate buffer. Plane
     * lengths with a vector tail that overlaps the plane's last full vector (50, 101), channel counts with a
     * tail (37), rows in blocks of four and alone, long rows stored aligned with overlapping head and tail
     * vectors (160), blocks of planes.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void inPlaceCallsGiveTheSameBitsAsSeparateOutputs(Impl impl) {
        for (ChannelView view : new ChannelView[]{new ChannelView(5, 4, 50), new ChannelView(3, 2, 101),
                new ChannelView(7, 37, 1), new ChannelView(4, 3, 20), new ChannelView(64, 16, 640),
                new ChannelView(9, 160, 1), new ChannelView(10, 6, 70), new ChannelView(6, 3000, 7)}) {
            double[] x = gaussian((int) view.size(), 2, 1, view.size(), view.inner(), 1);
            double[] dy = gaussian((int) view.size(), 0, 1, view.size() + 1, view.inner(), 1);
            int channels = view.channels();
            double[] mean = new double[channels];
            double[] var = new double[channels];
            double[] gamma = new double[channels];
            double[] beta = new double[channels];
            double[] invStd = new double[channels];
            TensorMemory xm = memory(x, 0, impl.doubles());
            long m = impl.kernels().batchStatistics(xm, null, view, mean, var);
            for (int c = 0; c < channels; c++) {
                gamma[c] = 0.5 + c % 7;
                beta[c] = 1 - c % 5;
            }
            ChannelMath.inverseStd(var, 1e-5, invStd);

            TensorMemory separate = memory(new double[x.length], 0, impl.doubles());
            impl.kernels().normalize(xm, null, view, mean, invStd, gamma, beta, separate);
            TensorMemory inPlace = memory(x, 0, impl.doubles());
            impl.kernels().normalize(inPlace, null, view, mean, invStd, gamma, beta, inPlace);
            assertArrayEquals(read(separate), read(inPlace), "y in place, " + view);

            TensorMemory dym = memory(dy, 0, impl.doubles());
            TensorMemory dxSeparate = memory(new double[x.length], 0, impl.doubles());
            impl.kernels().backward(xm, dym, null, view, m, mean, invStd, gamma, true, dxSeparate,
                    new double[channels], new double[channels]);
            impl.kernels().backward(xm, dym, null, view, m, mean, invStd, gamma, true, dym, new double[channels],
                    new double[channels]);
            assertArrayEquals(read(dxSeparate), read(dym), "dx in place, " + view);
        }
    }

    // ---------------------------------------------------------------- masks

    /**
     * A masked sequence: [examples, channels, steps] channels-first (NCW) or [examples x steps, channels, 1]
     * channels-last (NWC), with example e valid for its first {@code 3 + 2e} steps. The padded steps hold 0, 1e3
     * or NaN: every result is the same to the bit; they match the reference run on the valid steps alone; y and
     * dx are 0 at padded steps.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void paddedStepsChangeNothingAndValidStepsMatchTheReference(Impl impl) {
        int examples = 6;
        int channels = 5;
        int steps = 40;
        double[] mask = new double[examples * steps];
        int valid = 0;
        for (int e = 0; e < examples; e++) {
            for (int t = 0; t < Math.min(steps, 3 + 7 * e); t++) {
                mask[e * steps + t] = 1;
                valid++;
            }
        }
        for (boolean channelsLast : new boolean[]{false, true}) {
            ChannelView view = channelsLast ? new ChannelView(examples * steps, channels, 1)
                    : new ChannelView(examples, channels, steps);
            double[][] first = null;
            for (double padding : new double[]{0, 1e3, Double.NaN}) {
                double[] x = rounded(gaussian((int) view.size(), 2, 3, 5, view.inner(), channels), impl.doubles());
                double[] dy = rounded(gaussian((int) view.size(), 0, 1, 6, view.inner(), 1), impl.doubles());
                for (int i = 0; i < x.length; i++) {
                    if (mask[position(i, view)] == 0) {
                        x[i] = padding;
                        dy[i] = padding;
                    }
                }
                TensorMemory maskMemory = memory(mask, 0, impl.doubles());
                double[][] got = everything(impl.kernels(), memory(x, 0, impl.doubles()), memory(dy, 0, impl.doubles()),
                        maskMemory, view, impl.doubles());
                if (first == null) {
                    first = got;
                    checkAgainstValidSteps(impl, view, mask, valid, x, dy, got);
                } else {
                    assertSameBits(first, got, "padding " + padding + (channelsLast ? ", NWC" : ", NCW"));
                }
            }
        }
    }

    /** The mask position (outer, inner) of element i of a view. */
    private static int position(int i, ChannelView view) {
        long o = i / (view.channels() * view.inner());
        return (int) (o * view.inner() + i % view.inner());
    }

    /** The valid elements of each channel, in order, as a [1, C, valid] tensor for the reference. */
    private static void checkAgainstValidSteps(Impl impl, ChannelView view, double[] mask, int valid, double[] x,
                                               double[] dy, double[][] got) {
        int channels = view.channels();
        double[] xv = new double[channels * valid];
        double[] dyv = new double[channels * valid];
        int[] filled = new int[channels];
        for (int i = 0; i < x.length; i++) {
            int c = (int) ((i / view.inner()) % channels);
            boolean isValid = mask[position(i, view)] != 0;
            if (isValid) {
                xv[c * valid + filled[c]] = x[i];
                dyv[c * valid + filled[c]] = dy[i];
                filled[c]++;
            } else {
                assertEquals(0.0, got[2][i], "y at a padded position");
                assertEquals(0.0, got[4][i], "dx at a padded position");
            }
        }
        ReferenceBatchNorm ref = new ReferenceBatchNorm(new long[]{1, channels, valid}, 1);
        ReferenceBatchNorm.Stats stats = ref.stats(xv);
        double rel = impl.doubles() ? 1e-12 : 1e-5;
        Compare.assertClose(stats.mean(), got[0], rel, rel, "mean over the valid steps");
        Compare.assertClose(stats.biasedVar(), got[1], rel, rel, "var over the valid steps");
        double[] ones = new double[channels];
        Arrays.fill(ones, 1.0);
        ReferenceBatchNorm.Grads g = ref.backwardTraining(xv, dyv, ones, 1e-5);
        Compare.assertClose(g.dgamma(), got[3], rel, rel * Math.sqrt(valid), "dgamma over the valid steps");
        double[] y = ref.forward(xv, stats.mean(), stats.biasedVar(), ones, new double[channels], 1e-5);
        Arrays.fill(filled, 0);
        for (int i = 0; i < x.length; i++) {
            int c = (int) ((i / view.inner()) % channels);
            if (mask[position(i, view)] != 0) {
                int j = c * valid + filled[c]++;
                assertEquals(y[j], got[2][i], rel * (1 + Math.abs(y[j])), "y at valid position " + i);
                assertEquals(g.dx()[j], got[4][i], rel * (1 + Math.abs(g.dx()[j])), "dx at valid position " + i);
            }
        }
    }

    // ---------------------------------------------------------------- magnitudes

    /**
     * Float input near 1e18 has a variance near 1.6e37, representable in float, whose float block sums overflow:
     * the statistics are taken again exactly, finite and within 1e-5 of the reference, on every float path.
     */
    @Test
    void floatSumsThatOverflowAreTakenAgainExactly() {
        for (Named<Impl> named : implementations()) {
            Impl impl = named.getPayload();
            ChannelView view = new ChannelView(300, 3, 50);
            double[] x = rounded(gaussian((int) view.size(), 1e18, 4e18, 3, view.inner(), 1), impl.doubles());
            ReferenceBatchNorm.Stats expected = new ReferenceBatchNorm(new long[]{300, 3, 50}, 1).stats(x);
            double[] mean = new double[3];
            double[] var = new double[3];
            impl.kernels().batchStatistics(memory(x, 0, impl.doubles()), null, view, mean, var);
            for (int c = 0; c < 3; c++) {
                assertTrue(Double.isFinite(var[c]) && var[c] < Float.MAX_VALUE, named.getName() + ": var " + var[c]);
                assertEquals(expected.biasedVar()[c], var[c], 1e-5 * expected.biasedVar()[c], named.getName() + " var " + c);
                assertEquals(expected.mean()[c], mean[c], 1e-5 * Math.sqrt(expected.biasedVar()[c]), named.getName() + " mean " + c);
            }
        }
    }

    /** A NaN in the input leaves its channel's statistics NaN (for the layer's policy) and counts once. */
    @Test
    void aNanLeavesItsChannelNonFiniteAndIsCounted() {
        for (Named<Impl> named : implementations()) {
            Impl impl = named.getPayload();
            ChannelView view = new ChannelView(8, 3, 10);
            double[] x = gaussian((int) view.size(), 0, 1, 4, 10, 1);
            x[2 * 30 + 10 + 4] = Double.NaN;                        // example 2, channel 1, step 4
            TensorMemory xm = memory(x, 0, impl.doubles());
            double[] mean = new double[3];
            double[] var = new double[3];
            impl.kernels().batchStatistics(xm, null, view, mean, var);
            assertTrue(Double.isFinite(mean[0]) && Double.isFinite(mean[2]), named.getName());
            assertTrue(Double.isNaN(mean[1]), named.getName());
            assertEquals(1, BatchNormKernels.countNonFinite(xm, null, view), named.getName());
        }
    }
}
