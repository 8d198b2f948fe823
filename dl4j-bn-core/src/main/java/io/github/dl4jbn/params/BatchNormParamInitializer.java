package io.github.dl4jbn.params;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Lays out a {@link BatchNorm} layer's parameters in DL4J's flat parameter vector, in this order:
 * {@code gamma[C]} (learned, absent with {@code scale(false)}), {@code beta[C]} (learned, absent with
 * {@code center(false)}), {@code mean[C], var[C]} (running population statistics, initially 0 and 1; absent with
 * {@code trackRunningStatistics(false)}) and {@code batchCount[1]} (batches averaged so far, only with the
 * cumulative average). A gamma or beta that is not learned has no parameter at all, rather than one the updater
 * skips: then it has no updater state, no regularization, no gradient to normalize, and the flat parameter
 * vector and its count match Keras's (which drops the weight). Without the cumulative average the layout equals that of DL4J's built-in layer with
 * {@code useLogStd(false)}, so flat parameter vectors can be copied between the two.
 */
public final class BatchNormParamInitializer implements ParamInitializer {

    /** Key of the learned per-channel scale. */
    public static final String GAMMA = "gamma";
    /** Key of the learned per-channel shift. */
    public static final String BETA = "beta";
    /** Key of the running population mean. */
    public static final String MEAN = "mean";
    /** Key of the running population variance. */
    public static final String VAR = "var";
    /** Key of the number of batches in the cumulative average (a single value). */
    public static final String BATCH_COUNT = "batchCount";

    private static final BatchNormParamInitializer INSTANCE = new BatchNormParamInitializer();

    private BatchNormParamInitializer() {
    }

    /**
     * The shared stateless instance.
     *
     * @return the initializer
     */
    public static BatchNormParamInitializer getInstance() {
        return INSTANCE;
    }

    /**
     * The learned parameters: gamma (with {@code scale}) and beta (with {@code center}).
     *
     * @param layer a {@link BatchNorm} configuration
     * @return the keys, gamma first
     */
    public List<String> learnedKeys(Layer layer) {
        BatchNorm bn = bn(layer);
        List<String> keys = new ArrayList<>(2);
        if (bn.isScale()) {
            keys.add(GAMMA);
        }
        if (bn.isCenter()) {
            keys.add(BETA);
        }
        return keys;
    }

    /**
     * The running statistics, which the layer writes itself and which receive no gradient.
     *
     * @param layer a {@link BatchNorm} configuration
     * @return mean, var, and batchCount with the cumulative average; none without running statistics
     */
    public List<String> statisticsKeys(Layer layer) {
        BatchNorm bn = bn(layer);
        if (!bn.isTrackRunningStatistics()) {
            return Collections.emptyList();
        }
        return bn.isCumulativeAverage() ? List.of(MEAN, VAR, BATCH_COUNT) : List.of(MEAN, VAR);
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        long total = 0;
        for (String key : paramKeys(layer)) {
            total += length(bn(layer), key);
        }
        return total;
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        List<String> keys = new ArrayList<>(learnedKeys(layer));
        keys.addAll(statisticsKeys(layer));
        return keys;
    }

    @Override
    public List<String> weightKeys(Layer layer) {
        return Collections.emptyList();
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        return Collections.emptyList();
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return false;
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return false;
    }

    /**
     * Cuts the layer's slice of the flat parameter vector into per-key views and, if asked, sets gamma and
     * beta to their configured values, the mean to 0, the variance to 1 and the batch count to 0.
     */
    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        BatchNorm layer = bn(conf.getLayer());
        Map<String, INDArray> views = views(layer, paramsView);
        for (String key : views.keySet()) {
            conf.addVariable(key);
        }
        if (initializeParams) {
            for (Map.Entry<String, INDArray> e : views.entrySet()) {
                e.getValue().assign(initialValue(layer, e.getKey()));
            }
        }
        return Collections.synchronizedMap(views);
    }

    /** Cuts the layer's slice of the flat gradient vector the same way as the parameters. */
    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        return views(bn(conf.getLayer()), gradientView);
    }

    private Map<String, INDArray> views(BatchNorm layer, INDArray flat) {
        INDArray vector = flat.reshape(flat.length());
        Map<String, INDArray> views = new LinkedHashMap<>();
        long offset = 0;
        for (String key : paramKeys(layer)) {
            long length = length(layer, key);
            views.put(key, vector.get(NDArrayIndex.interval(offset, offset + length)));
            offset += length;
        }
        if (offset != vector.length()) {
            throw new IllegalStateException("BatchNorm \"" + layer.getLayerName() + "\": expected " + offset
                    + " parameters, got a view of " + vector.length());
        }
        return views;
    }

    private static long length(BatchNorm layer, String key) {
        return BATCH_COUNT.equals(key) ? 1 : layer.getNOut();
    }

    private static double initialValue(BatchNorm layer, String key) {
        switch (key) {
            case GAMMA:
                return layer.getGamma();
            case BETA:
                return layer.getBeta();
            case VAR:
                return 1.0;
            default:
                return 0.0;                                         // mean, batchCount
        }
    }

    private static BatchNorm bn(Layer layer) {
        if (!(layer instanceof BatchNorm)) {
            throw new IllegalArgumentException("expected a BatchNorm configuration, got " + layer);
        }
        return (BatchNorm) layer;
    }
}
