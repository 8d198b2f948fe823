package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.internal.kernels.ChannelMath;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Folds each BatchNorm layer that directly follows a {@link DenseLayer} or {@link ConvolutionLayer} with identity
 * activation into that layer, for inference (Algorithm 2, line 11: the inference transform is linear). With
 * {@code s = gamma / sqrt(var + eps)} per output channel, the new weights are {@code W * s} and the new bias
 * {@code (b - mean) * s + beta}; the BatchNorm's activation moves onto the merged layer. Other BatchNorm layers
 * stay in place and are reported. The result is a new network for inference; the original is untouched.
 *
 * <pre>{@code
 * InferenceFolding.Result<MultiLayerNetwork> folded = InferenceFolding.fold(net);
 * folded.network().output(x);   // same outputs as net.output(x), fewer layers
 * }</pre>
 *
 */
public final class InferenceFolding {

    private static final Logger log = LoggerFactory.getLogger(InferenceFolding.class);

    private InferenceFolding() {
    }

    /**
     * A folded network and what could not be folded.
     *
     * @param network  the new network
     * @param folded   names of the BatchNorm layers merged into their predecessor
     * @param leftAlone BatchNorm layers left in place, each with the reason
     * @param <N>      MultiLayerNetwork or ComputationGraph
     */
    public record Result<N>(N network, List<String> folded, List<String> leftAlone) {
    }

