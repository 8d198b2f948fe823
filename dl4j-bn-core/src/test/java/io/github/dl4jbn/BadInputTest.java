package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad input gets an error that names the layer, what was expected and what came; and a failed call leaves
 * parameters and running statistics exactly as they were.
 */
@org.junit.jupiter.api.Tag("once")   // kernel-agnostic: the default run only (docs/design.md, which tests run where)
class BadInputTest {

    private static MultiLayerNetwork cnn(CNN2DFormat format) {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().name("bn1").build(),
                InputType.convolutional(4, 4, 3, format), DataType.FLOAT);
        trainOnce(net, Nets.random(format == CNN2DFormat.NCHW ? new long[]{2, 3, 4, 4} : new long[]{2, 4, 4, 3},
                DataType.FLOAT, 1, 2, 7));
        return net;
    }

    /** One forward/backward so the statistics are no longer at their initial values. */
    private static void trainOnce(MultiLayerNetwork net, INDArray x) {
        Layer l = net.getLayer(0);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        l.setInput(x, mgr);
        l.activate(true, mgr);
        l.backpropGradient(Nd4j.onesLike(x), mgr);
    }

    /** Runs a call that must fail; asserts its message and that the parameters did not change. */
    private static void assertRejected(MultiLayerNetwork net, Executable call, Class<? extends Throwable> type,
                                       String... fragments) {
        INDArray before = net.params().dup();
        Throwable t = assertThrows(type, call);
        for (String fragment : fragments) {
            assertTrue(t.getMessage().contains(fragment), "message \"" + t.getMessage() + "\" lacks \"" + fragment + "\"");
        }
        assertEquals(before, net.params(), "parameters and statistics must be untouched after a failed call");
    }

    @Test
    void wrongRankNamesTheLayerAndTheShapes() {
        MultiLayerNetwork net = cnn(CNN2DFormat.NCHW);
        INDArray rank6 = Nd4j.ones(DataType.FLOAT, 2, 3, 1, 1, 1, 1);
        assertRejected(net, () -> net.getLayer(0).activate(rank6, true, LayerWorkspaceMgr.noWorkspaces()),
                DL4JInvalidInputException.class, "bn1", "layer index: 0", "rank 6", "[2, 3, 1, 1, 1, 1]");
    }

    @Test
    void wrongChannelCountNamesExpectedAndActual() {
        MultiLayerNetwork net = cnn(CNN2DFormat.NCHW);
        INDArray fiveChannels = Nd4j.ones(DataType.FLOAT, 2, 5, 4, 4);
        assertRejected(net, () -> net.output(fiveChannels), DL4JInvalidInputException.class,
                "bn1", "expected 3 channels", "NCHW", "[2, 5, 4, 4]");
    }

    @Test
    void formatMismatchSaysWhichFormatTheInputLooksLike() {
        MultiLayerNetwork net = cnn(CNN2DFormat.NHWC);
        INDArray nchw = Nd4j.ones(DataType.FLOAT, 2, 3, 4, 5);
        assertRejected(net, () -> net.getLayer(0).activate(nchw, true, LayerWorkspaceMgr.noWorkspaces()),
                DL4JInvalidInputException.class, "NHWC", "[2, 3, 4, 5]", "looks channels-first", "dataFormat");
    }

    @Test
    void oneValuePerChannelInTrainingIsAnError() {
        MultiLayerNetwork dense = Nets.single(new BatchNorm.Builder().name("dense-bn").build(), InputType.feedForward(4), DataType.FLOAT);
        assertRejected(dense, () -> dense.getLayer(0).activate(Nd4j.ones(DataType.FLOAT, 1, 4), true, LayerWorkspaceMgr.noWorkspaces()),
                DL4JInvalidInputException.class, "dense-bn", "more than one value per channel", "[1, 4]");
        MultiLayerNetwork conv = cnn(CNN2DFormat.NCHW);
        INDArray onePixel = Nd4j.ones(DataType.FLOAT, 1, 3, 1, 1);
        assertRejected(conv, () -> conv.getLayer(0).activate(onePixel, true, LayerWorkspaceMgr.noWorkspaces()),
                DL4JInvalidInputException.class, "more than one value per channel", "[1, 3, 1, 1]");
        // inference with a single example is fine
        assertEquals(4, dense.output(Nd4j.ones(DataType.FLOAT, 1, 4)).length());
    }

    @Test
    void fitWithABatchOfOneFailsAndChangesNothing() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).list()
                .layer(new BatchNorm.Builder().build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(3)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        net.fit(new DataSet(Nets.random(new long[]{4, 3}, DataType.FLOAT, 0, 1, 1), Nd4j.ones(DataType.FLOAT, 4, 2)));
        assertRejected(net, () -> net.fit(new DataSet(Nd4j.ones(DataType.FLOAT, 1, 3), Nd4j.ones(DataType.FLOAT, 1, 2))),
                DL4JInvalidInputException.class, "more than one value per channel");
    }

    @Test
    void gradientOfTheWrongShapeChangesNothing() {
        MultiLayerNetwork net = cnn(CNN2DFormat.NCHW);
        Layer l = net.getLayer(0);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        INDArray x = Nets.random(new long[]{2, 3, 4, 4}, DataType.FLOAT, 0, 1, 3);
        l.setInput(x, mgr);
        l.activate(true, mgr);
        assertRejected(net, () -> l.backpropGradient(Nd4j.ones(DataType.FLOAT, 2, 3, 4, 5), mgr),
                DL4JInvalidInputException.class, "bn1", "[2, 3, 4, 4]", "[2, 3, 4, 5]");
    }
}
