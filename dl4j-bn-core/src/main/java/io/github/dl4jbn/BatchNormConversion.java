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
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
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
 * renorm, ghost batches, only one of center and scale, no running statistics, frozen statistics. An activation on
 * ours becomes an {@link ActivationLayer} after the built-in layer (which ignores its own); towards ours, a
 * following ActivationLayer merges into the layer when asked ({@code toOurs(net, true)}).
 */
public final class BatchNormConversion {

    private BatchNormConversion() {
    }

    /**
     * @param conf the configuration to convert; it is not changed
     * @return the configuration with every built-in BatchNormalization replaced by a BIASED BatchNorm
     */
    public static MultiLayerConfiguration toOurs(MultiLayerConfiguration conf) {
        return toOurs(conf, false);
    }

    /**
     * As {@link #toOurs(MultiLayerConfiguration)}, and on request with each {@link ActivationLayer} that directly
     * follows a built-in layer (no preprocessor, no dropout between) merged into ours as its activation.
     *
     * @param conf             the configuration to convert; it is not changed
     * @param mergeActivations merge a following ActivationLayer into the converted layer
     * @return the converted configuration
     */
    public static MultiLayerConfiguration toOurs(MultiLayerConfiguration conf, boolean mergeActivations) {
        return toOursMerging(conf, mergeActivations).conf();
    }

    /**
     * @param conf the configuration to convert; it is not changed
     * @return the configuration with every BatchNorm replaced by a built-in BatchNormalization (useLogStd false),
     *         followed by an {@link ActivationLayer} where ours applies an activation (the built-in layer ignores
     *         its own)
     */
    public static MultiLayerConfiguration toBuiltIn(MultiLayerConfiguration conf) {
        return toBuiltInSplitting(conf).conf();
    }

    /**
     * @param conf the configuration to convert; it is not changed
     * @return the graph configuration with every built-in BatchNormalization replaced by a BIASED BatchNorm
     */
    public static ComputationGraphConfiguration toOurs(ComputationGraphConfiguration conf) {
        return convert(conf, l -> l instanceof BatchNormalization ? ours((BatchNormalization) l, VarianceEstimate.BIASED) : l);
    }

    /**
     * As {@link #toOurs(ComputationGraphConfiguration)}, and on request with each {@link ActivationLayer} vertex
     * that is the only consumer of a built-in layer (which is no network output) merged into ours: its consumers
     * then read the converted layer's vertex.
     *
     * @param conf             the graph configuration to convert; it is not changed
     * @param mergeActivations merge a following ActivationLayer into the converted layer
     * @return the converted graph configuration
     */
    public static ComputationGraphConfiguration toOurs(ComputationGraphConfiguration conf, boolean mergeActivations) {
        ComputationGraphConfiguration out = toOurs(conf);
        if (!mergeActivations) {
            return out;
        }
        Map<String, GraphVertex> vertices = out.getVertices();
        Map<String, List<String>> inputs = out.getVertexInputs();
        for (String name : new ArrayList<>(vertices.keySet())) {
            if (!(layerOf(vertices.get(name)) instanceof BatchNorm bn) || out.getNetworkOutputs().contains(name)
                    || !(conf.getVertices().get(name) instanceof LayerVertex original)
                    || !(original.getLayerConf().getLayer() instanceof BatchNormalization)) {
                continue;
            }
            List<String> consumers = inputs.entrySet().stream().filter(e -> e.getValue().contains(name))
                    .map(Map.Entry::getKey).toList();
            if (consumers.size() != 1 || !(vertices.get(consumers.get(0)) instanceof LayerVertex act)
                    || !mergeable(act.getLayerConf().getLayer()) || act.getPreProcessor() != null
                    || inputs.get(consumers.get(0)).size() != 1) {
                continue;
            }
            String activation = consumers.get(0);
            bn.setActivationFn(((ActivationLayer) act.getLayerConf().getLayer()).getActivationFn());
            vertices.remove(activation);
            inputs.remove(activation);
            for (List<String> list : inputs.values()) {
                list.replaceAll(v -> v.equals(activation) ? name : v);
            }
            out.getNetworkOutputs().replaceAll(v -> v.equals(activation) ? name : v);
        }
        return out;
    }

