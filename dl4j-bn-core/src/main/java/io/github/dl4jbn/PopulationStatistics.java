package io.github.dl4jbn;

import io.github.dl4jbn.layers.BatchNormLayer;
import io.github.dl4jbn.layers.PopulationAverage;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * Algorithm 2 of the paper, steps 8-11, exactly: with every other parameter fixed, run training mini-batches
 * through the network and set each BatchNorm layer's mean to E_B[mu_B] and variance to E_B[m/(m-1) var_B],
 * plain averages over the batches (not moving averages), each batch's Bessel factor taken with its own m. With a
 * fixed m (equal mini-batches, no masks) that is the paper's m/(m-1) E_B[var_B]; where m varies from batch to
 * batch (masked sequences, a short last batch) each batch's unbiased variance counts equally, whatever its m.
 *
 * <p>Layers are estimated one at a time, in network order: a layer's batch statistics are taken with every
 * layer before it already in inference mode with its final population statistics, as the paper's fixed
 * "inference network" implies. So a network with L BatchNorm layers takes L passes over the data. Nothing
 * but the BatchNorm layers' {@code mean}, {@code var} (and {@code batchCount}) changes.
 *
 * <pre>{@code
 * PopulationStatistics.estimate(net, trainIterator);   // then net.output(x) uses the population statistics
 * }</pre>
 *
 * <p>A long pass reports to a {@link Progress} listener; this library draws nothing itself.
 */
public final class PopulationStatistics {

    private static final Logger log = LoggerFactory.getLogger(PopulationStatistics.class);

    /**
     * Hears how a population pass advances, on the thread that runs it: one pass over the training batches per
     * BatchNorm layer. Every method does nothing by default.
     */
    public interface Progress {

        /** A listener that hears nothing. */
        Progress NONE = new Progress() {
        };

        /**
         * A layer's pass begins.
         *
         * @param layer  the layer's number, from 1, in the order the layers are estimated
         * @param layers how many BatchNorm layers the pass estimates
         */
        default void layerStarted(int layer, int layers) {
        }

        /**
         * One more training batch went through the network for the current layer.
         *
         * @param layer   the layer's number, from 1
         * @param batches batches so far in this layer's pass
         */
        default void batchDone(int layer, long batches) {
        }

        /**
         * A layer's pass ended (normally or not).
         *
         * @param layer   the layer's number, from 1
         * @param batches batches the pass went through
         */
        default void layerFinished(int layer, long batches) {
        }
    }

    private PopulationStatistics() {
    }

    /**
     * Estimates the population statistics of every BatchNorm layer of a MultiLayerNetwork.
     *
     * @param net      a trained network
     * @param training training mini-batches (reset before each pass)
     * @return the number of batches averaged per layer
     */
    public static long estimate(MultiLayerNetwork net, DataSetIterator training) {
        return estimate(net, training, Progress.NONE);
    }

    /**
     * Estimates the population statistics of every BatchNorm layer of a MultiLayerNetwork, telling a listener
     * how the pass advances.
     *
     * @param net      a trained network
     * @param training training mini-batches (reset before each pass)
     * @param progress hears each layer's start, batches and end
     * @return the number of batches averaged per layer
     */
    public static long estimate(MultiLayerNetwork net, DataSetIterator training, Progress progress) {
        return run(layers(net), training::reset, progress, step -> {
            while (training.hasNext()) {
                DataSet d = training.next();
                net.output(d.getFeatures(), false, d.getFeaturesMaskArray(), null);
                step.run();
            }
        });
    }

    /**
     * Estimates the population statistics of every BatchNorm layer of a ComputationGraph with one input.
     *
     * @param graph    a trained graph
     * @param training training mini-batches (reset before each pass)
     * @return the number of batches averaged per layer
     */
    public static long estimate(ComputationGraph graph, DataSetIterator training) {
        return estimate(graph, training, Progress.NONE);
    }

    /**
     * Estimates the population statistics of every BatchNorm layer of a ComputationGraph with one input,
     * telling a listener how the pass advances.
     *
     * @param graph    a trained graph
     * @param training training mini-batches (reset before each pass)
     * @param progress hears each layer's start, batches and end
     * @return the number of batches averaged per layer
     */
    public static long estimate(ComputationGraph graph, DataSetIterator training, Progress progress) {
        return run(layers(graph), training::reset, progress, step -> {
            while (training.hasNext()) {
                DataSet d = training.next();
                graph.output(false, new INDArray[]{d.getFeatures()},
                        d.getFeaturesMaskArray() == null ? null : new INDArray[]{d.getFeaturesMaskArray()});
                step.run();
            }
        });
    }