    /**
     * Folds a MultiLayerNetwork.
     *
     * @param net a trained network
     * @return the folded network and a report
     */
    public static Result<MultiLayerNetwork> fold(MultiLayerNetwork net) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations().clone();
        List<NeuralNetConfiguration> confs = new ArrayList<>(conf.getConfs());
        refuseUntracked(confs.stream().map(NeuralNetConfiguration::getLayer).toList());
        Map<Integer, InputPreProcessor> pre = new HashMap<>(conf.getInputPreProcessors());
        List<String> folded = new ArrayList<>();
        List<String> leftAlone = new ArrayList<>();
        List<Integer> sourceOf = new ArrayList<>();                  // new layer index -> old layer index
        List<Integer> foldedInto = new ArrayList<>();                // old BN index merged into the previous layer, or -1
        List<NeuralNetConfiguration> outConfs = new ArrayList<>();
        Map<Integer, InputPreProcessor> outPre = new HashMap<>();
        for (int i = 0; i < confs.size(); i++) {
            NeuralNetConfiguration c = confs.get(i);
            if (pre.containsKey(i)) {
                outPre.put(outConfs.size(), pre.get(i));
            }
            outConfs.add(c);
            sourceOf.add(i);
            foldedInto.add(-1);
            if (i + 1 < confs.size() && confs.get(i + 1).getLayer() instanceof BatchNorm) {
                BatchNorm bn = (BatchNorm) confs.get(i + 1).getLayer();
                String why = whyNot(c.getLayer(), pre.containsKey(i + 1));
                if (why == null) {
                    mergeConfig((FeedForwardLayer) c.getLayer(), bn);
                    foldedInto.set(foldedInto.size() - 1, i + 1);
                    folded.add(name(bn, i + 1));
                    i++;                                                // skip the BatchNorm
                } else {
                    leftAlone.add(name(bn, i + 1) + ": " + why);
                }
            } else if (i == 0 && c.getLayer() instanceof BatchNorm) {
                leftAlone.add(name((BatchNorm) c.getLayer(), 0) + ": no layer before it");
            }
        }
        conf.setConfs(outConfs);
        conf.setInputPreProcessors(outPre);
        MultiLayerNetwork out = new MultiLayerNetwork(conf);
        out.init();
        for (int k = 0; k < outConfs.size(); k++) {
            Layer source = net.getLayer(sourceOf.get(k));
            int bn = foldedInto.get(k);
            if (bn >= 0) {
                mergeParams(source, net.getLayer(bn), out.getLayer(k));
            } else if (source.numParams() > 0) {
                out.getLayer(k).setParams(source.params());
            }
        }
        report(folded, leftAlone);
        return new Result<>(out, folded, leftAlone);
    }

    /**
     * Folds a ComputationGraph: a BatchNorm vertex whose single input is a Dense or Convolution vertex used by
     * nothing else is removed, and its consumers read the merged layer instead.
     *
     * @param graph a trained graph
     * @return the folded graph and a report
     */
    public static Result<ComputationGraph> fold(ComputationGraph graph) {
        ComputationGraphConfiguration conf = graph.getConfiguration().clone();
        Map<String, GraphVertex> vertices = conf.getVertices();
        Map<String, List<String>> inputs = conf.getVertexInputs();
        refuseUntracked(vertices.values().stream().filter(v -> v instanceof LayerVertex)
                .map(v -> ((LayerVertex) v).getLayerConf().getLayer()).toList());
        List<String> folded = new ArrayList<>();
        List<String> leftAlone = new ArrayList<>();
        Map<String, String> mergedInto = new HashMap<>();            // BN name -> layer it is merged into
        for (String name : new ArrayList<>(vertices.keySet())) {
            if (!(vertices.get(name) instanceof LayerVertex) || !(((LayerVertex) vertices.get(name)).getLayerConf().getLayer() instanceof BatchNorm)) {
                continue;
            }
            LayerVertex bnVertex = (LayerVertex) vertices.get(name);
            BatchNorm bn = (BatchNorm) bnVertex.getLayerConf().getLayer();
            List<String> in = inputs.get(name);
            String prev = in.size() == 1 ? in.get(0) : null;
            String why;
            if (prev == null || !(vertices.get(prev) instanceof LayerVertex)) {
                why = "its input is not a single layer";
            } else if (consumers(inputs, prev) != 1 || conf.getNetworkOutputs().contains(prev)) {
                why = "the layer before it has other consumers";
            } else {
                why = whyNot(((LayerVertex) vertices.get(prev)).getLayerConf().getLayer(), bnVertex.getPreProcessor() != null);
            }
            if (why != null) {
                leftAlone.add(name + ": " + why);
                continue;
            }
            mergeConfig((FeedForwardLayer) ((LayerVertex) vertices.get(prev)).getLayerConf().getLayer(), bn);
            vertices.remove(name);
            inputs.remove(name);
            for (List<String> list : inputs.values()) {
                list.replaceAll(v -> v.equals(name) ? prev : v);
            }
            conf.getNetworkOutputs().replaceAll(v -> v.equals(name) ? prev : v);
            mergedInto.put(name, prev);
            folded.add(name);
        }
        ComputationGraph out = new ComputationGraph(conf);
        out.init();
        Map<String, String> bnOf = new HashMap<>();
        mergedInto.forEach((bn, layer) -> bnOf.put(layer, bn));
        for (Layer l : out.getLayers()) {
            String name = l.conf().getLayer().getLayerName();
            Layer source = graph.getLayer(name);
            if (bnOf.containsKey(name)) {
                mergeParams(source, graph.getLayer(bnOf.get(name)), l);
            } else if (source.numParams() > 0) {
                l.setParams(source.params());
            }
        }
        report(folded, leftAlone);
        return new Result<>(out, folded, leftAlone);
    }

    private static long consumers(Map<String, List<String>> inputs, String vertex) {
        return inputs.values().stream().filter(l -> l.contains(vertex)).count();
    }

    /** Null if a BatchNorm after this layer can be folded into it, else the reason. */
    private static String whyNot(org.deeplearning4j.nn.conf.layers.Layer before, boolean bnHasPreprocessor) {
        if (!(before instanceof DenseLayer) && !(before.getClass() == ConvolutionLayer.class)) {
            return "the layer before it is a " + before.getClass().getSimpleName() + ", not a DenseLayer or ConvolutionLayer";
        }
        if (!(((FeedForwardLayer) before).getActivationFn() instanceof ActivationIdentity)) {
            return "the layer before it applies " + ((FeedForwardLayer) before).getActivationFn() + ", not identity";
        }
        if (bnHasPreprocessor) {
            return "an input preprocessor sits between them";
        }
        return null;
    }

    private static void mergeConfig(FeedForwardLayer layer, BatchNorm bn) {
        layer.setActivationFn(bn.getActivationFn());
        if (layer instanceof DenseLayer) {
            ((DenseLayer) layer).setHasBias(true);
        } else {
            ((ConvolutionLayer) layer).setHasBias(true);
        }
    }

    /**
     * Algorithm 2, line 11 as an affine map {@code y = s * z + t} ({@link ChannelMath#affine} around 0), folded
     * into {@code z = W x + b}: {@code W' = W * s} per output channel, {@code b' = s * b + t}.
     */
    private static void mergeParams(Layer before, Layer bnLayer, Layer merged) {
        BatchNorm bn = (BatchNorm) bnLayer.conf().getLayer();
        int channels = (int) bn.getNOut();
        double[] mean = bnLayer.getParam(BatchNormParamInitializer.MEAN).toDoubleVector();
        double[] var = bnLayer.getParam(BatchNormParamInitializer.VAR).toDoubleVector();
        double[] gamma = gammaOrBeta(bnLayer, BatchNormParamInitializer.GAMMA, channels, bn.getGamma());
        double[] beta = gammaOrBeta(bnLayer, BatchNormParamInitializer.BETA, channels, bn.getBeta());
        double[] invStd = new double[channels];
        double[] scale = new double[channels];
        double[] bias = new double[channels];
        ChannelMath.inverseStd(var, bn.getEps(), invStd);
        ChannelMath.affine(mean, invStd, gamma, beta, null, scale, bias);       // y = scale * z + shift
        INDArray oldBias = before.paramTable().get("b");
        double[] b = oldBias == null ? new double[channels] : oldBias.toDoubleVector();
        for (int c = 0; c < channels; c++) {
            bias[c] += scale[c] * b[c];                                   // b' = s * b + t
        }
        INDArray w = before.getParam("W").castTo(DataType.DOUBLE).dup();
        INDArray s = Nd4j.createFromArray(scale);
        if (before.conf().getLayer() instanceof DenseLayer) {
            w.muliRowVector(s);                                         // W is [nIn, nOut]: scale columns
        } else {
            w.muli(s.reshape(channels, 1, 1, 1));                       // W is [nOut, nIn, kH, kW]: scale filters
        }
        DataType type = merged.getParam("W").dataType();
        merged.setParam("W", w.castTo(type));
        merged.setParam("b", Nd4j.createFromArray(bias).reshape(merged.getParam("b").shape()).castTo(type));
    }

    /** A learned gamma or beta, or the fixed value of one that is not learned (center/scale off). */
    private static double[] gammaOrBeta(Layer bnLayer, String key, int channels, double fixed) {
        if (bnLayer.paramTable().containsKey(key)) {
            return bnLayer.getParam(key).toDoubleVector();
        }
        double[] values = new double[channels];
        java.util.Arrays.fill(values, fixed);
        return values;
    }

    /** Folding needs fixed statistics: a layer without running statistics normalizes each batch by its own. */
    private static void refuseUntracked(List<org.deeplearning4j.nn.conf.layers.Layer> layers) {
        for (int i = 0; i < layers.size(); i++) {
            if (layers.get(i) instanceof BatchNorm bn && !bn.isTrackRunningStatistics()) {
                throw new IllegalArgumentException("InferenceFolding: BatchNorm " + name(bn, i) + " has"
                        + " trackRunningStatistics(false): it normalizes every batch with that batch's own statistics,"
                        + " so it has no fixed affine map to fold; expected running statistics (the default)");
            }
        }
    }

    private static String name(BatchNorm bn, int index) {
        return bn.getLayerName() != null ? bn.getLayerName() : "layer " + index;
    }

    private static void report(List<String> folded, List<String> leftAlone) {
        log.info("InferenceFolding: folded {} BatchNorm layer(s) {}", folded.size(), folded);
        for (String s : leftAlone) {
            log.info("InferenceFolding: left in place {}", s);
        }
    }
}
