package io.github.dl4jbn.spark;

import io.github.dl4jbn.PopulationStatistics;
import io.github.dl4jbn.layers.BatchNormLayer;
import io.github.dl4jbn.layers.PopulationAverage;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.io.Serializable;
import java.util.Collections;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Algorithm 2's population statistics (steps 8-11) computed on a Spark cluster: {@link PopulationStatistics} with
 * the batches spread over the executors. For each BatchNorm layer, in network order, the driver broadcasts the
 * network, every partition averages the batch mean and unbiased batch variance of the layer's input over its own
 * mini-batches ({@link PopulationAverage}), the partial averages are merged, and the driver stores the result
 * before the next layer's pass. The outcome equals {@code PopulationStatistics.estimate} over the same batches.
 *
 * <p>Needed after gradient-sharing training ({@code SharedTrainingMaster}): the driver's network is updated only
 * through the shared, quantized updates, and running statistics have none, so they stay at their initial values.
 * Useful after any training, to replace moving averages by the exact population statistics. Each element of the
 * RDD is one mini-batch; cache the RDD, it is read once per BatchNorm layer.
 *
 * <pre>{@code
 * sparkNet.fit(trainingData);
 * SparkPopulationStatistics.estimate(sparkNet, trainingData);   // sparkNet.getNetwork() is ready for inference
 * }</pre>
 */
public final class SparkPopulationStatistics {

    private SparkPopulationStatistics() {
    }

    /**
     * Estimates the population statistics of every BatchNorm layer of the network a SparkDl4jMultiLayer trains.
     *
     * @param net      the Spark network; its driver-side network is updated
     * @param training training mini-batches, one per element
     * @return the number of batches averaged per layer
     */
    public static long estimate(SparkDl4jMultiLayer net, JavaRDD<DataSet> training) {
        MultiLayerNetwork driver = net.getNetwork();
        String json = driver.getLayerWiseConfigurations().toJson();
        return run(net.getSparkContext(), training, PopulationStatistics.layers(driver), driver::params,
                (conf, params, layer) -> {
                    MultiLayerNetwork replica = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(conf));
                    replica.init(params, false);
                    return new Replica(PopulationStatistics.layers(replica).get(layer),
                            d -> replica.output(d.getFeatures(), false, d.getFeaturesMaskArray(), null));
                }, json);
    }

    /**
     * Estimates the population statistics of every BatchNorm layer of the graph a SparkComputationGraph trains
     * (a graph with one input).
     *
     * @param graph    the Spark graph; its driver-side graph is updated
     * @param training training mini-batches, one per element
     * @return the number of batches averaged per layer
     */
    public static long estimate(SparkComputationGraph graph, JavaRDD<DataSet> training) {
        ComputationGraph driver = graph.getNetwork();
        String json = driver.getConfiguration().toJson();
        return run(graph.getSparkContext(), training, PopulationStatistics.layers(driver), driver::params,
                (conf, params, layer) -> {
                    ComputationGraph replica = new ComputationGraph(ComputationGraphConfiguration.fromJson(conf));
                    replica.init(params, false);
                    return new Replica(PopulationStatistics.layers(replica).get(layer),
                            d -> replica.output(false, new INDArray[]{d.getFeatures()},
                                    d.getFeaturesMaskArray() == null ? null : new INDArray[]{d.getFeaturesMaskArray()}));
                }, json);
    }

    /** A network rebuilt on an executor, the BatchNorm layer being estimated, and its inference forward. */
    private record Replica(BatchNormLayer layer, Consumer<DataSet> forward) {
    }

    /** Rebuilds the network on an executor from its JSON and parameters; serializable, as Spark requires. */
    @FunctionalInterface
    private interface ReplicaFactory extends Serializable {
        Replica create(String json, INDArray params, int layer);
    }

    /** One pass over the RDD per layer, through PopulationStatistics' layer-by-layer driver (restores on failure). */
    private static long run(JavaSparkContext sc, JavaRDD<DataSet> training, List<BatchNormLayer> layers,
                            Supplier<INDArray> params, ReplicaFactory factory, String json) {
        return PopulationStatistics.estimate(layers, i -> collect(sc, training, factory, json, params.get(), i));
    }

    /** Algorithm 2, lines 9-10, for one layer: partial averages per partition, merged. */
    private static PopulationAverage collect(JavaSparkContext sc, JavaRDD<DataSet> training, ReplicaFactory factory,
                                             String json, INDArray params, int layer) {
        Broadcast<String> conf = sc.broadcast(json);
        Broadcast<INDArray> weights = sc.broadcast(params.dup());
        try {
            return training.mapPartitions(batches -> {
                if (!batches.hasNext()) {
                    return Collections.<PopulationAverage>emptyIterator();
                }
                Replica replica = factory.create(conf.value(), weights.value().dup(), layer);
                replica.layer().startPopulationAverage();
                while (batches.hasNext()) {
                    replica.forward().accept(batches.next());
                }
                return Collections.singletonList(replica.layer().finishPopulationAverage(false)).iterator();
            }).fold(new PopulationAverage(), PopulationAverage::merge);
        } finally {
            conf.destroy();
            weights.destroy();
        }
    }
}
