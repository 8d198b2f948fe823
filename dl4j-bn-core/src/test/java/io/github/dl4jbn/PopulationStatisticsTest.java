package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.layers.BatchNormLayer;
import io.github.dl4jbn.layers.PopulationAverage;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Algorithm 2's population pass: the exact average of the batch statistics, layer by layer; partial
 * averages merged; a ComputationGraph.
 */
class PopulationStatisticsTest {

    @Test
    void populationPassSetsExactlyTheAverageOfTheBatchStatisticsLayerByLayer() {
        MultiLayerNetwork net = TrainedNets.denseNet(DataType.DOUBLE);
        List<DataSet> data = TrainedNets.batches(new long[]{8, 4}, 5, 2, DataType.DOUBLE);
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
        MultiLayerNetwork net = TrainedNets.denseNet(DataType.DOUBLE);
        List<DataSet> data = TrainedNets.batches(new long[]{8, 4}, 5, 3, DataType.DOUBLE);
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
        Compare.assertClose(whole.getLayer(1).getParam("mean").data().asDouble(), target.getParam("mean").data().asDouble(), 1e-13, 1e-15, "mean");
        Compare.assertClose(whole.getLayer(1).getParam("var").data().asDouble(), target.getParam("var").data().asDouble(), 1e-13, 1e-15, "var");
    }

    @Test
    void foldingAndPopulationPassWorkOnAComputationGraph() {
        ComputationGraph g = TrainedNets.graph(new BatchNorm.Builder().build());
        PopulationStatistics.estimate(g, new ListDataSetIterator<>(TrainedNets.batches(new long[]{8, 4}, 4, 12, DataType.DOUBLE), 1));
        InferenceFolding.Result<ComputationGraph> f = InferenceFolding.fold(g);
        assertEquals(List.of("bn"), f.folded());
        INDArray x = TrainedNets.batches(new long[]{30, 4}, 1, 13, DataType.DOUBLE).get(0).getFeatures();
        Compare.assertClose(g.outputSingle(x), f.network().outputSingle(x), 1e-10, 1e-12, "graph folded");
    }


    /** An average over no batch is a clear error, not a NullPointerException; merging an empty one changes nothing. */
    @Test
    void anEmptyPopulationAverageIsAClearError() {
        PopulationAverage empty = new PopulationAverage();
        IllegalStateException e = assertThrows(IllegalStateException.class, empty::mean);
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("no batch was averaged"), e.getMessage());
        assertThrows(IllegalStateException.class, empty::variance);
        assertEquals(0, new PopulationAverage().merge(empty).batches());
    }
}
