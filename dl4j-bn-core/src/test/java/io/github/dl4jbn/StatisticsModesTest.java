package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.Renorm;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Tag;
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
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The statistics modes, each against a double-precision transcription of the peer's documented rule: center and
 * scale against Keras's {@code BatchNormalization}, frozen statistics against torchvision's
 * {@code FrozenBatchNorm2d} affine map, {@code trackRunningStatistics(false)} against PyTorch's batch-statistics
 * inference, and the presets against PyTorch's and Keras 3's running-statistics updates; forward, backward and
 * the running statistics over several steps with changing batch sizes. Then through {@code fit}, JSON,
 * {@code ModelSerializer}, folding, conversion and the population pass.
 */
@Tag("once")   // kernel-agnostic: the default run only (docs/design.md, which tests run where)
class StatisticsModesTest {

    private static final LayerWorkspaceMgr MGR = LayerWorkspaceMgr.noWorkspaces();

    /** A shape of {@code examples} examples in a layout. */
    private static long[] shape(Nets.Layout layout, int examples) {
        long[] shape = layout.shape().clone();
        shape[0] = examples;
        return shape;
    }

    private static INDArray row(double[] values, DataType type) {
        return Nd4j.createFromArray(values).reshape(1, values.length).castTo(type);
    }

    private static double[] constant(int channels, double value) {
        double[] v = new double[channels];
        Arrays.fill(v, value);
        return v;
    }

    private static Nets.Layout layout(String name) {
        return Nets.layouts().stream().filter(l -> l.name().equals(name)).findFirst().orElseThrow();
    }

    // ---------------------------------------------------------------- center and scale (Keras)

    static Stream<Arguments> centerScale() {
        List<Arguments> cases = new ArrayList<>();
        for (String layout : new String[]{"FF", "CNN-NHWC", "RNN-NCW"}) {
            cases.add(Arguments.of(layout, false, true));
            cases.add(Arguments.of(layout, true, false));
            cases.add(Arguments.of(layout, false, false));
        }
        return cases.stream();
    }

