package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.Renorm;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where features meet, as a user's network calls the layer: ghost batches, masks, renorm, batch sizes that
 * change from call to call, masked then unmasked, training then inference, a failed call in between; each step
 * checked against a double-precision transcription of the papers written here (per slice, over the valid
 * positions only), in DOUBLE, FLOAT and HALF. And the same sequences through {@code fit}. Runs on
 * every kernel path (the core suite's executions).
 */
class FeaturesMeetTest {

    private static final double EPS = 1e-5;

    /** A layout the sequences run in: rank 2, or rank 3 in either format (maskable). */
    record Case(String name, InputType inputType, int channels, int steps, RNNFormat format, int ghost, boolean renorm,
                DataType type) {
        @Override
        public String toString() {
            return name + " ghost=" + ghost + (renorm ? " renorm" : "") + " " + type;
        }

        long[] shape(int examples) {
            if (format == null) {
                return new long[]{examples, channels};
            }
            return format == RNNFormat.NCW ? new long[]{examples, channels, steps} : new long[]{examples, steps, channels};
        }

        int channelOf(long i) {
            return format == RNNFormat.NWC || format == null ? (int) (i % channels) : (int) ((i / steps) % channels);
        }

        /** The mask position [example, step] of flat element i. */
        long positionOf(long i) {
            if (format == null) {
                return i / channels;
            }
            long example = i / ((long) channels * steps);
            long step = format == RNNFormat.NCW ? i % steps : (i / channels) % steps;
            return example * steps + step;
        }
    }

    static Stream<Case> cases() {
        List<Case> cases = new ArrayList<>();
        // DL4J 1.0.0-M2.1 builds no BFLOAT16 network ("one of DOUBLE, FLOAT, or HALF"): LayerKernelsTest covers it
        for (DataType type : new DataType[]{DataType.DOUBLE, DataType.FLOAT, DataType.HALF}) {
            if (!Nets.distinctOnThisPath(type)) {
                continue;
            }
            for (int ghost : new int[]{0, 3}) {                      // 3: batches of 2 to 9 leave every remainder
                for (boolean renorm : new boolean[]{false, true}) {
                    cases.add(new Case("FF", InputType.feedForward(3), 3, 1, null, ghost, renorm, type));
                    cases.add(new Case("NCW", InputType.recurrent(3, 5, RNNFormat.NCW), 3, 5, RNNFormat.NCW, ghost, renorm, type));
                    cases.add(new Case("NWC", InputType.recurrent(3, 5, RNNFormat.NWC), 3, 5, RNNFormat.NWC, ghost, renorm, type));
                }
            }
        }
        return cases.stream();
    }

    /**
     * Random sequences of batch sizes (any, so ghost batches end with a short slice, or with a remainder of one
     * that joins the slice before it), masks on or off, training (forward and
     * backward) or inference, against the reference; the running statistics carried from step to step.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void randomSequencesOfBatchesMasksAndModesMatchTheReference(Case c) {
        BatchNorm.Builder builder = new BatchNorm.Builder().virtualBatchSize(c.ghost());
        if (c.renorm()) {
            builder.renorm(Renorm.constant(1.3, 0.4));
        }
        MultiLayerNetwork net = Nets.single(builder.build(), c.inputType(), c.type());
        Layer layer = Nets.first(net);
        int channels = c.channels();
        layer.setParam("gamma", Nd4j.createFromArray(0.7, 1.2, -0.9).reshape(1, 3).castTo(c.type()));
        layer.setParam("beta", Nd4j.createFromArray(0.2, -0.4, 0.1).reshape(1, 3).castTo(c.type()));
        Random r = new Random(c.toString().hashCode());
        // the output, dx and the gradients are rounded to the type: 2^-24, 2^-11, 2^-8 of their size
        double tolerance = switch (c.type()) {
            case DOUBLE -> 1e-9;
            case FLOAT -> 2e-4;
            default -> 2e-3;                                     // HALF
        };
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        for (int step = 0; step < 12; step++) {
            int examples = 2 + r.nextInt(8);
            boolean masked = c.format() != null && r.nextBoolean();
            boolean training = r.nextInt(3) > 0;
            String what = "step " + step + " (" + examples + " examples" + (masked ? ", masked" : "")
                    + (training ? ", training" : ", inference") + ")";
            long[] shape = c.shape(examples);
            double[] x = Nets.values(Nets.random(shape, c.type(), 1.5 + step % 3, 2.0, 100 + step));
            double[] dy = Nets.values(Nets.random(shape, c.type(), 0.0, 1.0, 200 + step));
            boolean[] valid = new boolean[(int) (masked ? examples * c.steps() : examples * Math.max(1, c.steps()))];
            java.util.Arrays.fill(valid, true);
            INDArray mask = null;
            if (masked) {
                mask = Nd4j.ones(c.type(), examples, c.steps());
                for (int e = 0; e < examples; e++) {
                    for (int t = 1 + r.nextInt(c.steps()); t < c.steps(); t++) {
                        mask.putScalar(e, t, 0);
                        valid[e * c.steps() + t] = false;
                    }
                }
                for (int i = 0; i < x.length; i++) {
                    if (!valid[(int) c.positionOf(i)]) {
                        x[i] = 1e3;                                  // padding must never be read
                    }
                }
            }
            double[] gamma = Nets.values(layer.getParam("gamma"));
            double[] beta = Nets.values(layer.getParam("beta"));
            double[] runningMean = Nets.values(layer.getParam("mean"));      // as stored: rounded to the type
            double[] runningVar = Nets.values(layer.getParam("var"));
            int[] slices = training ? ghostBatches(examples, c.ghost()) : new int[]{examples};
            Reference ref = new Reference(c, x, dy, valid, gamma, beta, runningMean, runningVar, slices, training);

            layer.setMaskArray(mask);
            layer.setInput(Nd4j.createFromArray(x).reshape(shape).castTo(c.type()), mgr);
            INDArray y = layer.activate(training, mgr);
            Compare.assertClose(ref.y, Nets.values(y), tolerance, tolerance, "y at " + what);
            if (training) {
                Pair<Gradient, INDArray> g = layer.backpropGradient(Nd4j.createFromArray(dy).reshape(shape).castTo(c.type()), mgr);
                Compare.assertClose(ref.dx, Nets.values(g.getSecond()), tolerance, tolerance, "dx at " + what);
                Compare.assertClose(ref.dgamma, Nets.values(g.getFirst().getGradientFor("gamma")), tolerance, tolerance * 10, "dgamma at " + what);
                Compare.assertClose(ref.dbeta, Nets.values(g.getFirst().getGradientFor("beta")), tolerance, tolerance * 10, "dbeta at " + what);
            }
            Compare.assertClose(ref.nextMean, Nets.values(layer.getParam("mean")), tolerance, tolerance, "running mean after " + what);
            Compare.assertClose(ref.nextVar, Nets.values(layer.getParam("var")), tolerance, tolerance, "running variance after " + what);
        }
    }

    /**
     * The README's rule: slices of k examples in order, the last one shorter with what remains, a remainder of one
     * joining the slice before it; k at least the batch, or 0, is one slice.
     */
    static int[] ghostBatches(int examples, int k) {
        if (k == 0 || examples <= k) {
            return new int[]{examples};
        }
        int rest = examples % k;
        int[] rows = new int[examples / k + (rest > 1 ? 1 : 0)];
        java.util.Arrays.fill(rows, k);
        rows[rows.length - 1] = rest == 1 ? k + 1 : rest > 1 ? rest : k;
        return rows;
    }

    /**
     * The papers per slice over the valid positions: Algorithm 1 (or Batch Renormalization's Algorithm 1 with r
     * and d from the running statistics) with the paper's chain rule, or Algorithm 2's inference; and the
     * running statistics' next values (decay 0.9, unbiased, the slices' average weighted by their examples).
     */
    private static final class Reference {
        final double[] y;
        final double[] dx;
        final double[] dgamma;
        final double[] dbeta;
        final double[] nextMean;
        final double[] nextVar;

        Reference(Case c, double[] x, double[] dy, boolean[] valid, double[] gamma, double[] beta, double[] runMean,
                  double[] runVar, int[] slices, boolean training) {
            int channels = c.channels();
            y = new double[x.length];
            dx = new double[x.length];
            dgamma = new double[channels];
            dbeta = new double[channels];
            nextMean = runMean.clone();
            nextVar = runVar.clone();
            double[] batchMean = new double[channels];
            double[] batchVar = new double[channels];
            int examples = java.util.Arrays.stream(slices).sum();
            int perExample = x.length / examples;
            int first = 0;
            for (int rows : slices) {
                double share = (double) rows / examples;
                for (int ch = 0; ch < channels; ch++) {
                    List<Integer> idx = new ArrayList<>();
                    for (int i = first * perExample; i < (first + rows) * perExample; i++) {
                        if (c.channelOf(i) == ch && valid[(int) c.positionOf(i)]) {
                            idx.add(i);
                        }
                    }
                    int m = idx.size();
                    if (!training) {
                        double inv = 1 / Math.sqrt(runVar[ch] + EPS);
                        for (int i : idx) {
                            y[i] = gamma[ch] * (x[i] - runMean[ch]) * inv + beta[ch];
                        }
                        continue;
                    }
                    double mu = 0;
                    for (int i : idx) {
                        mu += x[i] / m;                                      // Algorithm 1, line 1
                    }
                    double var = 0;
                    for (int i : idx) {
                        var += (x[i] - mu) * (x[i] - mu) / m;                // line 2
                    }
                    double rr = 1;
                    double dd = 0;
                    if (c.renorm()) {                                        // Ioffe 2017, Algorithm 1
                        double sigma = Math.sqrt(runVar[ch] + EPS);
                        rr = Math.min(1.3, Math.max(1 / 1.3, Math.sqrt(var + EPS) / sigma));
                        dd = Math.min(0.4, Math.max(-0.4, (mu - runMean[ch]) / sigma));
                    }
                    double dvar = 0;
                    double dmu = 0;
                    double sumXmu = 0;
                    for (int i : idx) {
                        double xhat = (x[i] - mu) / Math.sqrt(var + EPS);
                        y[i] = gamma[ch] * (xhat * rr + dd) + beta[ch];
                        double dxhat = dy[i] * gamma[ch] * rr;              // r and d are constants
                        dvar += dxhat * (x[i] - mu) * -0.5 * Math.pow(var + EPS, -1.5);
                        dmu += -dxhat / Math.sqrt(var + EPS);
                        sumXmu += -2 * (x[i] - mu);
                        dgamma[ch] += dy[i] * (xhat * rr + dd);
                        dbeta[ch] += dy[i];
                    }
                    dmu += dvar * sumXmu / m;
                    for (int i : idx) {
                        dx[i] = dy[i] * gamma[ch] * rr / Math.sqrt(var + EPS) + dvar * 2 * (x[i] - mu) / m + dmu / m;
                    }
                    batchMean[ch] += share * mu;
                    batchVar[ch] += share * var * m / (m - 1.0);
                }
                first += rows;
            }
            if (training) {
                for (int ch = 0; ch < channels; ch++) {
                    nextMean[ch] = 0.9 * runMean[ch] + 0.1 * batchMean[ch];
                    nextVar[ch] = 0.9 * runVar[ch] + 0.1 * batchVar[ch];
                }
            }
        }
    }

    /** The reproduction: LSTM, BatchNorm with ghost batches of 2, masked fit on 4 then output and fit on 2. */
    @Test
    void ghostBatchesWithMasksThenASmallerBatchThroughFitAndOutput() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1).updater(new Sgd(0.05))
                .dataType(DataType.FLOAT).list()
                .layer(new LSTM.Builder().nOut(4).build())
                .layer(new BatchNorm.Builder().virtualBatchSize(2).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(3, 5)).build());
        net.init();
        INDArray mask4 = Nd4j.ones(DataType.FLOAT, 4, 5);
        mask4.putScalar(1, 4, 0);
        mask4.putScalar(3, 3, 0);
        mask4.putScalar(3, 4, 0);
        INDArray mask2 = Nd4j.ones(DataType.FLOAT, 2, 5);
        mask2.putScalar(0, 4, 0);
        for (int round = 0; round < 2; round++) {
            net.fit(new DataSet(Nets.random(new long[]{4, 3, 5}, DataType.FLOAT, 0, 1, 1), Nets.random(new long[]{4, 2, 5},
                    DataType.FLOAT, 0, 1, 2), mask4, mask4));
            INDArray x2 = Nets.random(new long[]{2, 3, 5}, DataType.FLOAT, 0, 1, 3);
            INDArray out = net.output(x2, false, mask2, null);
            assertArrayEquals(new long[]{2, 2, 5}, out.shape());
            assertTrue(finite(out), "output on the smaller batch");
            net.fit(new DataSet(x2, Nets.random(new long[]{2, 2, 5}, DataType.FLOAT, 0, 1, 4), mask2, mask2));
            net.fit(new DataSet(Nets.random(new long[]{6, 3, 5}, DataType.FLOAT, 0, 1, 5),
                    Nets.random(new long[]{6, 2, 5}, DataType.FLOAT, 0, 1, 6)));            // unmasked, larger
            assertTrue(finite(net.output(Nets.random(new long[]{3, 3, 5}, DataType.FLOAT, 0, 1, 7))), "unmasked inference");
        }
        assertTrue(finite(net.params()), "parameters");
    }

    /** Ghost batches of 4 on a growing batch 8, 12, 16 through fit, then inference on 5, then 8 again. */
    @Test
    void ghostBatchesOnAGrowingBatchThroughFit() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(2).updater(new Sgd(0.05))
                .dataType(DataType.FLOAT).list()
                .layer(new DenseLayer.Builder().nOut(5).activation(Activation.IDENTITY).build())
                .layer(new BatchNorm.Builder().virtualBatchSize(4).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(3)).build());
        net.init();
        for (int examples : new int[]{8, 12, 16, 8}) {
            net.fit(Nets.random(new long[]{examples, 3}, DataType.FLOAT, 0, 1, examples),
                    Nets.random(new long[]{examples, 2}, DataType.FLOAT, 0, 1, examples + 1));
            assertTrue(finite(net.output(Nets.random(new long[]{5, 3}, DataType.FLOAT, 0, 1, 9))), "inference after " + examples);
        }
        assertTrue(finite(net.params()));
    }

    /** A failed training call (one example: no batch variance) changes nothing and breaks no later call. */
    @Test
    void aFailedCallLeavesNothingBehind() {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().virtualBatchSize(4).build(), InputType.feedForward(3),
                DataType.DOUBLE);
        Layer layer = Nets.first(net);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        layer.setInput(Nets.random(new long[]{8, 3}, DataType.DOUBLE, 1, 2, 1), mgr);
        layer.activate(true, mgr);
        layer.backpropGradient(Nets.random(new long[]{8, 3}, DataType.DOUBLE, 0, 1, 2), mgr);
        INDArray before = layer.params().dup();
        layer.setInput(Nets.random(new long[]{1, 3}, DataType.DOUBLE, 1, 2, 3), mgr);
        assertThrows(DL4JInvalidInputException.class, () -> layer.activate(true, mgr));
        assertEquals(before, layer.params());
        assertThrows(IllegalStateException.class, () -> layer.backpropGradient(Nd4j.zeros(DataType.DOUBLE, 1, 3), mgr),
                "the failed forward left nothing to differentiate");
        INDArray x = Nets.random(new long[]{3, 3}, DataType.DOUBLE, 1, 2, 4);
        layer.setInput(x, mgr);
        double[] mean = Nets.values(layer.getParam("mean"));
        double[] var = Nets.values(layer.getParam("var"));
        double[] y = Nets.values(layer.activate(false, mgr));
        double[] xs = Nets.values(x);
        for (int i = 0; i < xs.length; i++) {
            assertEquals((xs[i] - mean[i % 3]) / Math.sqrt(var[i % 3] + EPS), y[i], 1e-12, "inference after the failure");
        }
    }

    /** Two backward calls on one training forward: the same training gradient, and one running-statistics step. */
    @ParameterizedTest(name = "ghost={0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {0, 2})
    void aSecondBackwardOnOneForwardGivesTheSameGradientAndMovesNothing(int ghost) {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().virtualBatchSize(ghost).build(), InputType.feedForward(3),
                DataType.DOUBLE);
        Layer layer = Nets.first(net);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        INDArray x = Nets.random(new long[]{6, 3}, DataType.DOUBLE, 2, 3, 11);
        INDArray dy = Nets.random(new long[]{6, 3}, DataType.DOUBLE, 0, 1, 12);
        layer.setInput(x, mgr);
        layer.activate(true, mgr);
        Pair<Gradient, INDArray> first = layer.backpropGradient(dy, mgr);
        INDArray dx = first.getSecond().dup();
        INDArray dgamma = first.getFirst().getGradientFor("gamma").dup();
        INDArray stats = layer.params().dup();               // gamma, beta and the running statistics
        Pair<Gradient, INDArray> second = layer.backpropGradient(dy, mgr);
        assertEquals(dx, second.getSecond(), "dx");
        assertEquals(dgamma, second.getFirst().getGradientFor("gamma"), "dgamma");
        assertEquals(stats, layer.params(), "one running step");
        // and it is the training gradient: the reference's chain rule through the batch statistics
        if (ghost == 0) {
            ReferenceBatchNorm.Grads ref = new ReferenceBatchNorm(x.shape(), 1).backwardTraining(Nets.values(x),
                    Nets.values(dy), new double[]{1, 1, 1}, EPS);
            Compare.assertClose(ref.dx(), Nets.values(second.getSecond()), 1e-10, 1e-12, "dx");
        }
    }

    private static boolean finite(INDArray a) {
        for (double v : Nets.values(a)) {
            if (!Double.isFinite(v)) {
                return false;
            }
        }
        return true;
    }
}
