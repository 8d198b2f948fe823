package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.VarianceEstimate;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Swaps DL4J's built-in {@link BatchNormalization} layers for this project's {@link BatchNorm} and back, in
 * configurations and in trained networks. Converted layers keep name, channels, eps, decay, locked gamma/beta,
 * data format, updater and gradient normalization; trained networks keep every parameter (the built-in
 * layer's {@code log10stdev} storage becomes a variance, {@code var = 10^(2 log10stdev)}), the updater state
 * when its layout allows, and the iteration count. Outputs are identical after the swap, in inference and in
 * training mode. Towards ours the running variance keeps DL4J's {@link VarianceEstimate#BIASED} convention
 * unless another estimate is asked for, and a locked gamma/beta becomes {@code center(false), scale(false)}.
 * Towards the built-in layer, options it cannot express are refused with an error naming the layer: an
 * activation, renorm, ghost batches, only one of center and scale, no running statistics, frozen statistics.
 */
public final class BatchNormConversion {

    private BatchNormConversion() {
    }

    /**
     * @param conf the configuration to convert; it is not changed
     * @return the configuration with every built-in BatchNormalization replaced by a BIASED BatchNorm
     */
    public static MultiLayerConfiguration toOurs(MultiLayerConfiguration conf) {
        return convert(conf, l -> l instanceof BatchNormalization ? ours((BatchNormalization) l, VarianceEstimate.BIASED) : l);
    }

    /**
     * @param conf the configuration to convert; it is not changed
     * @return the configuration with every BatchNorm replaced by a built-in BatchNormalization (useLogStd false)
     */
    public static MultiLayerConfiguration toBuiltIn(MultiLayerConfiguration conf) {
        return convert(conf, l -> l instanceof BatchNorm ? builtIn((BatchNorm) l) : l);
    }

    /**
     * @param conf the configuration to convert; it is not changed
     * @return the graph configuration with every built-in BatchNormalization replaced by a BIASED BatchNorm
     */
    public static ComputationGraphConfiguration toOurs(ComputationGraphConfiguration conf) {
        return convert(conf, l -> l instanceof BatchNormalization ? ours((BatchNormalization) l, VarianceEstimate.BIASED) : l);
    }

    /**
     * @param conf the configuration to convert; it is not changed
     * @return the graph configuration with every BatchNorm replaced by a built-in BatchNormalization
     */
    public static ComputationGraphConfiguration toBuiltIn(ComputationGraphConfiguration conf) {
        return convert(conf, l -> l instanceof BatchNorm ? builtIn((BatchNorm) l) : l);
    }

    /**
     * @param net the trained network; it is not changed
     * @return a new network with our BatchNorm in place of the built-in layer, parameters carried over
     */
    public static MultiLayerNetwork toOurs(MultiLayerNetwork net) {
        return copy(net, toOurs(net.getLayerWiseConfigurations()));
    }

    /**
     * @param net the trained network; it is not changed
     * @return a new network with the built-in layer in place of our BatchNorm, parameters carried over
     */
    public static MultiLayerNetwork toBuiltIn(MultiLayerNetwork net) {
        return copy(net, toBuiltIn(net.getLayerWiseConfigurations()));
    }

    /**
     * @param graph the trained graph; it is not changed
     * @return a new graph with our BatchNorm in place of the built-in layer, parameters carried over
     */
    public static ComputationGraph toOurs(ComputationGraph graph) {
        return copy(graph, toOurs(graph.getConfiguration()));
    }

    /**
     * @param graph the trained graph; it is not changed
     * @return a new graph with the built-in layer in place of our BatchNorm, parameters carried over
     */
    public static ComputationGraph toBuiltIn(ComputationGraph graph) {
        return copy(graph, toBuiltIn(graph.getConfiguration()));
    }

    static BatchNorm ours(BatchNormalization b, VarianceEstimate estimate) {
        BatchNorm bn = new BatchNorm.Builder().name(b.getLayerName()).nIn(b.getNIn()).nOut(b.getNOut())
                .eps(b.getEps()).decay(b.getDecay()).varianceEstimate(estimate)
                .lockGammaBeta(b.isLockGammaBeta()).gamma(b.getGamma()).beta(b.getBeta())
                .dataFormat(b.getCnn2DFormat()).build();
        carryTraining(b, bn);
        return bn;
    }

    static BatchNormalization builtIn(BatchNorm b) {
        if (!(b.getActivationFn() instanceof ActivationIdentity)) {
            throw new IllegalArgumentException("BatchNorm \"" + b.getLayerName() + "\" applies " + b.getActivationFn()
                    + ", which DL4J's BatchNormalization would ignore: move it to an ActivationLayer first");
        }
        if (b.isCenter() != b.isScale()) {
            throw new IllegalArgumentException("BatchNorm \"" + b.getLayerName() + "\" learns only "
                    + (b.isScale() ? "gamma (center(false))" : "beta (scale(false))") + ", which DL4J's BatchNormalization"
                    + " cannot express: it learns both or locks both (lockGammaBeta); expected center == scale");
        }
        if (!b.isTrackRunningStatistics()) {
            throw new IllegalArgumentException("BatchNorm \"" + b.getLayerName() + "\" has trackRunningStatistics(false)"
                    + ": it normalizes with each batch's statistics at inference too, and DL4J's BatchNormalization always"
                    + " uses running statistics there, so it has none to carry; expected running statistics");
        }
        if (b.isFreezeStatistics()) {
            throw new IllegalArgumentException("BatchNorm \"" + b.getLayerName() + "\" has freezeStatistics(true), which"
                    + " DL4J's BatchNormalization cannot do: inference would be the same, training would not. Thaw it"
                    + " (setFreezeStatistics(false)) first, or fold the network for inference (InferenceFolding)");
        }
        if (b.getRenorm() != null || b.getVirtualBatchSize() != 0) {
            throw new IllegalArgumentException("BatchNorm \"" + b.getLayerName() + "\" trains with "
                    + (b.getRenorm() != null ? b.getRenorm() : "") + (b.getRenorm() != null && b.getVirtualBatchSize() != 0 ? " and " : "")
                    + (b.getVirtualBatchSize() != 0 ? "ghost batches of " + b.getVirtualBatchSize() : "")
                    + ", which DL4J's BatchNormalization cannot do: inference would be the same, training would not."
                    + " Fold the network for inference instead (InferenceFolding)");
        }
        BatchNormalization bn = new BatchNormalization.Builder().name(b.getLayerName()).nIn(b.getNIn()).nOut(b.getNOut())
                .eps(b.getEps()).decay(b.getDecay()).useLogStd(false)
                .lockGammaBeta(b.isLockGammaBeta()).gamma(b.getGamma()).beta(b.getBeta())
                .dataFormat(b.getCnn2dFormat()).build();
        carryTraining(b, bn);
        return bn;
    }

    private static void carryTraining(BaseLayer from, BaseLayer to) {
        to.setIUpdater(from.getIUpdater());
        to.setBiasUpdater(from.getBiasUpdater());
        to.setGradientNormalization(from.getGradientNormalization());
        to.setGradientNormalizationThreshold(from.getGradientNormalizationThreshold());
        to.setWeightInitFn(from.getWeightInitFn());
    }

    private static MultiLayerConfiguration convert(MultiLayerConfiguration conf, UnaryOperator<org.deeplearning4j.nn.conf.layers.Layer> f) {
        MultiLayerConfiguration out = conf.clone();
        for (NeuralNetConfiguration c : out.getConfs()) {
            c.setLayer(f.apply(c.getLayer()));
        }
        return out;
    }

    private static ComputationGraphConfiguration convert(ComputationGraphConfiguration conf, UnaryOperator<org.deeplearning4j.nn.conf.layers.Layer> f) {
        ComputationGraphConfiguration out = conf.clone();
        for (GraphVertex v : out.getVertices().values()) {
            if (v instanceof LayerVertex) {
                NeuralNetConfiguration c = ((LayerVertex) v).getLayerConf();
                c.setLayer(f.apply(c.getLayer()));
            }
        }
        return out;
    }

    private static MultiLayerNetwork copy(MultiLayerNetwork from, MultiLayerConfiguration conf) {
        MultiLayerNetwork to = new MultiLayerNetwork(conf);
        to.init();
        for (int i = 0; i < from.getnLayers(); i++) {
            copyParams(from.getLayer(i), to.getLayer(i));
        }
        copyUpdaterState(from.getUpdater() == null ? null : from.getUpdater().getStateViewArray(),
                to.getUpdater() == null ? null : to.getUpdater().getStateViewArray());
        return to;
    }

    private static ComputationGraph copy(ComputationGraph from, ComputationGraphConfiguration conf) {
        ComputationGraph to = new ComputationGraph(conf);
        to.init();
        for (Layer l : from.getLayers()) {
            copyParams(l, to.getLayer(l.conf().getLayer().getLayerName()));
        }
        copyUpdaterState(from.getUpdater() == null ? null : from.getUpdater().getStateViewArray(),
                to.getUpdater() == null ? null : to.getUpdater().getStateViewArray());
        return to;
    }

    private static void copyUpdaterState(INDArray from, INDArray to) {
        if (from != null && to != null && from.length() == to.length()) {
            to.assign(from);                                        // same blocks in the same order
        }
    }

    private static void copyParams(Layer from, Layer to) {
        Map<String, INDArray> source = from.paramTable();
        if (from.conf().getLayer() instanceof BatchNormalization && to.conf().getLayer() instanceof BatchNorm) {
            for (String key : new String[]{BatchNormParamInitializer.GAMMA, BatchNormParamInitializer.BETA, BatchNormParamInitializer.MEAN}) {
                if (source.containsKey(key)) {
                    to.setParam(key, source.get(key));
                }
            }
            INDArray log10Std = source.get(BatchNormalizationParamInitializer.GLOBAL_LOG_STD);
            INDArray var = log10Std != null
                    ? Transforms.exp(log10Std.mul(2 * Math.log(10)), false)   // var = (10^log10std)^2
                    : source.get(BatchNormalizationParamInitializer.GLOBAL_VAR);
            to.setParam(BatchNormParamInitializer.VAR, var);
            return;
        }
        if (from.conf().getLayer() instanceof BatchNorm && to.conf().getLayer() instanceof BatchNormalization) {
            for (String key : new String[]{BatchNormParamInitializer.GAMMA, BatchNormParamInitializer.BETA,
                    BatchNormParamInitializer.MEAN, BatchNormParamInitializer.VAR}) {
                if (source.containsKey(key)) {
                    to.setParam(key, source.get(key));
                }
            }
            return;
        }
        if (from.numParams() > 0) {
            to.setParams(from.params());
        }
    }
}