    /**
     * Keras 3's {@code BatchNormalization(center, scale)} in training: {@code y = gamma * (x - mean) /
     * sqrt(var + epsilon) + beta} with the biased batch moments, gamma 1 without scale and beta 0 without center
     * (here the configured fixed values, left at their defaults), and {@code moving = moving * momentum + batch *
     * (1 - momentum)}; its gradient is the paper's chain rule with that gamma. Four steps of 4, 6, 3 and 5 examples,
     * then inference with the moving statistics.
     */
    @ParameterizedTest(name = "{0} center={1} scale={2}")
    @MethodSource("centerScale")
    void centerAndScaleFollowKerasFormula(String layoutName, boolean center, boolean scale) {
        Nets.Layout layout = layout(layoutName);
        int channels = (int) layout.shape()[layout.channelAxis()];
        Layer l = Nets.first(Nets.single(BatchNorm.Builder.keras().center(center).scale(scale).build(),
                layout.inputType(), DataType.DOUBLE));
        Set<String> keys = l.paramTable().keySet();
        assertEquals(scale, keys.contains("gamma"), "gamma parameter");
        assertEquals(center, keys.contains("beta"), "beta parameter");
        double[] gamma = scale ? new double[channels] : constant(channels, 1.0);
        double[] beta = center ? new double[channels] : constant(channels, 0.0);
        for (int c = 0; c < channels; c++) {
            if (scale) {
                gamma[c] = 0.5 + 0.3 * c;
            }
            if (center) {
                beta[c] = 0.2 - 0.15 * c;
            }
        }
        if (scale) {
            l.setParam("gamma", row(gamma, DataType.DOUBLE));
        }
        if (center) {
            l.setParam("beta", row(beta, DataType.DOUBLE));
        }
        double eps = 1e-3;
        double[] movingMean = new double[channels];
        double[] movingVar = constant(channels, 1.0);
        int step = 0;
        for (int examples : new int[]{4, 6, 3, 5}) {
            long[] shape = shape(layout, examples);
            INDArray x = Nets.random(shape, DataType.DOUBLE, 2 + step, 1.5, 10 + step);
            INDArray dy = Nets.random(shape, DataType.DOUBLE, 0, 1, 20 + step);
            ReferenceBatchNorm ref = new ReferenceBatchNorm(shape, layout.channelAxis());
            double[] xs = Nets.values(x);
            ReferenceBatchNorm.Stats moments = ref.stats(xs);
            l.setInput(x, MGR);
            INDArray y = l.activate(true, MGR);
            Compare.assertClose(ref.forward(xs, moments.mean(), moments.biasedVar(), gamma, beta, eps), Nets.values(y),
                    1e-12, 1e-12, "y at step " + step);
            Pair<Gradient, INDArray> g = l.backpropGradient(dy, MGR);
            ReferenceBatchNorm.Grads grads = ref.backwardTraining(xs, Nets.values(dy), gamma, eps);
            Compare.assertClose(grads.dx(), Nets.values(g.getSecond()), 1e-10, 1e-12, "dx at step " + step);
            assertEquals(scale, g.getFirst().gradientForVariable().containsKey("gamma"), "a gradient for gamma");
            assertEquals(center, g.getFirst().gradientForVariable().containsKey("beta"), "a gradient for beta");
            if (scale) {
                Compare.assertClose(grads.dgamma(), Nets.values(g.getFirst().getGradientFor("gamma")), 1e-10, 1e-12, "dgamma");
            }
            if (center) {
                Compare.assertClose(grads.dbeta(), Nets.values(g.getFirst().getGradientFor("beta")), 1e-10, 1e-12, "dbeta");
            }
            for (int c = 0; c < channels; c++) {                     // Keras 3: momentum 0.99, the biased variance
                movingMean[c] = movingMean[c] * 0.99 + moments.mean()[c] * (1 - 0.99);
                movingVar[c] = movingVar[c] * 0.99 + moments.biasedVar()[c] * (1 - 0.99);
            }
            Compare.assertClose(movingMean, Nets.values(l.getParam("mean")), 1e-12, 1e-14, "moving mean at step " + step);
            Compare.assertClose(movingVar, Nets.values(l.getParam("var")), 1e-12, 1e-14, "moving variance at step " + step);
            step++;
        }
        long[] shape = shape(layout, 3);
        INDArray x = Nets.random(shape, DataType.DOUBLE, 1, 2, 99);
        l.setInput(x, MGR);
        Compare.assertClose(new ReferenceBatchNorm(shape, layout.channelAxis()).forward(Nets.values(x), movingMean, movingVar,
                gamma, beta, eps), Nets.values(l.activate(false, MGR)), 1e-12, 1e-12, "inference with the moving statistics");
    }

