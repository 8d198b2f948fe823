package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.VarianceEstimate;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.constraint.NonNegativeConstraint;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.File;

import static io.github.dl4jbn.Compare.assertClose;
import static io.github.dl4jbn.Nets.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The layer inside real networks: JSON, ModelSerializer, workspaces, InputType inference, constraints. */
class IntegrationTest {

    private static MultiLayerConfiguration cnnConf(BatchNorm bn, CNN2DFormat format, WorkspaceMode ws, DataType type) {
        return new NeuralNetConfiguration.Builder()
                .dataType(type).seed(42).updater(new Adam(0.01))
                .trainingWorkspaceMode(ws).inferenceWorkspaceMode(ws)
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(bn)
                .layer(new SubsamplingLayer.Builder(2, 2).stride(2, 2).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(6, 6, 2, format))
                .build();
    }

    private static DataSet cnnData(CNN2DFormat format, int seed) {
        long[] shape = format == CNN2DFormat.NCHW ? new long[]{5, 2, 6, 6} : new long[]{5, 6, 6, 2};
        INDArray y = Nd4j.zeros(DataType.FLOAT, 5, 3);
        for (int i = 0; i < 5; i++) {
            y.putScalar(i, (i + seed) % 3, 1);
        }
        return new DataSet(Nets.random(shape, DataType.FLOAT, 0.3, 1.5, seed), y);
    }

    private static MultiLayerNetwork trained(MultiLayerConfiguration conf, CNN2DFormat format, int steps) {
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        for (int s = 0; s < steps; s++) {
            net.fit(cnnData(format, s));
        }
        return net;
    }

    @Test
    void jsonRoundTripKeepsEveryOption() {
        BatchNorm bn = new BatchNorm.Builder().name("bn").eps(1e-3).cumulativeAverage()
                .varianceEstimate(VarianceEstimate.BIASED).lockGammaBeta(true).gamma(2).beta(-1)
                .regularizeGammaBeta(true).dataFormat(RNNFormat.NWC).build();
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().list().layer(bn)
                .setInputType(InputType.feedForward(7)).build();
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
        assertEquals(conf, back);
        BatchNorm restored = (BatchNorm) back.getConf(0).getLayer();
        assertEquals(1e-3, restored.getEps());
        assertTrue(restored.isCumulativeAverage());
        assertEquals(VarianceEstimate.BIASED, restored.getVarianceEstimate());
        assertEquals(7, restored.getNIn());
        assertEquals(RNNFormat.NWC, restored.getRnnFormat());
    }

    @ParameterizedTest
    @EnumSource(value = CNN2DFormat.class)
    void modelSerializerRoundTripIsBitExactAndTrainingContinuesIdentically(CNN2DFormat format, @TempDir File dir) throws Exception {
        MultiLayerNetwork net = trained(cnnConf(new BatchNorm.Builder().cumulativeAverage().build(), format,
                WorkspaceMode.ENABLED, DataType.FLOAT), format, 4);
        File file = new File(dir, "net.zip");
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        assertEquals(net.params(), restored.params());
        assertEquals(4.0, restored.getLayer(1).getParam(BatchNormParamInitializer.BATCH_COUNT).getDouble(0));
        DataSet probe = cnnData(format, 9);
        assertEquals(net.output(probe.getFeatures()), restored.output(probe.getFeatures()));
        net.fit(probe);
        restored.fit(probe);
        assertEquals(net.params(), restored.params(), "training continues identically after reload");
    }

    @Test
    void computationGraphRoundTripIsBitExact(@TempDir File dir) throws Exception {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(1)
                .updater(new Adam(0.01)).graphBuilder()
                .addInputs("in")
                .addLayer("bn", new BatchNorm.Builder().build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build(), "bn")
                .setOutputs("out")
                .setInputTypes(InputType.feedForward(3))
                .build();
        assertEquals(conf, ComputationGraphConfiguration.fromJson(conf.toJson()));
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        for (int s = 0; s < 3; s++) {
            graph.fit(new DataSet(Nets.random(new long[]{6, 3}, DataType.DOUBLE, 2, 3, s), Nets.random(new long[]{6, 2}, DataType.DOUBLE, 0, 1, 10 + s)));
        }
        assertTrue(graph.getLayer("bn").getParam(BatchNormParamInitializer.MEAN).sumNumber().doubleValue() != 0.0);
        File file = new File(dir, "graph.zip");
        ModelSerializer.writeModel(graph, file, true);
        ComputationGraph restored = ModelSerializer.restoreComputationGraph(file, true);
        assertEquals(graph.params(), restored.params());
        INDArray probe = Nets.random(new long[]{4, 3}, DataType.DOUBLE, 2, 3, 99);
        assertEquals(graph.outputSingle(probe), restored.outputSingle(probe));
    }

    @ParameterizedTest
    @EnumSource(value = CNN2DFormat.class)
    void workspacesEnabledAndNoneGiveBitIdenticalTraining(CNN2DFormat format) {
        MultiLayerNetwork with = trained(cnnConf(new BatchNorm.Builder().build(), format, WorkspaceMode.ENABLED, DataType.FLOAT), format, 6);
        MultiLayerNetwork without = trained(cnnConf(new BatchNorm.Builder().build(), format, WorkspaceMode.NONE, DataType.FLOAT), format, 6);
        assertEquals(without.params(), with.params());
        INDArray probe = cnnData(format, 7).getFeatures();
        assertEquals(without.output(probe), with.output(probe));
    }

