package io.github.dl4jbn;

import io.github.dl4jbn.layers.BatchNormLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.List;

/**
 * Freezes or thaws the running statistics of every BatchNorm layer of a network, for fine-tuning: while frozen,
 * training normalizes with the running statistics (Algorithm 2, line 11), backpropagates through that affine map
 * only, and never moves them, while gamma and beta go on learning (Keras's {@code trainable = False} on its
 * BatchNormalization layers, PyTorch's {@code freeze_bn_stats}). The switch is each layer's
 * {@link io.github.dl4jbn.conf.BatchNorm#setFreezeStatistics(boolean)}, part of the configuration, so JSON and
 * {@code ModelSerializer} keep it. It acts from each layer's next forward pass.
 *
 * <pre>{@code
 * FrozenStatistics.freeze(net);      // fine-tune on small batches with the statistics of the large ones
 * net.fit(smallBatches);
 * }</pre>
 */
public final class FrozenStatistics {

    private FrozenStatistics() {
    }

    /**
     * Freezes every BatchNorm layer's running statistics (layers without any, trackRunningStatistics false, are
     * left alone).
     *
     * @param net a network
     * @return the layers frozen
     * @throws org.deeplearning4j.exception.DL4JInvalidConfigException if a layer trains with renorm; then no
     *                                                                 layer changes
     */
    public static int freeze(MultiLayerNetwork net) {
        return set(PopulationStatistics.layers(net), true);
    }

    /**
     * Freezes every BatchNorm layer's running statistics of a graph (see {@link #freeze(MultiLayerNetwork)}).
     *
     * @param graph a graph
     * @return the layers frozen
     */
    public static int freeze(ComputationGraph graph) {
        return set(PopulationStatistics.layers(graph), true);
    }

    /**
     * Thaws every BatchNorm layer's running statistics: training moves them again.
     *
     * @param net a network
     * @return the layers thawed
     */
    public static int thaw(MultiLayerNetwork net) {
        return set(PopulationStatistics.layers(net), false);
    }

    /**
     * Thaws every BatchNorm layer's running statistics of a graph.
     *
     * @param graph a graph
     * @return the layers thawed
     */
    public static int thaw(ComputationGraph graph) {
        return set(PopulationStatistics.layers(graph), false);
    }

    private static int set(List<BatchNormLayer> layers, boolean freeze) {
        boolean[] before = new boolean[layers.size()];
        for (int i = 0; i < layers.size(); i++) {
            before[i] = layers.get(i).isFreezeStatistics();
        }
        try {
            for (BatchNormLayer layer : layers) {
                layer.setFreezeStatistics(freeze);
            }
        } catch (RuntimeException e) {
            for (int i = 0; i < layers.size(); i++) {                 // all or none
                layers.get(i).setFreezeStatistics(before[i]);   // a state it was valid in
            }
            throw e;
        }
        return layers.size();
    }
}
