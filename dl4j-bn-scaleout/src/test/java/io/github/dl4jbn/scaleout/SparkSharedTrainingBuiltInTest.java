package io.github.dl4jbn.scaleout;

import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Recorded defect, DL4J's layer on Spark local[2] with SharedTrainingMaster: its running statistics travel as
 * pseudo-gradients through the threshold encoding, so the driver's statistics move in quantized steps and end far
 * from the data's. It takes two workers sharing: with {@code workersPerNode(1)} in local mode there is no one to
 * share with, and its statistics came out right (0.07 sd). (A class of its own: one parameter server per JVM.)
 */
class SparkSharedTrainingBuiltInTest {

    @Test
    void gradientSharingRuinsTheBuiltInLayersStatistics() {
        try (JavaSparkContext sc = LocalSpark.context()) {
            SparkDl4jMultiLayer spark = new SparkDl4jMultiLayer(sc, Experiment.network(false), LocalSpark.sharedTrainingMaster());
            assertTimeoutPreemptively(Duration.ofMinutes(3),
                    () -> spark.fit(sc.parallelize(Experiment.repeated(5), 2)), "SharedTrainingMaster fit");
            MultiLayerNetwork trained = spark.getNetwork();
            Statistics running = Statistics.of(trained);
            Statistics data = Statistics.ofData(Experiment.TRAIN);
            System.out.printf("DL4J's layer, Spark SharedTrainingMaster: input layer worst mean error %.3f sd,"
                            + " variance error %.3f, accuracy %.4f%n", running.meanError(data, 0), running.varError(data, 0),
                    Experiment.accuracy(trained));
            assertTrue(running.meanError(data, 0) > 5 * Experiment.MEAN_BOUND_SD, "built-in mean error");
        } finally {
            LocalSpark.stopParameterServer();   // runs after the context is closed
        }
    }
}