    /**
     * @param conf the configuration to convert; it is not changed
     * @return the graph configuration with every BatchNorm replaced by a built-in BatchNormalization, and a
     *         vertex {@code <name>-activation} holding its activation where ours applies one
     */
    public static ComputationGraphConfiguration toBuiltIn(ComputationGraphConfiguration conf) {
        ComputationGraphConfiguration out = conf.clone();
        Map<String, GraphVertex> vertices = out.getVertices();
        Map<String, List<String>> inputs = out.getVertexInputs();
        for (String name : new ArrayList<>(vertices.keySet())) {
            if (!(layerOf(vertices.get(name)) instanceof BatchNorm bn)) {
                continue;
            }
            NeuralNetConfiguration c = ((LayerVertex) vertices.get(name)).getLayerConf();
            c.setLayer(builtIn(bn));
            if (bn.getActivationFn() instanceof ActivationIdentity) {
                continue;
            }
            String activation = name + "-activation";
            if (vertices.containsKey(activation)) {
                throw new IllegalArgumentException("BatchNorm \"" + name + "\": its activation needs a vertex \"" + activation
                        + "\", and the graph has one already; rename it");
            }
            NeuralNetConfiguration actConf = activationConf(c, bn);
            for (List<String> list : inputs.values()) {
                list.replaceAll(v -> v.equals(name) ? activation : v);
            }
            out.getNetworkOutputs().replaceAll(v -> v.equals(name) ? activation : v);
            vertices.put(activation, new LayerVertex(actConf, null));
            inputs.put(activation, new ArrayList<>(List.of(name)));
        }
        return out;
    }

    /**
     * @param net the trained network; it is not changed
     * @return a new network with our BatchNorm in place of the built-in layer, parameters carried over
     */
    public static MultiLayerNetwork toOurs(MultiLayerNetwork net) {
        return toOurs(net, false);
    }

    /**
     * @param net              the trained network; it is not changed
     * @param mergeActivations merge an ActivationLayer that directly follows a built-in layer into ours
     * @return a new network with our BatchNorm in place of the built-in layer, parameters carried over
     */
    public static MultiLayerNetwork toOurs(MultiLayerNetwork net, boolean mergeActivations) {
        return copy(net, toOursMerging(net.getLayerWiseConfigurations(), mergeActivations));
    }

    /**
     * @param net the trained network; it is not changed
     * @return a new network with the built-in layer in place of our BatchNorm, parameters carried over
     */
    public static MultiLayerNetwork toBuiltIn(MultiLayerNetwork net) {
        return copy(net, toBuiltInSplitting(net.getLayerWiseConfigurations()));
    }

    /**
     * @param graph the trained graph; it is not changed
     * @return a new graph with our BatchNorm in place of the built-in layer, parameters carried over
     */
    public static ComputationGraph toOurs(ComputationGraph graph) {
        return copy(graph, toOurs(graph.getConfiguration()));
    }

