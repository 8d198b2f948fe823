package io.github.dl4jbn;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The covariate-shift monitor: percentiles of a layer input against a sort of the same values, and its
 * CSV; with no XChart on the classpath (core does not depend on it).
 */
@org.junit.jupiter.api.Tag("once")   // kernel-agnostic: the default run only (docs/design.md, which tests run where)
class CovariateShiftMonitorTest {

    @Test
    void covariateShiftMonitorRecordsPercentilesOfTheLayerInput(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = TrainedNets.denseNet(DataType.FLOAT);
        INDArray probe = TrainedNets.batches(new long[]{101, 4}, 1, 30, DataType.FLOAT).get(0).getFeatures();
        CovariateShiftMonitor monitor = new CovariateShiftMonitor.Builder().probe(probe).every(2).layers("2").unit(1).build();
        net.setListeners(monitor);
        for (DataSet d : TrainedNets.batches(new long[]{8, 4}, 4, 31, DataType.FLOAT)) {
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
        List<String> lines = Files.readAllLines(csv);
        assertEquals(4, lines.size());
        assertEquals("iteration,layer,p15,p50,p85,mean,std", lines.get(0));
        assertTrue(lines.get(3).startsWith("99,2,"), lines.get(3));
    }

    /** Core's test classpath is a user's without XChart: the monitor above ran without it. */
    @Test
    void xchartIsNotOnCoresClasspath() {
        assertThrows(ClassNotFoundException.class, () -> Class.forName("org.knowm.xchart.XYChart"));
    }
}
