package io.github.dl4jbn.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * One layer's per-channel arrays, reused from call to call: named working arrays (copies of the parameters,
 * batch statistics, gradients), and the NIO views through which FLOAT parameters and gradients are read and
 * written, one per named target, taken again only when the target is another array: fresh arrays and NIO views
 * (each a JNI call) cost as much as a small layer's whole call (docs/speed.md). Without host memory (a device
 * backend) values go through ND4J's own copies instead. Not thread-safe, like the layer that owns it.
 */
final class ChannelArrays {

    /** A target array and its FLOAT view (null unless the array is dense FLOAT). */
    private record View(INDArray array, FloatBuffer floats) {
    }

    private final Map<String, double[]> arrays = new HashMap<>();
    private final Map<String, View> views = new HashMap<>();
    private float[] floats = new float[0];
    private final boolean hostMemory;

    /**
     * @param hostMemory whether ND4J's buffers are host memory that NIO views may read and write
     */
    ChannelArrays(boolean hostMemory) {
        this.hostMemory = hostMemory;
    }

    /**
     * The working array {@code name} of exactly {@code length} values, as its last use left it.
     *
     * @param name   what it holds
     * @param length its length
     * @return the array
     */
    double[] get(String name, int length) {
        double[] array = arrays.get(name);
        if (array == null || array.length != length) {
            array = new double[length];
            arrays.put(name, array);
        }
        return array;
    }

    /**
     * Reads a per-channel array (a parameter) into the working array of the same name.
     *
     * @param name names both the source's view and the working array
     * @param from the values
     * @return the working array
     */
    double[] read(String name, INDArray from) {
        double[] to = get(name, (int) from.length());
        if (!hostMemory) {
            double[] values = from.castTo(DataType.DOUBLE).reshape(from.length()).toDoubleVector();
            System.arraycopy(values, 0, to, 0, to.length);
            return to;
        }
        FloatBuffer view = floatView(name, from);
        if (view == null) {
            return HostArrays.readDoubles(from, to);
        }
        float[] f = floats(to.length);
        view.get(0, f, 0, to.length);
        for (int i = 0; i < to.length; i++) {
            to[i] = f[i];
        }
        return to;
    }

    /**
     * Writes values into a per-channel array (a parameter or a gradient view).
     *
     * @param name names the target's view
     * @param from the values, one per element of {@code to}
     * @param to   the array written
     */
    void write(String name, double[] from, INDArray to) {
        if (!hostMemory) {
            to.assign(Nd4j.createFromArray(Arrays.copyOf(from, (int) to.length())).reshape(to.shape())
                    .castTo(to.dataType()));
            return;
        }
        FloatBuffer view = floatView(name, to);
        if (view == null) {
            HostArrays.writeDoubles(from, to);
            return;
        }
        float[] f = floats(from.length);
        for (int i = 0; i < from.length; i++) {
            f[i] = (float) from[i];
        }
        view.put(0, f, 0, from.length);
    }

    /** The array's elements as a FloatBuffer from its first one, or null unless it is dense FLOAT. */
    private FloatBuffer floatView(String name, INDArray array) {
        View view = views.get(name);
        if (view == null || view.array() != array) {
            boolean dense = array.dataType() == DataType.FLOAT && HostArrays.isDenseRowMajor(array);
            // ND4J positions the buffer's view at the array's offset: slice it there
            view = new View(array, dense ? array.data().asNioFloat().slice() : null);
            views.put(name, view);
        }
        return view.floats();
    }

    private float[] floats(int n) {
        if (floats.length < n) {
            floats = new float[n];
        }
        return floats;
    }
}