    @Test
    void inputTypeSetsChannelsAndFormatAndFlattenedInputIsReshaped() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().list()
                .layer(new BatchNorm.Builder().build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).build())
                .setInputType(InputType.convolutionalFlat(4, 5, 3)).build();
        BatchNorm bn = (BatchNorm) conf.getConf(0).getLayer();
        assertEquals(3, bn.getNIn());
        assertEquals(3, bn.getNOut());
        assertInstanceOf(FeedForwardToCnnPreProcessor.class, conf.getInputPreProcess(0));

        MultiLayerConfiguration nhwc = cnnConf(new BatchNorm.Builder().build(), CNN2DFormat.NHWC, WorkspaceMode.ENABLED, DataType.FLOAT);
        assertEquals(CNN2DFormat.NHWC, ((BatchNorm) nhwc.getConf(1).getLayer()).getCnn2dFormat());
        assertEquals(4, ((BatchNorm) nhwc.getConf(1).getLayer()).getNIn());

        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        INDArray flat = Nets.random(new long[]{3, 60}, DataType.FLOAT, 0, 1, 1);
        assertEquals(2, net.output(flat).size(1));
        LayerMemoryReport report = bn.getMemoryReport(InputType.convolutional(4, 5, 3));
        assertEquals(4 * 3 * 4, report.getMemoryBytes(org.deeplearning4j.nn.conf.memory.MemoryType.PARAMETERS, 1,
                org.deeplearning4j.nn.conf.memory.MemoryUseMode.INFERENCE, org.deeplearning4j.nn.conf.CacheMode.NONE,
                DataType.FLOAT), "gamma, beta, mean, var: 3 floats each");
    }

    @Test
    void constraintsApplyToGammaAndBetaAndNeverToTheStatistics() {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().constrainGamma(new NonNegativeConstraint())
                .constrainAllParameters(new NonNegativeConstraint()).build(), InputType.feedForward(3), DataType.DOUBLE);
        Layer l = net.getLayer(0);
        l.setParam(BatchNormParamInitializer.GAMMA, Nd4j.createFromArray(-1.0, 2.0, -3.0));
        l.setParam(BatchNormParamInitializer.BETA, Nd4j.createFromArray(-0.5, 0.5, 1.0));
        l.setParam(BatchNormParamInitializer.MEAN, Nd4j.createFromArray(-4.0, 4.0, -4.0));
        net.applyConstraints(0, 0);
        assertEquals(Nd4j.createFromArray(0.0, 2.0, 0.0), l.getParam(BatchNormParamInitializer.GAMMA));
        assertEquals(Nd4j.createFromArray(0.0, 0.5, 1.0), l.getParam(BatchNormParamInitializer.BETA));
        assertEquals(Nd4j.createFromArray(-4.0, 4.0, -4.0), l.getParam(BatchNormParamInitializer.MEAN), "statistics unconstrained");
    }

    @Test
    void nonIdentityActivationIsAppliedAfterNormalization() {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().activation(Activation.RELU).build(),
                InputType.feedForward(3), DataType.DOUBLE);
        INDArray x = Nets.random(new long[]{8, 3}, DataType.DOUBLE, 1, 2, 5);
        INDArray dy = Nets.random(new long[]{8, 3}, DataType.DOUBLE, 0, 1, 6);
        ReferenceBatchNorm ref = new ReferenceBatchNorm(x.shape(), 1);
        double[] xv = values(x);
        ReferenceBatchNorm.Stats s = ref.stats(xv);
        double[] ones = {1, 1, 1};
        double[] z = ref.forward(xv, s.mean(), s.biasedVar(), ones, new double[3], 1e-5);
        double[] relu = z.clone();
        double[] dz = values(dy);
        for (int i = 0; i < z.length; i++) {
            relu[i] = Math.max(0, z[i]);
            dz[i] = z[i] > 0 ? dz[i] : 0;
        }
        Layer l = net.getLayer(0);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        l.setInput(x, mgr);
        assertClose(relu, values(l.activate(true, mgr)), 1e-12, 1e-12, "relu(bn(x))");
        assertClose(ref.backwardTraining(xv, dz, ones, 1e-5).dx(), values(l.backpropGradient(dy, mgr).getSecond()), 1e-10, 1e-12, "dx");
    }

    @Test
    void largeMeanSmallSpreadInFloatKeepsItsVariance() {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().eps(0).build(), InputType.feedForward(2), DataType.FLOAT);
        INDArray x = Nets.random(new long[]{256, 2}, DataType.FLOAT, 1e4, 1e-2, 8);
        double[] xv = values(x);                                       // exactly the float values the layer sees
        ReferenceBatchNorm ref = new ReferenceBatchNorm(x.shape(), 1);
        ReferenceBatchNorm.Stats s = ref.stats(xv);
        Layer l = net.getLayer(0);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        l.setInput(x, mgr);
        double[] y = values(l.activate(true, mgr));
        assertClose(ref.forward(xv, s.mean(), s.biasedVar(), new double[]{1, 1}, new double[2], 0), y, 0, 1e-5, "y");
        l.backpropGradient(Nd4j.onesLike(x), mgr);
        double[] var = values(l.getParam(BatchNormParamInitializer.VAR));
        for (int c = 0; c < 2; c++) {
            double expected = 0.9 + 0.1 * s.biasedVar()[c] * 256 / 255;
            assertEquals(expected, var[c], 1e-7 * expected, "running variance, channel " + c);
        }
    }
}