    /**
     * A gamma or beta that is not learned has no parameter: no updater state, and the fixed value stays through
     * {@code fit}; a configured fixed beta other than 0 is applied; a constraint on it is an error.
     */
    @Test
    void aFixedGammaOrBetaHasNoParameterNoUpdaterStateAndItsValueIsApplied() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .updater(new Adam(0.05)).seed(3).list()
                .layer(new BatchNorm.Builder().center(false).beta(0.25).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(4)).build());
        net.init();
        assertEquals(List.of("gamma", "mean", "var"), new ArrayList<>(net.getLayer(0).paramTable().keySet()));
        assertEquals(3 * 4 + 2 * 4 + 2, net.numParams(), "gamma, mean, var; then W and b");
        assertEquals(2 * (4 + 4 * 2 + 2), net.getUpdater().getStateViewArray().length(), "Adam's two moments of gamma, W, b only");
        for (int i = 0; i < 5; i++) {
            net.fit(Nets.random(new long[]{6, 4}, DataType.DOUBLE, 1, 2, i), Nets.random(new long[]{6, 2}, DataType.DOUBLE, 0, 1, 50 + i));
        }
        Layer l = net.getLayer(0);
        INDArray x = Nets.random(new long[]{5, 4}, DataType.DOUBLE, 1, 2, 77);
        l.setInput(x, MGR);
        double[] gamma = Nets.values(l.getParam("gamma"));
        Compare.assertClose(new ReferenceBatchNorm(new long[]{5, 4}, 1).forward(Nets.values(x), Nets.values(l.getParam("mean")),
                Nets.values(l.getParam("var")), gamma, constant(4, 0.25), 1e-5), Nets.values(l.activate(false, MGR)),
                1e-12, 1e-12, "the fixed beta 0.25 after training");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BatchNorm.Builder().name("bn")
                .scale(false).constrainGamma(new org.deeplearning4j.nn.conf.constraint.NonNegativeConstraint()).build());
        assertTrue(e.getMessage().contains("[gamma] not learned (scale(false))"), e.getMessage());
    }

    // ---------------------------------------------------------------- frozen statistics (FrozenBatchNorm2d)

    static Stream<Arguments> frozenCases() {
        return Stream.of(Arguments.of("FF", 0, true, true), Arguments.of("CNN-NCHW", 0, true, true),
                Arguments.of("CNN-NHWC", 2, true, true), Arguments.of("RNN-NWC", 0, false, true),
                Arguments.of("FF", 3, true, false), Arguments.of("CNN3D-NDHWC", 0, true, true));
    }

    /**
     * Training with frozen statistics is torchvision's {@code FrozenBatchNorm2d} with gamma and beta learned:
     * {@code y = x * s + t}, {@code s = gamma * rsqrt(running_var + eps)}, {@code t = beta - running_mean * s}; its
     * gradient {@code dx = dy * s}, {@code dgamma = sum(dy * (x - running_mean) * rsqrt(running_var + eps))},
     * {@code dbeta = sum(dy)}; and the running statistics never move. Ghost batches (which then do nothing) and a
     * fixed gamma compose with it; batches of 1 example train too, as nothing is estimated from them.
     */
    @ParameterizedTest(name = "{0} ghost={1} scale={2} center={3}")
    @MethodSource("frozenCases")
    void frozenStatisticsAreTheFrozenBatchNormAffineMap(String layoutName, int ghost, boolean scale, boolean center) {
        Nets.Layout layout = layout(layoutName);
        int channels = (int) layout.shape()[layout.channelAxis()];
        Layer l = Nets.first(Nets.single(new BatchNorm.Builder().freezeStatistics(true).virtualBatchSize(ghost)
                .scale(scale).center(center).gamma(1.3).beta(-0.4).build(), layout.inputType(), DataType.DOUBLE));
        double[] runningMean = new double[channels];
        double[] runningVar = new double[channels];
        double[] gamma = constant(channels, 1.3);
        double[] beta = constant(channels, -0.4);
        for (int c = 0; c < channels; c++) {
            runningMean[c] = 0.5 - 0.2 * c;
            runningVar[c] = 0.7 + 0.4 * c;
            gamma[c] = scale ? 0.8 + 0.1 * c : gamma[c];
            beta[c] = center ? 0.1 * c : beta[c];
        }
        l.setParam("mean", row(runningMean, DataType.DOUBLE));
        l.setParam("var", row(runningVar, DataType.DOUBLE));
        if (scale) {
            l.setParam("gamma", row(gamma, DataType.DOUBLE));
        }
        if (center) {
            l.setParam("beta", row(beta, DataType.DOUBLE));
        }
        double eps = 1e-5;
        int step = 0;
        for (int examples : new int[]{6, 1, 5}) {
            long[] shape = shape(layout, examples);
            double[] x = Nets.values(Nets.random(shape, DataType.DOUBLE, 3, 2, 30 + step));
            double[] dy = Nets.values(Nets.random(shape, DataType.DOUBLE, 0, 1, 40 + step));
            double[] s = new double[channels];
            double[] t = new double[channels];
            for (int c = 0; c < channels; c++) {
                s[c] = gamma[c] / Math.sqrt(runningVar[c] + eps);
                t[c] = beta[c] - runningMean[c] * s[c];
            }
            double[] y = new double[x.length];
            double[] dx = new double[x.length];
            double[] dgamma = new double[channels];
            double[] dbeta = new double[channels];
            for (int i = 0; i < x.length; i++) {
                int c = channelOf(shape, layout.channelAxis(), i);
                y[i] = x[i] * s[c] + t[c];
                dx[i] = dy[i] * s[c];
                dgamma[c] += dy[i] * (x[i] - runningMean[c]) / Math.sqrt(runningVar[c] + eps);
                dbeta[c] += dy[i];
            }
            l.setInput(Nd4j.createFromArray(x).reshape(shape), MGR);
            Compare.assertClose(y, Nets.values(l.activate(true, MGR)), 1e-12, 1e-12, "y at step " + step);
            Pair<Gradient, INDArray> g = l.backpropGradient(Nd4j.createFromArray(dy).reshape(shape), MGR);
            Compare.assertClose(dx, Nets.values(g.getSecond()), 1e-12, 1e-12, "dx at step " + step);
            if (scale) {
                Compare.assertClose(dgamma, Nets.values(g.getFirst().getGradientFor("gamma")), 1e-11, 1e-12, "dgamma");
            }
            if (center) {
                Compare.assertClose(dbeta, Nets.values(g.getFirst().getGradientFor("beta")), 1e-11, 1e-12, "dbeta");
            }
            assertArrayEquals(runningMean, Nets.values(l.getParam("mean")), "the running mean never moves");
            assertArrayEquals(runningVar, Nets.values(l.getParam("var")), "the running variance never moves");
            step++;
        }
    }

    /** The channel of row-major element i of a tensor with the channel axis {@code axis}. */
    private static int channelOf(long[] shape, int axis, int i) {
        long stride = 1;
        for (int d = axis + 1; d < shape.length; d++) {
            stride *= shape[d];
        }
        return (int) ((i / stride) % shape[axis]);
    }

    /** Masked sequences while frozen: padded steps give 0 and no gradient; the statistics stay. */
    @Test
    void frozenStatisticsWithAMask() {
        Layer l = Nets.first(Nets.single(new BatchNorm.Builder().freezeStatistics(true).build(),
                InputType.recurrent(3, 6, RNNFormat.NCW), DataType.DOUBLE));
        DataSet d = Nets.maskedSequences(1, 5).get(0);
        l.setMaskArray(d.getFeaturesMaskArray());
        l.setInput(d.getFeatures(), MGR);
        INDArray y = l.activate(true, MGR);
        INDArray dy = Nets.random(new long[]{4, 3, 6}, DataType.DOUBLE, 0, 1, 6);
        Pair<Gradient, INDArray> g = l.backpropGradient(dy, MGR);
        double[] mask = Nets.values(d.getFeaturesMaskArray());
        double[] x = Nets.values(d.getFeatures());
        double[] dys = Nets.values(dy);
        double[] yv = Nets.values(y);
        double[] dxv = Nets.values(g.getSecond());
        double[] dbeta = new double[3];
        double[] dgamma = new double[3];
        for (int i = 0; i < x.length; i++) {
            int e = i / 18;
            int c = (i / 6) % 3;
            int t = i % 6;
            boolean valid = mask[e * 6 + t] != 0;
            double expected = valid ? (x[i] - 0) / Math.sqrt(1 + 1e-5) : 0;   // a new layer: mean 0, var 1, gamma 1, beta 0
            assertEquals(expected, yv[i], 1e-12, "y at " + i);
            assertEquals(valid ? dys[i] / Math.sqrt(1 + 1e-5) : 0, dxv[i], 1e-12, "dx at " + i);
            if (valid) {
                dbeta[c] += dys[i];
                dgamma[c] += dys[i] * x[i] / Math.sqrt(1 + 1e-5);
            }
        }
        Compare.assertClose(dbeta, Nets.values(g.getFirst().getGradientFor("beta")), 1e-12, 1e-12, "dbeta over valid steps");
        Compare.assertClose(dgamma, Nets.values(g.getFirst().getGradientFor("gamma")), 1e-12, 1e-12, "dgamma over valid steps");
        assertArrayEquals(new double[]{0, 0, 0}, Nets.values(l.getParam("mean")), "the mean stays a new layer's");
        assertArrayEquals(new double[]{1, 1, 1}, Nets.values(l.getParam("var")), "the variance stays a new layer's");
    }

    /**
     * The runtime switch through {@code fit}: a trained network frozen by {@link FrozenStatistics} keeps its running
     * statistics to the bit while gamma, beta and the other layers train on; thawed, they move again. In a graph too,
     * and all or none: a network with a renorm layer refuses and changes no layer.
     */
    @Test
    void freezingATrainedNetworkForFineTuningThenThawingIt() {
        MultiLayerNetwork net = TrainedNets.denseNet(DataType.FLOAT);
        INDArray gammaBefore = net.getLayer(1).getParam("gamma").dup();
        INDArray[] statistics = {net.getLayer(1).getParam("mean").dup(), net.getLayer(1).getParam("var").dup(),
                net.getLayer(4).getParam("mean").dup(), net.getLayer(4).getParam("var").dup()};
        assertEquals(2, FrozenStatistics.freeze(net));
        assertTrue(((io.github.dl4jbn.layers.BatchNormLayer) net.getLayer(4)).isFreezeStatistics());
        for (DataSet d : TrainedNets.batches(new long[]{2, 4}, 5, 70, DataType.FLOAT)) {   // small batches: fine-tuning
            net.fit(d);
        }
        assertEquals(statistics[0], net.getLayer(1).getParam("mean"));
        assertEquals(statistics[1], net.getLayer(1).getParam("var"));
        assertEquals(statistics[2], net.getLayer(4).getParam("mean"));
        assertEquals(statistics[3], net.getLayer(4).getParam("var"));
        assertNotEquals(gammaBefore, net.getLayer(1).getParam("gamma"), "gamma still trains");
        assertEquals(2, FrozenStatistics.thaw(net));
        net.fit(TrainedNets.batches(new long[]{8, 4}, 1, 80, DataType.FLOAT).get(0));
        assertNotEquals(statistics[0], net.getLayer(1).getParam("mean"), "thawed, the statistics move");

        ComputationGraph graph = TrainedNets.graph(new BatchNorm.Builder().build());
        INDArray mean = graph.getLayer("bn").getParam("mean").dup();
        assertEquals(1, FrozenStatistics.freeze(graph));
        graph.fit(TrainedNets.batches(new long[]{8, 4}, 1, 81, DataType.DOUBLE).get(0));
        assertEquals(mean, graph.getLayer("bn").getParam("mean"));

        MultiLayerNetwork mixed = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
                .layer(new BatchNorm.Builder().name("plain").build())
                .layer(new BatchNorm.Builder().name("renormed").renorm(Renorm.constant(2, 1)).build())
                .setInputType(InputType.feedForward(3)).build());
        mixed.init();
        DL4JInvalidConfigException e = assertThrows(DL4JInvalidConfigException.class, () -> FrozenStatistics.freeze(mixed));
        assertTrue(e.getMessage().contains("renormed") && e.getMessage().contains("freezeStatistics normalizes with the running"
                + " statistics, got renorm"), e.getMessage());
        assertFalse(((BatchNorm) mixed.getLayer(0).conf().getLayer()).isFreezeStatistics(), "all or none");
    }

    // ---------------------------------------------------------------- no running statistics (PyTorch)

    /**
     * PyTorch's {@code track_running_stats=False}: no running buffers; training and eval both normalize with the
     * batch's mean and biased variance, so two inference batches are normalized each by its own statistics. One
     * value per channel at inference is an error; folding and conversion refuse; the population pass skips it.
     */
    @Test
    void withoutRunningStatisticsInferenceUsesTheBatchsOwn() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .updater(new Sgd(0.1)).list()
                .layer(new DenseLayer.Builder().nOut(3).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNorm.Builder().name("bn").trackRunningStatistics(false).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(4)).build());
        net.init();
        Layer bn = net.getLayer(1);
        assertEquals(List.of("gamma", "beta"), new ArrayList<>(bn.paramTable().keySet()));
        for (int i = 0; i < 4; i++) {
            net.fit(Nets.random(new long[]{6 + i, 4}, DataType.DOUBLE, 1, 2, i), Nets.random(new long[]{6 + i, 2}, DataType.DOUBLE, 0, 1, 10 + i));
        }
        double[] gamma = Nets.values(bn.getParam("gamma"));
        double[] beta = Nets.values(bn.getParam("beta"));
        for (int examples : new int[]{5, 2}) {
            INDArray x = Nets.random(new long[]{examples, 3}, DataType.DOUBLE, 4, 3, 60 + examples);
            bn.setInput(x, MGR);
            ReferenceBatchNorm ref = new ReferenceBatchNorm(new long[]{examples, 3}, 1);
            ReferenceBatchNorm.Stats st = ref.stats(Nets.values(x));
            Compare.assertClose(ref.forward(Nets.values(x), st.mean(), st.biasedVar(), gamma, beta, 1e-5),
                    Nets.values(bn.activate(false, MGR)), 1e-12, 1e-12, "eval of " + examples + " examples");
        }
        bn.setInput(Nets.random(new long[]{1, 3}, DataType.DOUBLE, 0, 1, 1), MGR);
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class, () -> bn.activate(false, MGR));
        assertTrue(e.getMessage().contains("bn") && e.getMessage().contains("inference without running statistics")
                && e.getMessage().contains("got input shape [1, 3]"), e.getMessage());
        IllegalArgumentException fold = assertThrows(IllegalArgumentException.class, () -> InferenceFolding.fold(net));
        assertTrue(fold.getMessage().contains("bn") && fold.getMessage().contains("trackRunningStatistics(false)"), fold.getMessage());
        IllegalArgumentException convert = assertThrows(IllegalArgumentException.class, () -> BatchNormConversion.toBuiltIn(net));
        assertTrue(convert.getMessage().contains("bn") && convert.getMessage().contains("trackRunningStatistics(false)"),
                convert.getMessage());
        assertTrue(PopulationStatistics.layers(net).isEmpty(), "nothing to estimate");
        INDArray before = net.params().dup();
        PopulationStatistics.estimate(net, new ListDataSetIterator<>(TrainedNets.batches(new long[]{4, 4}, 2, 3, DataType.DOUBLE), 1));
        assertEquals(before, net.params(), "the population pass skipped it");
    }

    // ---------------------------------------------------------------- presets

    /**
     * PyTorch's update, {@code running = (1 - momentum) * running + momentum * batch} with momentum 0.1 and the
     * batch variance {@code n/(n-1)}-corrected; Keras 3's, {@code moving = moving * momentum + batch * (1 - momentum)}
     * with momentum 0.99 and the biased variance; each over five steps of changing batch sizes, then eval with
     * each one's epsilon (1e-5, 1e-3).
     */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"pytorch", "keras"})
    void thePresetsFollowTheirFrameworksUpdateRules(String preset) {
        boolean torch = preset.equals("pytorch");
        BatchNorm conf = (torch ? BatchNorm.Builder.pytorch() : BatchNorm.Builder.keras()).build();
        Nets.Layout layout = layout(torch ? "CNN-NCHW" : "CNN-NHWC");                 // each framework's usual layout
        Layer l = Nets.first(Nets.single(conf, layout.inputType(), DataType.DOUBLE));
        int channels = 3;
        double[] mean = new double[channels];
        double[] var = constant(channels, 1.0);
        int step = 0;
        for (int examples : new int[]{2, 4, 3, 6, 2}) {
            long[] shape = shape(layout, examples);
            INDArray x = Nets.random(shape, DataType.DOUBLE, 1 + step, 2, 90 + step);
            ReferenceBatchNorm.Stats st = new ReferenceBatchNorm(shape, layout.channelAxis()).stats(Nets.values(x));
            int n = st.m();
            for (int c = 0; c < channels; c++) {
                if (torch) {
                    double momentum = 0.1;
                    mean[c] = (1 - momentum) * mean[c] + momentum * st.mean()[c];
                    var[c] = (1 - momentum) * var[c] + momentum * st.biasedVar()[c] * n / (n - 1);
                } else {
                    double momentum = 0.99;
                    mean[c] = mean[c] * momentum + st.mean()[c] * (1 - momentum);
                    var[c] = var[c] * momentum + st.biasedVar()[c] * (1 - momentum);
                }
            }
            l.setInput(x, MGR);
            l.activate(true, MGR);
            l.backpropGradient(Nets.random(shape, DataType.DOUBLE, 0, 1, 1), MGR);
            Compare.assertClose(mean, Nets.values(l.getParam("mean")), 1e-12, 1e-14, preset + " running mean at step " + step);
            Compare.assertClose(var, Nets.values(l.getParam("var")), 1e-12, 1e-14, preset + " running variance at step " + step);
            step++;
        }
        long[] shape = shape(layout, 2);
        INDArray x = Nets.random(shape, DataType.DOUBLE, 0, 1, 5);
        l.setInput(x, MGR);
        Compare.assertClose(new ReferenceBatchNorm(shape, layout.channelAxis()).forward(Nets.values(x), mean, var,
                constant(channels, 1), new double[channels], torch ? 1e-5 : 1e-3), Nets.values(l.activate(false, MGR)),
                1e-12, 1e-12, preset + " eval");
        assertEquals(new BatchNorm.Builder().build(), BatchNorm.Builder.pytorch().build(), "PyTorch's are the defaults");
    }

    // ---------------------------------------------------------------- serialization and the live layout

    static Stream<Arguments> options() {
        return Stream.of(
                Arguments.of("center(false)", (Consumer<BatchNorm.Builder>) b -> b.center(false).beta(0.5)),
                Arguments.of("scale(false)", (Consumer<BatchNorm.Builder>) b -> b.scale(false).gamma(2)),
                Arguments.of("freezeStatistics(true)", (Consumer<BatchNorm.Builder>) b -> b.freezeStatistics(true)),
                Arguments.of("trackRunningStatistics(false)", (Consumer<BatchNorm.Builder>) b -> b.trackRunningStatistics(false)),
                Arguments.of("keras()", (Consumer<BatchNorm.Builder>) b -> b.eps(1e-3).decay(0.99)
                        .varianceEstimate(io.github.dl4jbn.conf.VarianceEstimate.BIASED)));
    }

    /** Each option survives JSON and ModelSerializer: the same configuration, parameters and outputs in both modes. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("options")
    void eachOptionSurvivesJsonAndModelSerializer(String name, Consumer<BatchNorm.Builder> option) throws IOException {
        BatchNorm.Builder b = new BatchNorm.Builder().name("bn");
        option.accept(b);
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(4)
                .updater(new Adam(0.02)).list()
                .layer(new DenseLayer.Builder().nOut(3).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(b.build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(4)).build();
        assertEquals(conf, MultiLayerConfiguration.fromJson(conf.toJson()), name + " through JSON");
        assertEquals(conf.getConf(1).getLayer(), MultiLayerConfiguration.fromYaml(conf.toYaml()).getConf(1).getLayer(), name + " through YAML");
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        for (int i = 0; i < 3; i++) {
            net.fit(Nets.random(new long[]{6, 4}, DataType.DOUBLE, 1, 2, i), Nets.random(new long[]{6, 2}, DataType.DOUBLE, 0, 1, 5 + i));
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(net, bytes, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(bytes.toByteArray()), true);
        assertEquals(net.getLayerWiseConfigurations().getConf(1).getLayer(), restored.getLayerWiseConfigurations().getConf(1).getLayer());
        assertEquals(net.params(), restored.params());
        INDArray x = Nets.random(new long[]{4, 4}, DataType.DOUBLE, 1, 2, 9);
        assertEquals(net.output(x, false), restored.output(x, false), name + ": inference");
        assertEquals(net.output(x, true), restored.output(x, true), name + ": training mode");
        INDArray y = Nets.random(new long[]{4, 2}, DataType.DOUBLE, 0, 1, 10);
        net.fit(x, y);
        restored.fit(x, y);
        assertEquals(net.params(), restored.params(), name + ": one more step, the same");
    }

    /** JSON written before center and scale existed: {@code "lockGammaBeta" : true} still locks both. */
    @Test
    void olderJsonWithLockGammaBetaLocksBoth() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().list().layer(new BatchNorm.Builder().build())
                .setInputType(InputType.feedForward(3)).build();
        String json = conf.toJson();
        assertTrue(json.contains("\"center\" : true") && json.contains("\"scale\" : true") && !json.contains("lockGammaBeta"), json);
        String older = json.replace("\"center\" : true,", "\"lockGammaBeta\" : true,").replace("\"scale\" : true,", "");
        BatchNorm read = (BatchNorm) MultiLayerConfiguration.fromJson(older).getConf(0).getLayer();
        assertTrue(read.isLockGammaBeta() && !read.isCenter() && !read.isScale(), older);
    }

    /** center, scale and trackRunningStatistics change the parameter layout: edited on a live network, refused. */
    @Test
    void aLayoutOptionEditedOnALiveNetworkIsRefusedAndNothingIsWritten() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .updater(new Sgd(0.1)).list()
                .layer(new BatchNorm.Builder().name("bn").build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(3)).build());
        net.init();
        INDArray x = Nets.random(new long[]{6, 3}, DataType.DOUBLE, 1, 2, 1);
        INDArray y = Nets.random(new long[]{6, 2}, DataType.DOUBLE, 0, 1, 2);
        net.fit(x, y);
        INDArray before = net.params().dup();
        BatchNorm conf = (BatchNorm) net.getLayer(0).conf().getLayer();
        for (Runnable edit : new Runnable[]{() -> conf.setCenter(false), () -> conf.setTrackRunningStatistics(false)}) {
            edit.run();
            DL4JInvalidConfigException e = assertThrows(DL4JInvalidConfigException.class, () -> net.fit(x, y));
            assertTrue(e.getMessage().contains("bn") && e.getMessage().contains("set them before the network is built"),
                    e.getMessage());
            assertEquals(before, net.params(), "nothing written");
            conf.setCenter(true);
            conf.setTrackRunningStatistics(true);
        }
        net.fit(x, y);
    }

    // ---------------------------------------------------------------- folding, conversion, recalibration

    /** Folding carries a fixed gamma or beta; conversion refuses only what the built-in layer cannot express. */
    @Test
    void foldingAndConversionCarryCenterAndScale() {
        for (Consumer<BatchNorm.Builder> option : List.<Consumer<BatchNorm.Builder>>of(b -> b.center(false).beta(0.4),
                b -> b.scale(false).gamma(1.5), b -> b.lockGammaBeta(true).gamma(0.5).beta(-1))) {
            BatchNorm.Builder b = new BatchNorm.Builder().name("bn");
            option.accept(b);
            MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                    .updater(new Adam(0.02)).seed(2).list()
                    .layer(new DenseLayer.Builder().nOut(3).activation(Activation.IDENTITY).hasBias(false).build())
                    .layer(b.build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                    .setInputType(InputType.feedForward(4)).build());
            net.init();
            for (int i = 0; i < 4; i++) {
                net.fit(Nets.random(new long[]{6, 4}, DataType.DOUBLE, 1, 2, i), Nets.random(new long[]{6, 2}, DataType.DOUBLE, 0, 1, 5 + i));
            }
            BatchNorm bn = (BatchNorm) net.getLayer(1).conf().getLayer();
            INDArray x = Nets.random(new long[]{5, 4}, DataType.DOUBLE, 1, 2, 9);
            Compare.assertClose(net.output(x), InferenceFolding.fold(net).network().output(x), 1e-10, 1e-12, "folded " + bn);
            PopulationStatistics.estimate(net, new ListDataSetIterator<>(TrainedNets.batches(new long[]{6, 4}, 2, 4, DataType.DOUBLE), 1));
            if (bn.isCenter() == bn.isScale()) {
                MultiLayerNetwork builtIn = BatchNormConversion.toBuiltIn(net);
                Compare.assertClose(net.output(x), builtIn.output(x), 1e-10, 1e-12, "as DL4J's layer " + bn);
                BatchNorm back = (BatchNorm) BatchNormConversion.toOurs(builtIn).getLayer(1).conf().getLayer();
                assertTrue(!back.isCenter() && !back.isScale(), "locked both ways");
            } else {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BatchNormConversion.toBuiltIn(net));
                assertTrue(e.getMessage().contains("bn") && e.getMessage().contains("cannot express"), e.getMessage());
            }
        }
        MultiLayerNetwork frozen = TrainedNets.denseNet(DataType.DOUBLE);
        FrozenStatistics.freeze(frozen);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BatchNormConversion.toBuiltIn(frozen));
        assertTrue(e.getMessage().contains("freezeStatistics(true)"), e.getMessage());
    }

    /**
     * Recalibration from unlabeled inputs equals Algorithm 2's pass on the same batches with labels, to the bit, and
     * recalibrates frozen layers too.
     */
    @Test
    void recalibrationFromUnlabeledInputsIsThePopulationPass() {
        MultiLayerNetwork a = TrainedNets.denseNet(DataType.DOUBLE);
        MultiLayerNetwork b = a.clone();
        List<DataSet> batches = TrainedNets.batches(new long[]{8, 4}, 3, 33, DataType.DOUBLE);
        List<INDArray> unlabeled = new ArrayList<>();
        for (DataSet d : batches) {
            unlabeled.add(d.getFeatures());
        }
        assertEquals(3, PopulationStatistics.estimate(a, new ListDataSetIterator<>(batches, 1)));
        FrozenStatistics.freeze(b);
        assertEquals(3, PopulationStatistics.recalibrate(b, unlabeled));
        assertEquals(a.params(), b.params());
        assertNotEquals(TrainedNets.denseNet(DataType.DOUBLE).params(), b.params(), "the statistics changed");
    }
}
