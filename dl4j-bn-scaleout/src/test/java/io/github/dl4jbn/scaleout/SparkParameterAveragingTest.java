package io.github.dl4jbn.scaleout;

import io.github.dl4jbn.Compare;
import io.github.dl4jbn.Nets;
import io.github.dl4jbn.PopulationStatistics;
import io.github.dl4jbn.spark.SparkPopulationStatistics;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our layer on Spark local[2] with ParameterAveragingTrainingMaster: the running statistics are parameters, so
 * they are averaged with the weights after every averaging round, and come out as right as a single process's.
 * Then the distributed population pass, checked against the single-machine one.
 */
class SparkParameterAveragingTest {

    @Test
    void parameterAveragingAveragesOurStatisticsAndTheDistributedPopulationPassMatchesTheLocalOne() {
        MultiLayerNetwork single = Experiment.singleProcess(5);
        try (JavaSparkContext sc = LocalSpark.context()) {
            JavaRDD<DataSet> training = sc.parallelize(Experiment.TRAIN, 2).cache();
            ParameterAveragingTrainingMaster master = new ParameterAveragingTrainingMaster.Builder(Blobs.BATCH)
                    .batchSizePerWorker(Blobs.BATCH).averagingFrequency(1).workerPrefetchNumBatches(0).build();
            SparkDl4jMultiLayer spark = new SparkDl4jMultiLayer(sc, Experiment.network(true), master);
            for (int epoch = 0; epoch < 5; epoch++) {
                spark.fit(training);
            }
            MultiLayerNetwork trained = spark.getNetwork();
            Experiment.assertStatisticsRight("Spark parameter averaging", trained);
            Experiment.assertAccuracyMatches("Spark parameter averaging", trained, single);

            MultiLayerNetwork local = trained.clone();
            PopulationStatistics.estimate(local, new ExistingDataSetIterator(Experiment.TRAIN));
            long batches = SparkPopulationStatistics.estimate(spark, training);
            assertEquals(Experiment.TRAIN.size(), batches);
            Statistics distributed = Statistics.of(spark.getNetwork());
            Statistics expected = Statistics.of(local);
            for (int l = 0; l < expected.layers(); l++) {
                // same batches, same float activations; only the order of the double sums differs
                assertTrue(distributed.meanError(expected, l) < 1e-9, "layer " + l + " mean");
                assertTrue(distributed.varError(expected, l) < 1e-9, "layer " + l + " variance");
            }
            assertEquals(trained.getLayer(1).params(), local.getLayer(1).params(), "weights untouched");

            // the same pass on a SparkComputationGraph holding the same trained network
            SparkComputationGraph graph = new SparkComputationGraph(sc, trained.toComputationGraph(), master);
            SparkPopulationStatistics.estimate(graph, training);
            for (int index : new int[]{0, 2}) {
                String name = String.valueOf(index);                   // toComputationGraph names layers by index
                Compare.assertClose(local.getLayer(index).getParam("mean").data().asDouble(),
                        graph.getNetwork().getLayer(name).getParam("mean").data().asDouble(), 1e-9, 1e-12, name + " mean");
                Compare.assertClose(local.getLayer(index).getParam("var").data().asDouble(),
                        graph.getNetwork().getLayer(name).getParam("var").data().asDouble(), 1e-9, 1e-12, name + " var");
            }

            // a failed pass (wrong feature count on the executors) leaves the driver's network as it was
            INDArray before = trained.params().dup();
            DataSet wrong = new DataSet(Nd4j.rand(DataType.FLOAT, Blobs.BATCH, Blobs.FEATURES - 1),
                    Experiment.TRAIN.get(0).getLabels());
            assertThrows(Exception.class, () -> SparkPopulationStatistics.estimate(spark, sc.parallelize(List.of(wrong), 1)));
            assertEquals(before, trained.params(), "parameters after a failed pass");
        }
    }
}