    /**
     * @param graph            the trained graph; it is not changed
     * @param mergeActivations merge an ActivationLayer vertex that only follows a built-in layer into ours
     * @return a new graph with our BatchNorm in place of the built-in layer, parameters carried over
     */
    public static ComputationGraph toOurs(ComputationGraph graph, boolean mergeActivations) {
        return copy(graph, toOurs(graph.getConfiguration(), mergeActivations));
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

    /** A converted configuration, and for each of its layers the source layer's index (-1: a new ActivationLayer). */
    private record Converted(MultiLayerConfiguration conf, int[] sourceOf) {
    }

    /** Ours for each built-in layer, each followed by its ActivationLayer merged in where asked and possible. */
    private static Converted toOursMerging(MultiLayerConfiguration conf, boolean mergeActivations) {
        return relist(conf, (i, in, pre) -> {
            if (!(in.get(i).getLayer() instanceof BatchNormalization b)) {
                return Step.KEEP;
            }
            BatchNorm ours = ours(b, VarianceEstimate.BIASED);
            in.get(i).setLayer(ours);
            if (mergeActivations && i + 1 < in.size() && mergeable(in.get(i + 1).getLayer()) && !pre.containsKey(i + 1)) {
                ours.setActivationFn(((ActivationLayer) in.get(i + 1).getLayer()).getActivationFn());
                return new Step(2, null);                                // the ActivationLayer is merged
            }
            return Step.KEEP;
        });
    }

    /** The built-in layer for each of ours, followed by an ActivationLayer where ours applies an activation. */
    private static Converted toBuiltInSplitting(MultiLayerConfiguration conf) {
        return relist(conf, (i, in, pre) -> {
            NeuralNetConfiguration c = in.get(i);
            if (!(c.getLayer() instanceof BatchNorm b)) {
                return Step.KEEP;
            }
            c.setLayer(builtIn(b));
            if (b.getActivationFn() instanceof ActivationIdentity) {
                return Step.KEEP;
            }
            return new Step(1, activationConf(c, b));
        });
    }

    /**
     * What converting one layer did: how many source layers the converted one stands for (2: the next merged
     * into it), and a layer to insert after it, or null.
     */
    private record Step(int covered, NeuralNetConfiguration inserted) {
        static final Step KEEP = new Step(1, null);
    }

    /** Converts layer i of a list in place (its preprocessors at hand) and says what it did. */
    private interface Conversion {
        Step apply(int i, List<NeuralNetConfiguration> layers, Map<Integer, InputPreProcessor> preprocessors);
    }

    /**
     * A configuration's layer list rebuilt by a conversion of each layer; preprocessors move with their layers,
     * and {@code sourceOf} maps each new layer to its source.
     */
    private static Converted relist(MultiLayerConfiguration conf, Conversion conversion) {
        MultiLayerConfiguration out = conf.clone();
        List<NeuralNetConfiguration> confs = new ArrayList<>();
        Map<Integer, InputPreProcessor> pre = new HashMap<>();
        List<Integer> sourceOf = new ArrayList<>();
        List<NeuralNetConfiguration> in = out.getConfs();
        Map<Integer, InputPreProcessor> inPre = out.getInputPreProcessors();
        for (int i = 0; i < in.size(); ) {
            if (inPre.containsKey(i)) {
                pre.put(confs.size(), inPre.get(i));
            }
            Step step = conversion.apply(i, in, inPre);
            confs.add(in.get(i));
            sourceOf.add(i);
            if (step.inserted() != null) {
                confs.add(step.inserted());
                sourceOf.add(-1);
            }
            i += step.covered();
        }
        out.setConfs(confs);
        out.setInputPreProcessors(pre);
        return new Converted(out, sourceOf.stream().mapToInt(Integer::intValue).toArray());
    }

    /** An ActivationLayer a BatchNorm can take over: a plain activation, no dropout or constraints of its own. */
    private static boolean mergeable(org.deeplearning4j.nn.conf.layers.Layer layer) {
        return layer instanceof ActivationLayer a && a.getIDropout() == null && a.getActivationFn() != null
                && (a.getConstraints() == null || a.getConstraints().isEmpty());
    }

    /** The ActivationLayer that carries a BatchNorm's activation after DL4J's layer, which would ignore it. */
    private static NeuralNetConfiguration activationConf(NeuralNetConfiguration of, BatchNorm b) {
        NeuralNetConfiguration c = of.clone();
        c.clearVariables();                                              // no parameters of its own
        c.setLayer(new ActivationLayer.Builder().name(b.getLayerName() == null ? null : b.getLayerName() + "-activation")
                .activation(b.getActivationFn()).build());
        return c;
    }

    private static org.deeplearning4j.nn.conf.layers.Layer layerOf(GraphVertex v) {
        return v instanceof LayerVertex lv ? lv.getLayerConf().getLayer() : null;
    }

    private static void carryTraining(BaseLayer from, BaseLayer to) {
        to.setIUpdater(from.getIUpdater());
        to.setBiasUpdater(from.getBiasUpdater());
        to.setGradientNormalization(from.getGradientNormalization());
        to.setGradientNormalizationThreshold(from.getGradientNormalizationThreshold());
        to.setWeightInitFn(from.getWeightInitFn());
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

    private static MultiLayerNetwork copy(MultiLayerNetwork from, Converted converted) {
        MultiLayerNetwork to = new MultiLayerNetwork(converted.conf());
        to.init();
        for (int i = 0; i < to.getnLayers(); i++) {
            if (converted.sourceOf()[i] >= 0) {
                copyParams(from.getLayer(converted.sourceOf()[i]), to.getLayer(i));
            }
        }
        copyUpdaterState(from.getUpdater() == null ? null : from.getUpdater().getStateViewArray(),
                to.getUpdater() == null ? null : to.getUpdater().getStateViewArray());
        return to;
    }

    private static ComputationGraph copy(ComputationGraph from, ComputationGraphConfiguration conf) {
        ComputationGraph to = new ComputationGraph(conf);
        to.init();
        for (Layer l : from.getLayers()) {
            String name = l.conf().getLayer().getLayerName();
            if (to.getConfiguration().getVertices().containsKey(name)) {   // not an ActivationLayer merged away
                copyParams(l, to.getLayer(name));
            }
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