    /**
     * Estimates the population statistics of every BatchNorm layer of a ComputationGraph.
     *
     * @param graph    a trained graph
     * @param training training mini-batches (reset before each pass)
     * @return the number of batches averaged per layer
     */
    public static long estimate(ComputationGraph graph, MultiDataSetIterator training) {
        return estimate(graph, training, Progress.NONE);
    }

    /**
     * Estimates the population statistics of every BatchNorm layer of a ComputationGraph, telling a listener
     * how the pass advances.
     *
     * @param graph    a trained graph
     * @param training training mini-batches (reset before each pass)
     * @param progress hears each layer's start, batches and end
     * @return the number of batches averaged per layer
     */
    public static long estimate(ComputationGraph graph, MultiDataSetIterator training, Progress progress) {
        return run(layers(graph), training::reset, progress, step -> {
            while (training.hasNext()) {
                MultiDataSet d = training.next();
                graph.output(false, d.getFeatures(), d.getFeaturesMaskArrays());
                step.run();
            }
        });
    }

    /**
     * Recalibration: re-estimates every BatchNorm layer's running statistics from unlabeled inputs, with every
     * weight fixed, as {@link #estimate(MultiLayerNetwork, DataSetIterator)} does (Algorithm 2, exact averages;
     * nothing but the statistics changes). The recipes: after averaging weights (stochastic weight averaging,
     * whose averaged weights never saw statistics of their own; PyTorch's {@code swa_utils.update_bn}); after
     * pruning or quantizing a trained network (NNCF's BatchNorm adaptation); and AdaBN (Li et al. 2016), for a
     * new input domain: the target domain's own statistics, from its unlabeled inputs, in place of the
     * training domain's. Frozen layers are recalibrated too (freezing stops training from moving them, not this).
     *
     * @param net       a trained network
     * @param unlabeled input batches (features only, no masks), iterated once per BatchNorm layer
     * @return the number of batches averaged per layer
     */
    public static long recalibrate(MultiLayerNetwork net, Iterable<INDArray> unlabeled) {
        return recalibrate(net, unlabeled, Progress.NONE);
    }

    /**
     * As {@link #recalibrate(MultiLayerNetwork, Iterable)}, telling a listener how the pass advances.
     *
     * @param net       a trained network
     * @param unlabeled input batches, iterated once per BatchNorm layer
     * @param progress  hears each layer's start, batches and end
     * @return the number of batches averaged per layer
     */
    public static long recalibrate(MultiLayerNetwork net, Iterable<INDArray> unlabeled, Progress progress) {
        return run(layers(net), () -> { }, progress, step -> {
            for (INDArray features : unlabeled) {
                net.output(features, false);
                step.run();
            }
        });
    }

    /**
     * Recalibration of a ComputationGraph with one input (see {@link #recalibrate(MultiLayerNetwork, Iterable)}).
     *
     * @param graph     a trained graph
     * @param unlabeled input batches, iterated once per BatchNorm layer
     * @return the number of batches averaged per layer
     */
    public static long recalibrate(ComputationGraph graph, Iterable<INDArray> unlabeled) {
        return run(layers(graph), () -> { }, Progress.NONE, step -> {
            for (INDArray features : unlabeled) {
                graph.output(false, features);
                step.run();
            }
        });
    }

    /**
     * Resets the running statistics of every BatchNorm layer of a network as a new layer has them (mean 0,
     * variance 1, batch count 0), for instance before training on other data or before {@code estimate}.
     *
     * @param net a network
     */
    public static void reset(MultiLayerNetwork net) {
        layers(net).forEach(BatchNormLayer::resetRunningStatistics);
    }

    /**
     * Resets the running statistics of every BatchNorm layer of a graph (see {@link #reset(MultiLayerNetwork)}).
     *
     * @param graph a graph
     */
    public static void reset(ComputationGraph graph) {
        layers(graph).forEach(BatchNormLayer::resetRunningStatistics);
    }

