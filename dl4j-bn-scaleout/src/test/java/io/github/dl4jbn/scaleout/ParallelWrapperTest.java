package io.github.dl4jbn.scaleout;

import io.github.dl4jbn.PopulationStatistics;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.deeplearning4j.parallelism.ParallelWrapper.TrainingMode;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our layer under DL4J's ParallelWrapper (2 workers in one JVM), in both training modes, against a single-process
 * run on the same batches (tolerances in {@link Experiment}).
 *
 * <p>What each mode does to the running statistics. AVERAGING: the statistics are parameters, so DL4J averages
 * them with the weights after every {@code averagingFrequency} rounds; each worker's moving average covers its own
 * batches, the average of the two covers both. SHARED_GRADIENTS: only updates travel, threshold-encoded; ours are
 * zero for the statistics (the layer writes them in its own forward pass), so nothing quantizes them, and each
 * worker keeps a moving average of its own batches. The network handed back is worker 0's (DL4J trains the original
 * model on worker 0), so its statistics are the moving average over every second batch, which covers the same
 * window length of recent examples as a single process's. PopulationStatistics.estimate afterwards replaces them
 * with the exact population statistics (Algorithm 2). DL4J's layer sends its statistics as pseudo-gradients, which
 * the encoding quantizes to plus or minus the threshold: its statistics are wrong, recorded below.
 *
 * <p>DL4J's gradient-sharing accumulator has been seen to deadlock on a third {@code fit()} call of one wrapper:
 * every run here is one {@code fit()} over a multi-epoch iterator, under a preemptive timeout.
 */
class ParallelWrapperTest {

    private static final Duration LIMIT = Duration.ofMinutes(3);

    static MultiLayerNetwork parallel(boolean ours, TrainingMode mode, int epochs) {
        MultiLayerNetwork net = Experiment.network(ours);
        ParallelWrapper wrapper = new ParallelWrapper.Builder<>(net).workers(2).prefetchBuffer(4)
                .averagingFrequency(1).trainingMode(mode).build();
        try {
            assertTimeoutPreemptively(LIMIT, () -> wrapper.fit(Experiment.epochs(epochs)), mode + " fit");
        } finally {
            wrapper.shutdown();
        }
        return net;
    }

    @Test
    void parameterAveragingAveragesOurStatisticsWithTheWeights() {
        MultiLayerNetwork single = Experiment.singleProcess(5);
        MultiLayerNetwork averaged = parallel(true, TrainingMode.AVERAGING, 5);
        Experiment.assertStatisticsRight("single process", single);
        Experiment.assertStatisticsRight("ParallelWrapper AVERAGING", averaged);
        Experiment.assertAccuracyMatches("ParallelWrapper AVERAGING", averaged, single);
    }

    @Test
    void gradientSharingLeavesOurStatisticsRightAndThePopulationPassMakesThemExact() {
        // gradient sharing converges more slowly here than averaging: 15 epochs for both runs
        MultiLayerNetwork single = Experiment.singleProcess(15);
        MultiLayerNetwork shared = parallel(true, TrainingMode.SHARED_GRADIENTS, 15);
        Experiment.assertStatisticsRight("ParallelWrapper SHARED_GRADIENTS", shared);
        Experiment.assertAccuracyMatches("ParallelWrapper SHARED_GRADIENTS", shared, single);

        MultiLayerNetwork exact = shared.clone();
        PopulationStatistics.estimate(exact, new ExistingDataSetIterator(Experiment.TRAIN));
        Statistics data = Statistics.ofData(Experiment.TRAIN);
        Statistics estimated = Statistics.of(exact);
        // the input layer's population statistics are the data's: E_B[m/(m-1) var_B] vs the pooled variance
        assertTrue(estimated.meanError(data, 0) < 1e-5, "input mean after the population pass");
        assertTrue(estimated.varError(data, 0) < 0.02, "input variance after the population pass");
        Experiment.assertAccuracyMatches("SHARED_GRADIENTS + population pass", exact, single);
    }

    @Test
    void gradientSharingRuinsTheBuiltInLayersStatistics() {
        MultiLayerNetwork shared = parallel(false, TrainingMode.SHARED_GRADIENTS, 5);
        Statistics running = Statistics.of(shared);
        Statistics data = Statistics.ofData(Experiment.TRAIN);
        double accuracy = Experiment.accuracy(shared);
        System.out.printf("DL4J's layer, SHARED_GRADIENTS: input layer worst mean error %.3f sd, variance error %.3f,"
                + " accuracy %.4f%n", running.meanError(data, 0), running.varError(data, 0), accuracy);
        // recorded defect: the quantized pseudo-gradients leave the input statistics far from the data's
        assertTrue(running.meanError(data, 0) > 5 * Experiment.MEAN_BOUND_SD, "built-in mean error");
    }
}
