package io.github.dl4jbn.scaleout;

import io.github.dl4jbn.spark.SparkPopulationStatistics;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Our layer on Spark local[2] with SharedTrainingMaster (gradient sharing through DL4J's parameter server on
 * loopback; two training workers, so there is someone to share with). The driver's network changes only through the shared, threshold-encoded updates; our statistics have
 * none, so after training the driver holds their initial values (mean 0, variance 1), while each executor's copy
 * kept its own moving average, which Spark discards. The distributed population pass sets them from the final
 * weights (Algorithm 2), and they come out as right as a single process's.
 *
 * <p>A second {@code fit()} with one SharedTrainingMaster has been seen to hang in DL4J: one fit over all epochs.
 */
class SparkSharedTrainingTest {

    static final int EPOCHS = 15;

    @Test
    void driverStatisticsNeedThePopulationPassAfterwardsWhichMakesThemRight() {
        MultiLayerNetwork single = Experiment.singleProcess(EPOCHS);
        try (JavaSparkContext sc = LocalSpark.context()) {
            SparkDl4jMultiLayer spark = new SparkDl4jMultiLayer(sc, Experiment.network(true), LocalSpark.sharedTrainingMaster());
            assertTimeoutPreemptively(Duration.ofMinutes(3),
                    () -> spark.fit(sc.parallelize(Experiment.repeated(EPOCHS), 2)), "SharedTrainingMaster fit");
            Statistics untouched = Statistics.of(spark.getNetwork());
            System.out.printf("Spark SharedTrainingMaster: driver statistics after fit: mean %s..., var %s..., accuracy %.4f%n",
                    untouched.means.get(0)[0], untouched.vars.get(0)[0], Experiment.accuracy(spark.getNetwork()));
            for (int l = 0; l < untouched.layers(); l++) {
                assertArrayEquals(new double[untouched.means.get(l).length], untouched.means.get(l), "layer " + l + " initial mean");
            }

            JavaRDD<DataSet> training = sc.parallelize(Experiment.TRAIN, 2).cache();
            SparkPopulationStatistics.estimate(spark, training);
            Experiment.assertStatisticsRight("Spark SharedTrainingMaster + population pass", spark.getNetwork());
            Experiment.assertAccuracyMatches("Spark SharedTrainingMaster + population pass", spark.getNetwork(), single);
        } finally {
            LocalSpark.stopParameterServer();   // runs after the context is closed
        }
    }
}
