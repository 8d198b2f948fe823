package io.github.dl4jbn.verify;

import io.github.dl4jbn.BatchNormConversion;
import io.github.dl4jbn.CovariateShiftMonitor;
import io.github.dl4jbn.InferenceFolding;
import io.github.dl4jbn.PopulationStatistics;
import io.github.dl4jbn.Nets;
import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.layers.BatchNormLayer;
import io.github.dl4jbn.layers.PopulationAverage;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The capabilities beyond the built-in layer: Algorithm 2's population pass, folding into the previous layer,
 * conversion to and from the built-in layer, and the covariate-shift monitor.
 */
class BeyondBuiltInTest {

    private static List<DataSet> batches(long[] featureShape, int count, long seed, DataType type) {
        Random r = new Random(seed);
        List<DataSet> out = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            long n = 1;
            for (long d : featureShape) {
                n *= d;
            }
            double[] v = new double[(int) n];
            for (int i = 0; i < v.length; i++) {
                v[i] = 1 + 2 * r.nextGaussian();
            }
            INDArray y = Nd4j.zeros(type, featureShape[0], 3);
            for (int i = 0; i < featureShape[0]; i++) {
                y.putScalar(i, r.nextInt(3), 1);
            }
            out.add(new DataSet(Nd4j.createFromArray(v).reshape(featureShape).castTo(type), y));
        }
        return out;
    }

    private static MultiLayerNetwork denseNet(DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(type).seed(9).updater(new Adam(0.01)).list()
                .layer(new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNorm.Builder().build())
                .layer(new ActivationLayer(Activation.TANH))
                .layer(new DenseLayer.Builder().nOut(5).activation(Activation.IDENTITY).build())
                .layer(new BatchNorm.Builder().activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(4)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        for (DataSet d : batches(new long[]{8, 4}, 10, 1, type)) {
            net.fit(d);
        }
        return net;
    }

    @Test
    void populationPassSetsExactlyTheAverageOfTheBatchStatisticsLayerByLayer() {
        MultiLayerNetwork net = denseNet(DataType.DOUBLE);
        List<DataSet> data = batches(new long[]{8, 4}, 5, 2, DataType.DOUBLE);
        List<INDArray> before = new ArrayList<>();
        for (int i = 0; i < net.getnLayers(); i++) {
            before.add(net.getLayer(i).numParams() == 0 ? null : net.getLayer(i).params().dup());
        }
        INDArray gamma1 = net.getLayer(1).getParam("gamma").dup();
        INDArray gamma4 = net.getLayer(4).getParam("gamma").dup();
        long batches = PopulationStatistics.estimate(net, new ListDataSetIterator<>(data, 1));
        assertEquals(5, batches);
        // hand computation, layer by layer in inference mode: BN1's input is dense1(x); BN2's is dense2(tanh(BN1(.)))
        for (int bnIndex : new int[]{1, 4}) {
            double[] meanSum = new double[(int) net.getLayer(bnIndex).getParam("mean").length()];
            double[] varSum = new double[meanSum.length];
            for (DataSet d : data) {
                List<INDArray> acts = net.feedForwardToLayer(bnIndex - 1, d.getFeatures(), false);
                INDArray in = acts.get(acts.size() - 1);
                INDArray mu = in.mean(0);
                INDArray var = in.var(false, 0);                           // biased
                for (int c = 0; c < meanSum.length; c++) {
                    meanSum[c] += mu.getDouble(c);
                    varSum[c] += var.getDouble(c) * 8 / 7.0;               // m/(m-1)
                }
            }
            for (int c = 0; c < meanSum.length; c++) {
                assertEquals(meanSum[c] / 5, net.getLayer(bnIndex).getParam("mean").getDouble(c), 1e-12, "mean " + bnIndex);
                assertEquals(varSum[c] / 5, net.getLayer(bnIndex).getParam("var").getDouble(c), 1e-12, "var " + bnIndex);
            }
        }
        // every other parameter bit-identical
        for (int i : new int[]{0, 3, 5}) {
            assertEquals(before.get(i), net.getLayer(i).params(), "layer " + i);
        }
        assertEquals(gamma1, net.getLayer(1).getParam("gamma"));
        assertEquals(gamma4, net.getLayer(4).getParam("gamma"));
    }

    @Test
    void partialPopulationAveragesMergeIntoTheAverageOverAllBatches() throws Exception {
        MultiLayerNetwork net = denseNet(DataType.DOUBLE);
        List<DataSet> data = batches(new long[]{8, 4}, 5, 3, DataType.DOUBLE);
        MultiLayerNetwork whole = net.clone();
        PopulationStatistics.estimate(whole, new ListDataSetIterator<>(data, 1));
        // two "machines" collect the first BatchNorm's batches 0-2 and 3-4; one average crosses Java serialization
        PopulationAverage[] parts = new PopulationAverage[2];
        for (int part = 0; part < 2; part++) {
            MultiLayerNetwork machine = net.clone();
            BatchNormLayer bn = PopulationStatistics.layers(machine).get(0);
            bn.startPopulationAverage();
            for (DataSet d : part == 0 ? data.subList(0, 3) : data.subList(3, 5)) {
                machine.output(d.getFeatures(), false);
            }
            parts[part] = bn.finishPopulationAverage(false);
        }
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bytes)) {
            out.writeObject(parts[1]);
        }
        PopulationAverage shipped;
        try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray()))) {
            shipped = (PopulationAverage) in.readObject();
        }
        BatchNormLayer target = PopulationStatistics.layers(net).get(0);
        INDArray untouched = target.params().dup();
        assertThrows(IllegalArgumentException.class, () -> target.storePopulationAverage(new PopulationAverage()));
        assertEquals(untouched, target.params(), "a refused store writes nothing");
        target.storePopulationAverage(parts[0].merge(shipped));
        assertEquals(5, parts[0].batches());
        Nets.assertClose(whole.getLayer(1).getParam("mean").data().asDouble(), target.getParam("mean").data().asDouble(), 1e-13, 1e-15, "mean");
        Nets.assertClose(whole.getLayer(1).getParam("var").data().asDouble(), target.getParam("var").data().asDouble(), 1e-13, 1e-15, "var");
    }

    @Test
    void foldingMergesIntoDenseAndConvolutionWithIdenticalOutputs() {
        MultiLayerNetwork dense = denseNet(DataType.FLOAT);
        InferenceFolding.Result<MultiLayerNetwork> f = InferenceFolding.fold(dense);
        assertEquals(2, f.folded().size(), "both BatchNorm layers follow a DenseLayer with identity activation");
        assertEquals(4, f.network().getnLayers());
        INDArray x = batches(new long[]{50, 4}, 1, 7, DataType.FLOAT).get(0).getFeatures();
        Compare.assertClose(dense.output(x), f.network().output(x), 1e-5, 1e-6, "dense folded");

        MultiLayerNetwork cnn = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).seed(4)
                .updater(new Adam(0.01)).list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNorm.Builder().activation(Activation.RELU).build())
                .layer(new SubsamplingLayer.Builder(2, 2).stride(2, 2).build())
                .layer(new BatchNorm.Builder().build())                    // after pooling: cannot fold
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(6, 6, 2, CNN2DFormat.NHWC)).build());
        cnn.init();
        for (DataSet d : batches(new long[]{5, 6, 6, 2}, 8, 3, DataType.FLOAT)) {
            cnn.fit(d);
        }
        InferenceFolding.Result<MultiLayerNetwork> g = InferenceFolding.fold(cnn);
        assertEquals(1, g.folded().size());
        assertEquals(1, g.leftAlone().size());
        assertTrue(g.leftAlone().get(0).contains("SubsamplingLayer"), g.leftAlone().get(0));
        INDArray images = batches(new long[]{20, 6, 6, 2}, 1, 8, DataType.FLOAT).get(0).getFeatures();
        Compare.assertClose(cnn.output(images), g.network().output(images), 1e-5, 1e-6, "cnn folded");
    }

    private static ComputationGraph graph(org.deeplearning4j.nn.conf.layers.Layer norm) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(5)
                .updater(new Adam(0.02)).graphBuilder().addInputs("in")
                .addLayer("dense", new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build(), "in")
                .addLayer("bn", norm, "dense")
                .addLayer("act", new ActivationLayer(Activation.TANH), "bn")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build(), "act")
                .setOutputs("out").setInputTypes(InputType.feedForward(4)).build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        for (DataSet d : batches(new long[]{8, 4}, 10, 11, DataType.DOUBLE)) {
            g.fit(d);
        }
        return g;
    }

    @Test
    void foldingAndPopulationPassWorkOnAComputationGraph() {
        ComputationGraph g = graph(new BatchNorm.Builder().build());
        PopulationStatistics.estimate(g, new ListDataSetIterator<>(batches(new long[]{8, 4}, 4, 12, DataType.DOUBLE), 1));
        InferenceFolding.Result<ComputationGraph> f = InferenceFolding.fold(g);
        assertEquals(List.of("bn"), f.folded());
        INDArray x = batches(new long[]{30, 4}, 1, 13, DataType.DOUBLE).get(0).getFeatures();
        Compare.assertClose(g.outputSingle(x), f.network().outputSingle(x), 1e-10, 1e-12, "graph folded");
    }

    @Test
    void conversionFromATrainedBuiltInNetworkAndBackKeepsOutputsIdentical() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(6)
                .updater(new Adam(0.02)).list()
                .layer(new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).hasBias(false).build())
                .layer(new BatchNormalization.Builder().build())              // useLogStd: true, DL4J's default
                .layer(new ActivationLayer(Activation.TANH))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(4)).build();
        MultiLayerNetwork builtIn = new MultiLayerNetwork(conf);
        builtIn.init();
        for (DataSet d : batches(new long[]{8, 4}, 12, 21, DataType.DOUBLE)) {
            builtIn.fit(d);
        }
        MultiLayerNetwork ours = BatchNormConversion.toOurs(builtIn);
        assertTrue(ours.getLayer(1).conf().getLayer() instanceof BatchNorm);
        DataSet probe = batches(new long[]{16, 4}, 1, 22, DataType.DOUBLE).get(0);
        Compare.assertClose(builtIn.output(probe.getFeatures()), ours.output(probe.getFeatures()), 1e-12, 1e-14, "inference");
        Compare.assertClose(builtIn.output(probe.getFeatures(), true), ours.output(probe.getFeatures(), true), 1e-12, 1e-14, "training mode");
        builtIn.fit(probe);
        ours.fit(probe);
        Compare.assertClose(builtIn.output(probe.getFeatures()), ours.output(probe.getFeatures()), 1e-10, 1e-12, "after one more step");

        MultiLayerNetwork back = BatchNormConversion.toBuiltIn(ours);
        assertTrue(back.getLayer(1).conf().getLayer() instanceof BatchNormalization);
        Compare.assertClose(ours.output(probe.getFeatures()), back.output(probe.getFeatures()), 1e-12, 1e-14, "back");

        ComputationGraph graphBuiltIn = graph(new BatchNormalization.Builder().build());
        ComputationGraph graphOurs = BatchNormConversion.toOurs(graphBuiltIn);
        Compare.assertClose(graphBuiltIn.outputSingle(probe.getFeatures()), graphOurs.outputSingle(probe.getFeatures()), 1e-12, 1e-14, "graph");
        Compare.assertClose(BatchNormConversion.toBuiltIn(graphOurs).outputSingle(probe.getFeatures()),
                graphOurs.outputSingle(probe.getFeatures()), 1e-12, 1e-14, "graph back");
    }

    @Test
    void covariateShiftMonitorRecordsPercentilesOfTheLayerInput(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = denseNet(DataType.FLOAT);
        INDArray probe = batches(new long[]{101, 4}, 1, 30, DataType.FLOAT).get(0).getFeatures();
        CovariateShiftMonitor monitor = new CovariateShiftMonitor.Builder().probe(probe).every(2).layers("2").unit(1).build();
        net.setListeners(monitor);
        for (DataSet d : batches(new long[]{8, 4}, 4, 31, DataType.FLOAT)) {
            net.fit(d);
        }
        assertEquals(2, monitor.records().size(), "iterations 10 and 12 of this network");
        monitor.record(net, 99);
        CovariateShiftMonitor.Record last = monitor.records().get(2);
        List<INDArray> acts = net.feedForwardToLayer(1, probe, false);
        double[] column = acts.get(2).getColumn(1).dup().castTo(DataType.DOUBLE).toDoubleVector();
        java.util.Arrays.sort(column);
        assertEquals(column[50], last.p50(), 1e-6, "median of 101 values is the 51st");
        assertEquals(column[15], last.p15(), 1e-6, "15th percentile of 101 values is the 16th");
        Path csv = dir.resolve("shift.csv");
        monitor.writeCsv(csv);
        assertEquals(4, Files.readAllLines(csv).size());
        monitor.saveChart(dir.resolve("shift.png"), "2", "input of layer 2");
        assertTrue(Files.size(dir.resolve("shift.png")) > 1000);
    }
}
