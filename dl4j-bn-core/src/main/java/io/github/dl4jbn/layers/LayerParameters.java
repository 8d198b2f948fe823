package io.github.dl4jbn.layers;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.function.Function;

/**
 * A layer's parameter I/O: its per-channel parameters (gamma, beta, the running statistics) read into and
 * written from {@code double[]} working arrays, and its gradients written into DL4J's gradient views; through
 * reused arrays and views ({@link ChannelArrays}), since a fresh array or NIO view per call costs more than a
 * small layer's math. Not thread-safe, like the layer that owns it.
 */
final class LayerParameters {

    private final ChannelArrays arrays;
    private final Function<String, INDArray> params;

    /**
     * @param hostMemory whether ND4J's buffers are host memory that NIO views may read and write
     * @param params     the layer's parameter of a key (its view in the network's parameter vector)
     */
    LayerParameters(boolean hostMemory, Function<String, INDArray> params) {
        this.arrays = new ChannelArrays(hostMemory);
        this.params = params;
    }

    /** @return the parameter's current values, in its working array */
    double[] read(String key) {
        return arrays.read(key, params.apply(key));
    }

    /** Writes a parameter's values. */
    void write(String key, double[] values) {
        arrays.write(key, values, params.apply(key));
    }

    /** @return a working array of {@code channels} copies of {@code value}, named {@code key} (a locked gamma or beta) */
    double[] constant(String key, int channels, double value) {
        double[] values = arrays.get(key, channels);
        Arrays.fill(values, value);
        return values;
    }

    /** @return a working array of {@code channels} values for {@code what} (a gradient being summed) */
    double[] working(String what, int channels) {
        return arrays.get(what, channels);
    }

    /** Writes a gradient's values into its view. */
    void writeGradient(String key, double[] values, INDArray view) {
        arrays.write(key + "Gradient", values, view);
    }

    /** Writes zeros into a gradient view (the running statistics', which are not learned). */
    void zeroGradient(String key, INDArray view) {
        String name = key + "Gradient";
        arrays.write(name, arrays.get(name, (int) view.length()), view);  // that working array is never written
    }
}
