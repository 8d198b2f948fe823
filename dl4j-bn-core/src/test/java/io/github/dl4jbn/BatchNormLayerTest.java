package io.github.dl4jbn;

import io.github.dl4jbn.Nets.Layout;
import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static io.github.dl4jbn.Compare.assertClose;
import static io.github.dl4jbn.Nets.values;

/**
 * Forward (training and inference) and backward of the layer against {@link ReferenceBatchNorm}, for every
 * rank and data format, FLOAT and DOUBLE, learned and locked gamma/beta.
 */
class BatchNormLayerTest {

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (Layout layout : Nets.layouts()) {
            for (DataType type : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
                for (boolean locked : new boolean[]{false, true}) {
                    cases.add(Arguments.of(layout, type, locked));
                }
            }
        }
        return cases.stream();
    }

    private static double rel(DataType type) {
        return type == DataType.DOUBLE ? 1e-12 : 2e-6;
    }

    private static double abs(DataType type) {
        return type == DataType.DOUBLE ? 1e-12 : 2e-6;
    }

    private static BatchNorm layer(boolean locked) {
        BatchNorm.Builder b = new BatchNorm.Builder().eps(1e-3);
        if (locked) {
            b.lockGammaBeta(true).gamma(1.5).beta(-0.25);
        }
        return b.build();
    }

    /** Sets learned gamma/beta to non-trivial values and returns the per-channel gamma and beta in use. */
    private static double[][] gammaBeta(MultiLayerNetwork net, int channels, boolean locked) {
        double[] gamma = new double[channels];
        double[] beta = new double[channels];
        for (int c = 0; c < channels; c++) {
            gamma[c] = locked ? 1.5 : 0.5 + 0.3 * c;
            beta[c] = locked ? -0.25 : 0.1 - 0.2 * c;
        }
        if (!locked) {
            Layer l = net.getLayer(0);
            l.setParam(BatchNormParamInitializer.GAMMA, Nd4j.createFromArray(gamma).castTo(net.getLayerWiseConfigurations().getDataType()));
            l.setParam(BatchNormParamInitializer.BETA, Nd4j.createFromArray(beta).castTo(net.getLayerWiseConfigurations().getDataType()));
        }
        return new double[][]{gamma, beta};
    }

    @ParameterizedTest(name = "{0} {1} locked={2}")
    @MethodSource("cases")
    void trainingForwardAndBackwardMatchTheReference(Layout layout, DataType type, boolean locked) {
        MultiLayerNetwork net = Nets.single(layer(locked), layout.inputType(), type);
        int channels = (int) layout.shape()[layout.channelAxis()];
        double[][] gb = gammaBeta(net, channels, locked);
        INDArray x = Nets.random(layout.shape(), type, 2.0, 3.0, 1);
        INDArray dy = Nets.random(layout.shape(), type, 0.0, 1.0, 2);
        ReferenceBatchNorm ref = new ReferenceBatchNorm(layout.shape(), layout.channelAxis());
        double[] xv = values(x);
        ReferenceBatchNorm.Stats stats = ref.stats(xv);

        Layer l = net.getLayer(0);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        l.setInput(x, mgr);
        INDArray y = l.activate(true, mgr);
        assertClose(ref.forward(xv, stats.mean(), stats.biasedVar(), gb[0], gb[1], 1e-3), values(y), rel(type), abs(type), "y");
        org.junit.jupiter.api.Assertions.assertArrayEquals(x.shape(), y.shape());

        Pair<Gradient, INDArray> back = l.backpropGradient(dy, mgr);
        ReferenceBatchNorm.Grads g = ref.backwardTraining(xv, values(dy), gb[0], 1e-3);
        assertClose(g.dx(), values(back.getSecond()), rel(type), 10 * abs(type), "dx");
        if (!locked) {
            assertClose(g.dgamma(), values(back.getFirst().getGradientFor(BatchNormParamInitializer.GAMMA)), rel(type), 10 * abs(type), "dgamma");
            assertClose(g.dbeta(), values(back.getFirst().getGradientFor(BatchNormParamInitializer.BETA)), rel(type), 10 * abs(type), "dbeta");
        }
        assertClose(new double[channels], values(back.getFirst().getGradientFor(BatchNormParamInitializer.MEAN)), 0, 0, "dmean");
    }

    @ParameterizedTest(name = "{0} {1} locked={2}")
    @MethodSource("cases")
    void inferenceForwardAndBackwardUseThePopulationStatistics(Layout layout, DataType type, boolean locked) {
        MultiLayerNetwork net = Nets.single(layer(locked), layout.inputType(), type);
        int channels = (int) layout.shape()[layout.channelAxis()];
        double[][] gb = gammaBeta(net, channels, locked);
        double[] mean = new double[channels];
        double[] var = new double[channels];
        for (int c = 0; c < channels; c++) {
            mean[c] = 1.0 - 0.7 * c;
            var[c] = 0.5 + 2.0 * c;
        }
        Layer l = net.getLayer(0);
        l.setParam(BatchNormParamInitializer.MEAN, Nd4j.createFromArray(mean).castTo(type));
        l.setParam(BatchNormParamInitializer.VAR, Nd4j.createFromArray(var).castTo(type));
        INDArray params = net.params().dup();

        INDArray x = Nets.random(layout.shape(), type, 2.0, 3.0, 3);
        INDArray dy = Nets.random(layout.shape(), type, 0.0, 1.0, 4);
        ReferenceBatchNorm ref = new ReferenceBatchNorm(layout.shape(), layout.channelAxis());
        double[] xv = values(x);
        assertClose(ref.forward(xv, mean, var, gb[0], gb[1], 1e-3), values(net.output(x)), rel(type), abs(type), "output()");

        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        l.setInput(x, mgr);
        l.activate(false, mgr);
        Pair<Gradient, INDArray> back = l.backpropGradient(dy, mgr);
        ReferenceBatchNorm.Grads g = ref.backwardInference(xv, values(dy), mean, var, gb[0], 1e-3);
        assertClose(g.dx(), values(back.getSecond()), rel(type), abs(type), "dx");
        if (!locked) {
            assertClose(g.dgamma(), values(back.getFirst().getGradientFor(BatchNormParamInitializer.GAMMA)), rel(type), 10 * abs(type), "dgamma");
            assertClose(g.dbeta(), values(back.getFirst().getGradientFor(BatchNormParamInitializer.BETA)), rel(type), 10 * abs(type), "dbeta");
        }
        org.junit.jupiter.api.Assertions.assertEquals(params, net.params(),
                "an inference forward and its backward must not move the running statistics");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.github.dl4jbn.Nets#layouts")
    void viewsAndFortranOrderGiveTheSameResultAsDenseInput(Layout layout) {
        MultiLayerNetwork net = Nets.single(layer(false), layout.inputType(), DataType.DOUBLE);
        INDArray x = Nets.random(layout.shape(), DataType.DOUBLE, 0.5, 2.0, 5);
        INDArray fOrder = x.dup('f');
        long[] bigger = layout.shape().clone();
        bigger[0] += 2;
        INDArray container = Nd4j.zeros(DataType.DOUBLE, bigger);
        INDArray view = container.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 1 + layout.shape()[0]));
        view.assign(x);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        Layer l = net.getLayer(0);
        double[] expected = values(l.activate(x, true, mgr));
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, values(l.activate(fOrder, true, mgr)), "f order");
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, values(l.activate(view, true, mgr)), "view " + Arrays.toString(view.shape()));
    }
}
