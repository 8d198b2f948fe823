package consumer;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.File;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** What a user does with the library: build, fit, save, restore, predict; with the backend of their choice. */
class ConsumerTest {

    private static DataSet batch(long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 16, 4).muli(3).addi(5);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, 16, 3);
        for (int i = 0; i < 16; i++) {
            y.putScalar(i, i % 3, 1);
        }
        return new DataSet(x, y);
    }

    @Test
    void multiLayerNetworkFitsSavesAndRestores(@TempDir File dir) throws Exception {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(1)
                .updater(new Adam(0.01)).list()
                .layer(new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNorm.Builder().build())
                .layer(new ActivationLayer(Activation.TANH))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(4)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        for (int i = 0; i < 20; i++) {
            net.fit(batch(i));
        }
        INDArray x = batch(99).getFeatures();

        // inference is Algorithm 2, line 11, on the layer's own statistics: checked by hand in double
        // (up to the BatchNorm only: the next layer's activation may run in place on its input)
        List<INDArray> acts = net.feedForwardToLayer(1, x, false);
        INDArray in = acts.get(1);
        INDArray out = acts.get(2);
        INDArray mean = net.getLayer(1).getParam("mean");
        INDArray var = net.getLayer(1).getParam("var");
        INDArray gamma = net.getLayer(1).getParam("gamma");
        INDArray beta = net.getLayer(1).getParam("beta");
        assertNotEquals(0.0, mean.getDouble(0), "training moved the running mean");
        for (int r = 0; r < 16; r++) {
            for (int c = 0; c < 6; c++) {
                double expected = gamma.getDouble(c) * (in.getDouble(r, c) - mean.getDouble(c))
                        / Math.sqrt(var.getDouble(c) + 1e-5) + beta.getDouble(c);
                assertEquals(expected, out.getDouble(r, c), 1e-12, "BatchNorm output [" + r + ", " + c + "]");
            }
        }

        File file = new File(dir, "net.zip");
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        assertEquals(net.output(x), restored.output(x), "restored network, same outputs");
        net.fit(batch(100));
        restored.fit(batch(100));
        assertEquals(net.params(), restored.params(), "training continues identically");
    }

    @Test
    void computationGraphFitsSavesAndRestores(@TempDir File dir) throws Exception {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).seed(2)
                .updater(new Adam(0.01)).graphBuilder().addInputs("in")
                .addLayer("dense", new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build(), "in")
                .addLayer("bn", new BatchNorm.Builder().build(), "dense")
                .addLayer("act", new ActivationLayer(Activation.TANH), "bn")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build(), "act")
                .setOutputs("out").setInputTypes(InputType.feedForward(4)).build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        for (int i = 0; i < 20; i++) {
            DataSet d = batch(i);
            graph.fit(new DataSet(d.getFeatures().castTo(DataType.FLOAT), d.getLabels().castTo(DataType.FLOAT)));
        }
        INDArray x = batch(99).getFeatures().castTo(DataType.FLOAT);
        INDArray y = graph.outputSingle(x);
        assertEquals(16 * 3, y.length());
        assertEquals(16.0, y.sumNumber().doubleValue(), 1e-4, "softmax rows sum to 1");

        File file = new File(dir, "graph.zip");
        ModelSerializer.writeModel(graph, file, true);
        ComputationGraph restored = ModelSerializer.restoreComputationGraph(file, true);
        assertEquals(y, restored.outputSingle(x), "restored graph, same outputs");
    }
}