    /**
     * The BatchNorm layers of a network that keep running statistics (frozen ones, and ones in DL4J's frozen
     * wrappers, included), in the order {@code estimate} visits them. A layer with
     * {@code trackRunningStatistics(false)} has none to estimate; it is left out, with a log line.
     *
     * @param net a network
     * @return its BatchNorm layers in network order
     */
    public static List<BatchNormLayer> layers(MultiLayerNetwork net) {
        List<BatchNormLayer> layers = new ArrayList<>();
        for (Layer l : net.getLayers()) {
            addIfBatchNorm(l, layers);
        }
        return layers;
    }

    /**
     * The BatchNorm layers of a graph that keep running statistics (frozen ones included; see
     * {@link #layers(MultiLayerNetwork)}), in topological order, the order {@code estimate} visits them.
     *
     * @param graph a graph
     * @return its BatchNorm layers in topological order
     */
    public static List<BatchNormLayer> layers(ComputationGraph graph) {
        List<BatchNormLayer> layers = new ArrayList<>();
        for (int index : graph.topologicalSortOrder()) {
            if (graph.getVertices()[index].hasLayer()) {
                addIfBatchNorm(graph.getVertices()[index].getLayer(), layers);
            }
        }
        return layers;
    }

    private static void addIfBatchNorm(Layer l, List<BatchNormLayer> to) {
        Layer inner = l;
        if (l instanceof FrozenLayer) {
            inner = ((FrozenLayer) l).getInsideLayer();
        } else if (l instanceof FrozenLayerWithBackprop) {
            inner = ((FrozenLayerWithBackprop) l).getInsideLayer();
        }
        if (inner instanceof BatchNormLayer bn) {
            if (bn.hasRunningStatistics()) {
                to.add(bn);
            } else {
                log.info("PopulationStatistics: skipped BatchNorm {} (layer {}): it has no running statistics"
                        + " (trackRunningStatistics false) and normalizes every batch with its own", bn.conf().getLayer().getLayerName(), bn.getIndex());
            }
        }
    }

    /**
     * Algorithm 2, steps 8-11, layer by layer, whatever collects the batch statistics: for each layer in order,
     * {@code averageOf.apply(i)} returns the average of layer i's batch statistics over the training batches,
     * taken with layers 0..i-1 already holding their population statistics; it is stored before layer i+1. On any
     * failure every layer's parameters are restored as they were. {@code estimate} collects on this machine;
     * dl4j-bn-scaleout's SparkPopulationStatistics collects on a Spark cluster.
     *
     * @param layers    BatchNorm layers in network order, see {@link #layers(MultiLayerNetwork)}
     * @param averageOf the population average of layer i
     * @return the number of batches averaged per layer
     * @throws IllegalArgumentException if a layer's average holds no batches
     */
    public static long estimate(List<BatchNormLayer> layers, IntFunction<PopulationAverage> averageOf) {
        List<INDArray> saved = new ArrayList<>();
        for (BatchNormLayer layer : layers) {
            saved.add(layer.params().dup());
        }
        try {
            long batches = 0;
            for (int i = 0; i < layers.size(); i++) {
                PopulationAverage average = averageOf.apply(i);
                if (average.batches() == 0) {
                    throw new IllegalArgumentException("PopulationStatistics: the training data gave no batches");
                }
                layers.get(i).storePopulationAverage(average);
                batches = average.batches();
                log.debug("BatchNorm {}/{}: population statistics from {} batches", i + 1, layers.size(), batches);
            }
            return batches;
        } catch (RuntimeException e) {
            for (int i = 0; i < layers.size(); i++) {
                layers.get(i).params().assign(saved.get(i));
            }
            throw e;
        }
    }

    /** One local pass per layer over the training batches, told to {@code progress}. */
    private static long run(List<BatchNormLayer> layers, Runnable reset, Progress progress,
                            Consumer<Runnable> pass) {
        return estimate(layers, i -> {
            BatchNormLayer layer = layers.get(i);
            reset.run();
            layer.startPopulationAverage();
            long[] batches = {0};
            progress.layerStarted(i + 1, layers.size());
            try {
                pass.accept(() -> progress.batchDone(i + 1, ++batches[0]));
            } catch (RuntimeException e) {
                layer.finishPopulationAverage(false);                // stop collecting; estimate restores the rest
                throw e;
            } finally {
                progress.layerFinished(i + 1, batches[0]);
            }
            return layer.finishPopulationAverage(false);
        });
    }
}
