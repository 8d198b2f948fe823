package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.Renorm;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batch Renormalization (Ioffe 2017) and ghost batches (Hoffer et al. 2017) against independent references: a
 * double-precision transcription of Batch Renormalization's forward and its backward with r and d held
 * constant (built on {@link ReferenceBatchNorm}'s statistics, written term by term), plain Batch
 * Normalization bit for bit where the clipping leaves nothing to do, and the same layer run on each ghost
 * batch separately.
 */
class RenormTest {

    private static final double EPS = 1e-5;

    /** Batch Renormalization's forward and backward by the paper, r and d constants; per-channel r and d given. */
    private record RenormReference(double[] y, double[] dx, double[] dgamma, double[] dbeta, double[] r, double[] d,
                                   boolean clipped) {

        static RenormReference of(ReferenceBatchNorm ref, double[] x, double[] dy, double[] gamma, double[] beta,
                                  double[] runningMean, double[] runningVar, double rMax, double dMax, int channelAxis) {
            ReferenceBatchNorm.Stats s = ref.stats(x);
            int channels = gamma.length;
            double[] r = new double[channels];
            double[] d = new double[channels];
            boolean clipped = false;
            for (int c = 0; c < channels; c++) {
                double sigmaB = Math.sqrt(s.biasedVar()[c] + EPS);
                double sigma = Math.sqrt(runningVar[c] + EPS);
                double rawR = sigmaB / sigma;
                double rawD = (s.mean()[c] - runningMean[c]) / sigma;
                r[c] = Math.max(1 / rMax, Math.min(rMax, rawR));
                d[c] = Math.max(-dMax, Math.min(dMax, rawD));
                clipped |= r[c] != rawR || d[c] != rawD;
            }
            long[] shape = ref.shape();
            long inner = 1;
            for (int a = shape.length - 1; a > channelAxis; a--) {
                inner *= shape[a];
            }
            int m = s.m();
            double[] y = new double[x.length];
            double[] dxhat = new double[x.length];
            double[] dSigmaB = new double[channels];
            double[] dMuB = new double[channels];
            double[] dgamma = new double[channels];
            double[] dbeta = new double[channels];
            for (int i = 0; i < x.length; i++) {
                int c = (int) ((i / inner) % channels);
                double sigmaB = Math.sqrt(s.biasedVar()[c] + EPS);
                double xhat = (x[i] - s.mean()[c]) / sigmaB;
                double yhat = xhat * r[c] + d[c];                        // Batch Renorm, Algorithm 1
                y[i] = gamma[c] * yhat + beta[c];
                dgamma[c] += dy[i] * yhat;                              // dL/dgamma = sum dy yhat
                dbeta[c] += dy[i];                                      // dL/dbeta = sum dy
                dxhat[i] = dy[i] * gamma[c] * r[c];                     // dL/dxhat = dL/dyhat r
                dSigmaB[c] += dxhat[i] * (x[i] - s.mean()[c]) * -1 / (sigmaB * sigmaB);   // dL/dsigma_B
                dMuB[c] += dxhat[i] * -1 / sigmaB;                      // dL/dmu_B (the sigma_B path sums to 0)
            }
            double[] dx = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                int c = (int) ((i / inner) % channels);
                double sigmaB = Math.sqrt(s.biasedVar()[c] + EPS);
                dx[i] = dxhat[i] / sigmaB + dSigmaB[c] * (x[i] - s.mean()[c]) / (m * sigmaB) + dMuB[c] / m;
            }
            return new RenormReference(y, dx, dgamma, dbeta, r, d, clipped);
        }
    }

    static Stream<Arguments> layoutsAndClipping() {
        return Nets.layouts().stream().flatMap(l -> Stream.of(Arguments.of(l, false), Arguments.of(l, true)));
    }

    private static double[] ramp(int n, double from, double step) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = from + step * i;
        }
        return v;
    }

    @ParameterizedTest(name = "{0}, clipping {1}")
    @MethodSource("layoutsAndClipping")
    void forwardAndBackwardMatchThePaperWithRAndDConstant(Nets.Layout layout, boolean clipping) {
        Renorm renorm = clipping ? Renorm.constant(1.1, 0.05) : Renorm.constant(1e6, 1e6);
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().renorm(renorm).build(), layout.inputType(), DataType.DOUBLE);
        Layer l = Nets.first(net);
        int channels = (int) layout.shape()[layout.channelAxis()];
        double[] gamma = ramp(channels, 0.7, 0.3);
        double[] beta = ramp(channels, -0.2, 0.25);
        double[] runningMean = ramp(channels, 0.4, -0.3);            // far from the batch's: d well away from 0
        double[] runningVar = ramp(channels, 2.5, 1.5);              // and r well away from 1
        l.setParam("gamma", Nd4j.createFromArray(gamma).reshape(1, channels));
        l.setParam("beta", Nd4j.createFromArray(beta).reshape(1, channels));
        l.setParam("mean", Nd4j.createFromArray(runningMean).reshape(1, channels));
        l.setParam("var", Nd4j.createFromArray(runningVar).reshape(1, channels));
        INDArray x = Nets.random(layout.shape(), DataType.DOUBLE, 1.0, 2.0, 11);
        INDArray dy = Nets.random(layout.shape(), DataType.DOUBLE, 0.0, 1.0, 12);

        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        l.setInput(x, mgr);
        INDArray y = l.activate(true, mgr);
        Pair<Gradient, INDArray> g = l.backpropGradient(dy, mgr);

        ReferenceBatchNorm ref = new ReferenceBatchNorm(layout.shape(), layout.channelAxis());
        RenormReference e = RenormReference.of(ref, Nets.values(x), Nets.values(dy), gamma, beta, runningMean,
                runningVar, renorm.getRMax(), renorm.getDMax(), layout.channelAxis());
        assertEquals(clipping, e.clipped(), "the case exercises what it says (clipping " + clipping + ")");
        Compare.assertClose(e.y(), Nets.values(y), 1e-10, 1e-12, "y");
        Compare.assertClose(e.dx(), Nets.values(g.getSecond()), 1e-9, 1e-11, "dx");
        Compare.assertClose(e.dgamma(), Nets.values(g.getFirst().getGradientFor("gamma")), 1e-10, 1e-12, "dgamma");
        Compare.assertClose(e.dbeta(), Nets.values(g.getFirst().getGradientFor("beta")), 1e-10, 1e-12, "dbeta");
        // the running statistics move from the batch statistics as in plain Batch Normalization
        ReferenceBatchNorm.Stats s = ref.stats(Nets.values(x));
        double[] expectedMean = new double[channels];
        for (int c = 0; c < channels; c++) {
            expectedMean[c] = 0.9 * runningMean[c] + 0.1 * s.mean()[c];
        }
        Compare.assertClose(expectedMean, Nets.values(l.getParam("mean")), 1e-12, 1e-14, "running mean");
    }

    private static DataSet batch(long seed, int rows) {
        INDArray x = Nets.random(new long[]{rows, 4}, DataType.FLOAT, 5, 3, seed);
        INDArray y = Nets.random(new long[]{rows, 2}, DataType.FLOAT, 0, 1, seed + 1000);
        return new DataSet(x, y);
    }

    private static MultiLayerNetwork classifier(BatchNorm bn, DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(type).seed(7).updater(new Adam(0.01))
                .list()
                .layer(new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(bn)
                .layer(new DenseLayer.Builder().nOut(5).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(4)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static void assertSameBits(MultiLayerNetwork expected, MultiLayerNetwork actual, String what) {
        assertArrayEquals(Nets.values(expected.params()), Nets.values(actual.params()), what + ": parameters");
        INDArray probe = batch(999, 16).getFeatures();
        assertArrayEquals(Nets.values(expected.output(probe)), Nets.values(actual.output(probe)), what + ": outputs");
    }

    @Test
    void withRMaxOneAndDMaxZeroItIsBatchNormBitForBit() {
        MultiLayerNetwork plain = classifier(new BatchNorm.Builder().build(), DataType.FLOAT);
        MultiLayerNetwork renorm = classifier(new BatchNorm.Builder().renorm(Renorm.constant(1, 0)).build(), DataType.FLOAT);
        MultiLayerNetwork held = classifier(new BatchNorm.Builder().renorm(Renorm.warmUp(3, 5, 1000, 10)).build(), DataType.FLOAT);
        for (int i = 0; i < 12; i++) {
            DataSet d = batch(i, 16);
            plain.fit(d);
            renorm.fit(d);
            held.fit(d);
        }
        assertSameBits(plain, renorm, "rMax 1, dMax 0");
        assertSameBits(plain, held, "held at rMax 1, dMax 0 by the warm-up");
        MultiLayerNetwork relaxed = classifier(new BatchNorm.Builder().renorm(Renorm.constant(3, 5)).build(), DataType.FLOAT);
        for (int i = 0; i < 12; i++) {
            relaxed.fit(batch(i, 16));
        }
        assertNotEquals(Nets.values(plain.params())[40], Nets.values(relaxed.params())[40], "relaxed clipping changes training");
    }

    @Test
    void theScheduleHoldsThenRampsLinearly() {
        Renorm r = Renorm.warmUp(3, 5, 100, 200);
        assertEquals(1.0, r.rMaxAt(0));
        assertEquals(0.0, r.dMaxAt(99));
        assertEquals(1.0, r.rMaxAt(99), "held for exactly 100 iterations, 0 to 99");
        assertEquals(1.01, r.rMaxAt(100), 1e-12, "the ramp's first iteration already relaxes, by 1/200");
        assertEquals(2.0, r.rMaxAt(199), 1e-12);
        assertEquals(2.5, r.dMaxAt(199), 1e-12);
        assertEquals(2.99, r.rMaxAt(298), 1e-12);
        assertEquals(3.0, r.rMaxAt(299), "final at hold + ramp - 1");
        assertEquals(5.0, r.dMaxAt(10_000));
        assertEquals(3.0, Renorm.constant(3, 5).rMaxAt(0));
        Renorm jump = Renorm.warmUp(3, 5, 100, 0);
        assertEquals(1.0, jump.rMaxAt(99), "without a ramp, held for the same 100 iterations");
        assertEquals(3.0, jump.rMaxAt(100));
    }

    /** Through fit: hold 3 is plain BatchNorm for fit steps 1 to 3 exactly (iterations 0-2); the 4th relaxes. */
    @Test
    void holdIterationsArePlainBatchNormForExactlyThatManyFitSteps() {
        MultiLayerNetwork plain = classifier(new BatchNorm.Builder().build(), DataType.FLOAT);
        MultiLayerNetwork held = classifier(new BatchNorm.Builder().renorm(Renorm.warmUp(3, 5, 3, 2)).build(), DataType.FLOAT);
        for (int i = 0; i < 3; i++) {
            plain.fit(batch(i, 16));
            held.fit(batch(i, 16));
        }
        assertSameBits(plain, held, "after the 3 held steps");
        plain.fit(batch(3, 16));
        held.fit(batch(3, 16));
        assertNotEquals(Nets.values(plain.params())[0], Nets.values(held.params())[0], "the 4th step clips with rMax 2, dMax 2.5");
    }

    @Test
    void aRestoredNetworkContinuesTheScheduleWhereItStopped() throws IOException {
        BatchNorm bn = new BatchNorm.Builder().renorm(Renorm.warmUp(2.0, 1.0, 3, 10)).build();
        MultiLayerNetwork net = classifier(bn, DataType.DOUBLE);
        for (int i = 0; i < 8; i++) {
            net.fit(batch(i, 16));
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(net, bytes, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(bytes.toByteArray()), true);
        assertEquals(8, restored.getIterationCount(), "the iteration, and with it the schedule, is saved");
        assertEquals(bn.getRenorm(), ((BatchNorm) restored.getLayer(1).conf().getLayer()).getRenorm());
        MultiLayerConfiguration json = MultiLayerConfiguration.fromJson(net.getLayerWiseConfigurations().toJson());
        assertEquals(net.getLayerWiseConfigurations().getConf(1).getLayer(), json.getConf(1).getLayer(), "JSON round trip");
        MultiLayerNetwork fresh = classifier(bn, DataType.DOUBLE);      // the same start, its schedule from iteration 0
        fresh.setParams(restored.params().dup());
        fresh.getUpdater().getStateViewArray().assign(restored.getUpdater().getStateViewArray());
        for (int i = 8; i < 14; i++) {
            net.fit(batch(i, 16));
            restored.fit(batch(i, 16));
            fresh.fit(batch(i, 16));
        }
        assertArrayEquals(Nets.values(net.params()), Nets.values(restored.params()), "training continues identically");
        assertNotEquals(Nets.values(net.params())[30], Nets.values(fresh.params())[30],
                "a network whose schedule restarts at iteration 0 trains otherwise: the test can tell");
    }

    @Test
    void invalidSchedulesAreRefusedFromTheBuilderAndFromJson() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new BatchNorm.Builder().name("bn").renorm(Renorm.constant(0.5, 0)).build());
        assertEquals("BatchNorm \"bn\": renorm rMax must be finite and >= 1, got 0.5", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new BatchNorm.Builder().name("bn").renorm(Renorm.warmUp(2, -1, 0, 0)).build());
        assertTrue(e.getMessage().contains("renorm dMax must be finite and >= 0, got -1.0"), e.getMessage());
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().list()
                .layer(new BatchNorm.Builder().name("bn").renorm(Renorm.constant(2, 1)).build())
                .setInputType(InputType.feedForward(3)).build();
        String json = conf.toJson();
        assertTrue(json.contains("\"rMax\" : 2.0"), json);
        MultiLayerConfiguration edited = MultiLayerConfiguration.fromJson(json.replace("\"rMax\" : 2.0", "\"rMax\" : 0.25"));
        Exception refused = assertThrows(Exception.class, () -> new MultiLayerNetwork(edited).init());
        assertTrue(refused.getMessage().contains("renorm rMax must be finite and >= 1, got 0.25"), refused.getMessage());
    }

    // ---------------------------------------------------------------- ghost batches

    /** Every layout, FLOAT with a short last slice and DOUBLE with a merged one (FeaturesMeetTest has equal slices). */
    static Stream<Arguments> ghostCases() {
        return Nets.layouts().stream().flatMap(l -> Stream.of(Arguments.of(l, DataType.FLOAT, new int[]{3, 3, 2}),
                Arguments.of(l, DataType.DOUBLE, new int[]{3, 4})));
    }

    private static INDArray rows(INDArray a, long from, long to) {
        INDArrayIndex[] index = new INDArrayIndex[a.rank()];
        index[0] = NDArrayIndex.interval(from, to);
        for (int i = 1; i < index.length; i++) {
            index[i] = NDArrayIndex.all();
        }
        return a.get(index).dup('c');
    }

    @ParameterizedTest(name = "{0} {1} slices {2}")
    @MethodSource("ghostCases")
    void ghostBatchesEqualTheLayerRunOnEachSliceSeparately(Nets.Layout layout, DataType type, int[] slices) {
        int k = slices[0];                                           // the rest: a short slice, or k + 1 merged
        long examples = java.util.Arrays.stream(slices).sum();
        long[] shape = layout.shape().clone();
        shape[0] = examples;
        int channels = (int) shape[layout.channelAxis()];
        MultiLayerNetwork ghostNet = Nets.single(new BatchNorm.Builder().virtualBatchSize(k).build(), layout.inputType(), type);
        MultiLayerNetwork plainNet = Nets.single(new BatchNorm.Builder().build(), layout.inputType(), type);
        Layer ghost = Nets.first(ghostNet);
        Layer plain = Nets.first(plainNet);
        INDArray gamma = Nd4j.createFromArray(ramp(channels, 0.6, 0.4)).reshape(1, channels).castTo(type);
        INDArray beta = Nd4j.createFromArray(ramp(channels, 0.3, -0.2)).reshape(1, channels).castTo(type);
        for (Layer l : new Layer[]{ghost, plain}) {
            l.setParam("gamma", gamma);
            l.setParam("beta", beta);
        }
        INDArray x = Nets.random(shape, type, 2.0, 1.5, 21);
        INDArray dy = Nets.random(shape, type, 0.0, 1.0, 22);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        ghost.setInput(x, mgr);
        INDArray y = ghost.activate(true, mgr).dup();
        Pair<Gradient, INDArray> g = ghost.backpropGradient(dy, mgr);

        double tolerance = type == DataType.DOUBLE ? 1e-13 : 1e-6;
        double[] dgamma = new double[channels];
        double[] dbeta = new double[channels];
        double[] meanOfMeans = new double[channels];
        double[] meanOfVariances = new double[channels];
        long from = 0;
        for (int s = 0; s < slices.length; s++) {
            long to = from + slices[s];
            double share = (double) slices[s] / examples;            // the slices' average, weighted by examples
            INDArray xs = rows(x, from, to);
            plain.setInput(xs, mgr);
            INDArray ys = plain.activate(true, mgr);
            Pair<Gradient, INDArray> gs = plain.backpropGradient(rows(dy, from, to), mgr);
            Compare.assertClose(Nets.values(ys), Nets.values(rows(y, from, to)), tolerance, tolerance, "y of slice " + s);
            Compare.assertClose(Nets.values(gs.getSecond()), Nets.values(rows(g.getSecond(), from, to)),
                    tolerance, tolerance, "dx of slice " + s);
            from = to;
            double[] dg = Nets.values(gs.getFirst().getGradientFor("gamma"));
            double[] db = Nets.values(gs.getFirst().getGradientFor("beta"));
            ReferenceBatchNorm.Stats st = new ReferenceBatchNorm(xs.shape(), layout.channelAxis()).stats(Nets.values(xs));
            for (int c = 0; c < channels; c++) {
                dgamma[c] += dg[c];
                dbeta[c] += db[c];
                meanOfMeans[c] += share * st.mean()[c];
                meanOfVariances[c] += share * st.biasedVar()[c] * st.m() / (st.m() - 1.0);
            }
        }
        Compare.assertClose(dgamma, Nets.values(g.getFirst().getGradientFor("gamma")), tolerance, tolerance, "dgamma: the slices' sum");
        Compare.assertClose(dbeta, Nets.values(g.getFirst().getGradientFor("beta")), tolerance, tolerance, "dbeta: the slices' sum");
        double[] expectedMean = new double[channels];
        double[] expectedVar = new double[channels];
        for (int c = 0; c < channels; c++) {
            expectedMean[c] = 0.1 * meanOfMeans[c];                 // one update, by the slices' average
            expectedVar[c] = 0.9 + 0.1 * meanOfVariances[c];
        }
        Compare.assertClose(expectedMean, Nets.values(ghost.getParam("mean")), tolerance, tolerance, "running mean");
        Compare.assertClose(expectedVar, Nets.values(ghost.getParam("var")), tolerance, tolerance, "running variance");
    }

    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.EnumSource(org.deeplearning4j.nn.conf.RNNFormat.class)
    void maskedGhostBatchesEqualTheLayerRunOnEachMaskedSlice(org.deeplearning4j.nn.conf.RNNFormat format) {
        boolean ncw = format == org.deeplearning4j.nn.conf.RNNFormat.NCW;
        long[] shape = ncw ? new long[]{6, 3, 5} : new long[]{6, 5, 3};
        InputType type = InputType.recurrent(3, 5, format);
        Layer ghost = Nets.first(Nets.single(new BatchNorm.Builder().virtualBatchSize(2).build(), type, DataType.DOUBLE));
        Layer plain = Nets.first(Nets.single(new BatchNorm.Builder().build(), type, DataType.DOUBLE));
        INDArray x = Nets.random(shape, DataType.DOUBLE, 1.0, 2.0, 41);
        INDArray dy = Nets.random(shape, DataType.DOUBLE, 0.0, 1.0, 42);
        INDArray mask = Nd4j.ones(DataType.DOUBLE, 6, 5);
        for (int e = 0; e < 6; e++) {
            for (int t = 2 + e % 3; t < 5; t++) {
                mask.putScalar(e, t, 0);                             // every slice has a different m
            }
        }
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        ghost.setMaskArray(mask);
        ghost.setInput(x, mgr);
        INDArray y = ghost.activate(true, mgr).dup();
        Pair<Gradient, INDArray> g = ghost.backpropGradient(dy, mgr);
        double[] dgamma = new double[3];
        for (int s = 0; s < 3; s++) {
            plain.setMaskArray(rows(mask, 2L * s, 2L * s + 2));
            plain.setInput(rows(x, 2L * s, 2L * s + 2), mgr);
            INDArray ys = plain.activate(true, mgr);
            Pair<Gradient, INDArray> gs = plain.backpropGradient(rows(dy, 2L * s, 2L * s + 2), mgr);
            Compare.assertClose(Nets.values(ys), Nets.values(rows(y, 2L * s, 2L * s + 2)), 1e-13, 1e-13, "y of slice " + s);
            Compare.assertClose(Nets.values(gs.getSecond()), Nets.values(rows(g.getSecond(), 2L * s, 2L * s + 2)), 1e-13, 1e-13,
                    "dx of slice " + s);
            double[] dg = Nets.values(gs.getFirst().getGradientFor("gamma"));
            for (int c = 0; c < 3; c++) {
                dgamma[c] += dg[c];
            }
        }
        Compare.assertClose(dgamma, Nets.values(g.getFirst().getGradientFor("gamma")), 1e-13, 1e-13, "dgamma: the slices' sum");
    }

    /**
     * Small ghost batches run concurrently on the pass threads (16 slices of 16 x 64 values, and a short one):
     * the same bits as the same slices run one after another, which the layer does when its input is not
     * already dense (a column-major copy of the same values).
     */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void ghostBatchesInParallelGiveTheBitsOfGhostBatchesInOrder(DataType type) {
        org.junit.jupiter.api.Assumptions.assumeFalse("nd4j".equals(System.getProperty("dl4jbn.kernels")),
                "ND4J's ops run slices in order: nothing concurrent to compare on this path");
        BatchNorm conf = new BatchNorm.Builder().virtualBatchSize(16).renorm(Renorm.constant(1.5, 0.5)).build();
        Layer concurrent = Nets.first(Nets.single(conf.clone(), InputType.feedForward(64), type));
        Layer inOrder = Nets.first(Nets.single(conf.clone(), InputType.feedForward(64), type));
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        for (int step = 0; step < 2; step++) {
            INDArray x = Nets.random(new long[]{16 * 16 + 7, 64}, type, 1 + step, 2, 60 + step);
            INDArray dy = Nets.random(new long[]{16 * 16 + 7, 64}, type, 0, 1, 70 + step);
            concurrent.setInput(x, mgr);
            inOrder.setInput(x.dup('f'), mgr);
            assertArrayEquals(Nets.values(inOrder.activate(true, mgr)), Nets.values(concurrent.activate(true, mgr)), "y, step " + step);
            Pair<Gradient, INDArray> a = concurrent.backpropGradient(dy, mgr);
            Pair<Gradient, INDArray> b = inOrder.backpropGradient(dy.dup('f'), mgr);
            assertArrayEquals(Nets.values(b.getSecond()), Nets.values(a.getSecond()), "dx, step " + step);
            assertArrayEquals(Nets.values(b.getFirst().getGradientFor("gamma")), Nets.values(a.getFirst().getGradientFor("gamma")), "dgamma");
            assertArrayEquals(Nets.values(b.getFirst().getGradientFor("beta")), Nets.values(a.getFirst().getGradientFor("beta")), "dbeta");
            assertArrayEquals(Nets.values(inOrder.params()), Nets.values(concurrent.params()), "running statistics, step " + step);
        }
    }

    /**
     * An epoch of {@code fit} on an iterator whose batches are no multiples of the ghost batch (ListDataSetIterator's
     * last batch is short): with the layer first, its input is the data, so its running statistics after the epoch
     * follow from the data alone, by the README's rule (short last slice, a remainder of one merged, the slices'
     * average weighted by examples, unbiased, decay 0.9).
     */
    @Test
    void anEpochWithShortBatchesThroughFitMovesTheRunningStatisticsByTheRule() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).seed(3)
                .updater(new Adam(0.01)).list()
                .layer(new BatchNorm.Builder().name("bn").virtualBatchSize(4).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(4)).build());
        net.init();
        java.util.List<DataSet> examples = new java.util.ArrayList<>();
        for (DataSet b : new DataSet[]{batch(1, 8), batch(2, 8), batch(3, 8), batch(4, 3)}) {
            examples.addAll(b.asList());
        }
        int[] sizes = {8, 6, 5, 5, 3};                               // 4 + 4; 4 + 2; 4 + 1 merged; ...; 3 < 4
        java.util.List<DataSet> batches = new java.util.ArrayList<>();
        int at = 0;
        for (int size : sizes) {
            batches.add(DataSet.merge(examples.subList(at, at + size)));
            at += size;
        }
        double[] mean = new double[4];
        double[] var = {1, 1, 1, 1};
        for (DataSet b : batches) {
            double[] x = Nets.values(b.getFeatures());
            int n = (int) b.numExamples();
            double[] batchMean = new double[4];
            double[] batchVar = new double[4];
            int first = 0;
            for (int rows : FeaturesMeetTest.ghostBatches(n, 4)) {
                for (int c = 0; c < 4; c++) {
                    double mu = 0;
                    for (int e = first; e < first + rows; e++) {
                        mu += x[e * 4 + c] / rows;
                    }
                    double ss = 0;
                    for (int e = first; e < first + rows; e++) {
                        ss += (x[e * 4 + c] - mu) * (x[e * 4 + c] - mu);
                    }
                    batchMean[c] += (double) rows / n * mu;
                    batchVar[c] += (double) rows / n * ss / (rows - 1);
                }
                first += rows;
            }
            for (int c = 0; c < 4; c++) {
                mean[c] = 0.9 * mean[c] + 0.1 * batchMean[c];
                var[c] = 0.9 * var[c] + 0.1 * batchVar[c];
            }
        }
        net.fit(new org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator<>(batches, 1));
        assertEquals(sizes.length, net.getIterationCount());
        Compare.assertClose(mean, Nets.values(net.getLayer(0).getParam("mean")), 1e-5, 1e-6, "running mean after the epoch");
        Compare.assertClose(var, Nets.values(net.getLayer(0).getParam("var")), 1e-5, 1e-6, "running variance after the epoch");
        assertThrows(IllegalArgumentException.class, () -> new BatchNorm.Builder().virtualBatchSize(1).build());
    }

    @Test
    void ghostBatchesAndRenormTogetherTrainAndConvertingToTheBuiltInLayerRefusesToDropThem() {
        MultiLayerNetwork net = classifier(new BatchNorm.Builder().name("bn").virtualBatchSize(4)
                .renorm(Renorm.constant(2, 1)).build(), DataType.FLOAT);
        double first = 0;
        for (int i = 0; i < 30; i++) {
            net.fit(batch(i % 5, 16));
            if (i == 0) {
                first = net.score();
            }
        }
        assertTrue(net.score() < first, "training lowers the loss: " + first + " -> " + net.score());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BatchNormConversion.toBuiltIn(net));
        assertTrue(e.getMessage().contains("bn") && e.getMessage().contains("ghost batches of 4"), e.getMessage());
        // inference is plain Algorithm 2, so folding carries a renormalized network unchanged
        InferenceFolding.Result<MultiLayerNetwork> folded = InferenceFolding.fold(net);
        assertEquals(java.util.List.of("bn"), folded.folded());
        INDArray probe = batch(77, 16).getFeatures();
        Compare.assertClose(Nets.values(net.output(probe)), Nets.values(folded.network().output(probe)), 1e-4, 1e-5,
                "folded outputs");
    }
}
