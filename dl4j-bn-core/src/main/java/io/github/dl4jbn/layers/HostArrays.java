package io.github.dl4jbn.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;

/**
 * Bulk copies between ND4J arrays and the kernels' {@code double[]} buffers, with reusable heap scratch so a
 * steady training loop allocates nothing on the Java heap.
 */
final class HostArrays {

    private float[] floats = new float[0];

    /**
     * True if the array's elements are {@code length()} consecutive elements of its buffer in row-major order,
     * starting where the buffer's NIO view starts: the only layout {@link #read} and {@link #write} accept.
     * Whole arrays and contiguous slices such as the parameter views of a flat parameter vector qualify.
     *
     * @param array any array
     * @return whether it can be copied in bulk
     */
    static boolean isDenseRowMajor(INDArray array) {
        return (array.dataType() == DataType.FLOAT || array.dataType() == DataType.DOUBLE)
                && array.offset() == array.data().offset() && array.data().length() >= array.length()
                && (array.ordering() == 'c' || array.rank() == 1) && Shape.hasDefaultStridesForShape(array);
    }

    /**
     * Copies a dense row-major FLOAT or DOUBLE array into {@code to[0, length)}. The NIO views start at the
     * array's first element (ND4J positions them at the buffer offset).
     *
     * @param from a dense row-major array (see {@link #isDenseRowMajor})
     * @param to   destination, at least {@code from.length()} long
     */
    void read(INDArray from, double[] to) {
        int n = (int) from.length();
        if (from.dataType() == DataType.DOUBLE) {
            from.data().asNioDouble().get(to, 0, n);
        } else {
            float[] f = floats(n);
            from.data().asNioFloat().get(f, 0, n);
            for (int i = 0; i < n; i++) {
                to[i] = f[i];
            }
        }
    }

    /**
     * Copies {@code from[0, length)} into a dense row-major FLOAT or DOUBLE array, rounding to float if needed.
     *
     * @param from source, at least {@code to.length()} long
     * @param to   a dense row-major array (see {@link #isDenseRowMajor})
     */
    void write(double[] from, INDArray to) {
        int n = (int) to.length();
        if (to.dataType() == DataType.DOUBLE) {
            to.data().asNioDouble().put(from, 0, n);
        } else {
            float[] f = floats(n);
            for (int i = 0; i < n; i++) {
                f[i] = (float) from[i];
            }
            to.data().asNioFloat().put(f, 0, n);
        }
    }

    private float[] floats(int n) {
        if (floats.length < n) {
            floats = new float[n];
        }
        return floats;
    }

    /**
     * A reusable buffer of at least {@code n} values.
     *
     * @param buffer the current buffer, may be null
     * @param n      the size needed
     * @return {@code buffer} if large enough, otherwise a new array
     */
    static double[] atLeast(double[] buffer, int n) {
        return buffer != null && buffer.length >= n ? buffer : new double[n];
    }
}
