package io.github.dl4jbn.layers;

import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.util.ArrayUtil;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * The layer's output arrays, and bulk copies between ND4J arrays and Java heap arrays. Dense row-major
 * floating-point arrays (whole arrays and contiguous slices such as the parameter views of a flat parameter
 * vector) go through ND4J's NIO views at memory speed; anything else (views with strides, 'f' order, other
 * data types) is first densified by ND4J.
 */
final class HostArrays {

    private HostArrays() {
    }

    /**
     * True if the array's elements are {@code length()} consecutive elements of its buffer in row-major order,
     * starting where the buffer's NIO view starts (ND4J positions it at the buffer's offset). Judged from the
     * strides of the axes longer than one: ND4J gives unit axes strides of its own choosing (a [5, 3, 1] array
     * has strides [3, 1, 1], which ND4J's {@code Shape.hasDefaultStridesForShape} rejects).
     *
     * @param array any array
     * @return whether it can be copied in bulk
     */
    static boolean isDenseRowMajor(INDArray array) {
        if (!array.dataType().isFPType() || array.offset() != array.data().offset()
                || array.data().length() < array.length()) {
            return false;
        }
        long[] shape = array.shape();
        long[] stride = array.stride();
        long rowMajor = 1;
        for (int axis = shape.length - 1; axis >= 0; axis--) {
            if (shape[axis] != 1 && stride[axis] != rowMajor) {
                return false;
            }
            rowMajor *= shape[axis];
        }
        return true;
    }

    /**
     * A new dense row-major array in the workspace of {@code type}, as {@code workspaceMgr.createUninitialized}
     * makes it, but through ND4J's padded-array constructor with no padding: that one takes its shape
     * information from ND4J's shape cache, where the plain constructor builds a new native shape buffer for
     * every array, which costs more than a small tensor's whole pass (docs/speed.md). Shapes for which
     * that constructor would size the buffer from other strides than the plain one's ([1, n]: ND4J gives such
     * row vectors unit strides, and the padded constructor then allocates one value) take the plain one.
     *
     * @param workspaceMgr the layer call's workspace manager
     * @param type         which workspace (detached if the manager scopes that type out of workspaces)
     * @param dataType     the array's data type
     * @param shape        the array's shape
     * @return the array, contents undefined
     */
    static INDArray createUninitialized(LayerWorkspaceMgr workspaceMgr, ArrayType type, DataType dataType, long[] shape) {
        long[] strides = ArrayUtil.calcStrides(shape, 1);
        if (strides[0] * shape[0] != ArrayUtil.prodLong(shape) || !Arrays.equals(strides, Nd4j.getStrides(shape, 'c'))) {
            return workspaceMgr.createUninitialized(type, dataType, shape, 'c');
        }
        try (MemoryWorkspace borrowed = workspaceMgr.notifyScopeBorrowed(type)) {
            long[] noPadding = new long[shape.length];
            return Nd4j.getNDArrayFactory().create(dataType, shape, noPadding, noPadding, 'c',
                    Nd4j.getMemoryManager().getCurrentWorkspace());
        }
    }

    /** The array itself if dense row-major of the type, else a dense copy of that type. */
    static INDArray dense(INDArray array, DataType type) {
        INDArray a = array.dataType() == type ? array : array.castTo(type);
        return isDenseRowMajor(a) ? a : a.dup('c');
    }

    /** Reads an array's values into a reusable double buffer, growing it if needed. */
    static double[] readDoubles(INDArray array, double[] buffer) {
        int n = (int) array.length();
        double[] to = buffer.length >= n ? buffer : new double[n];
        dense(array, DataType.DOUBLE).data().asNioDouble().get(to, 0, n);
        return to;
    }

    /** Writes {@code from[0, length)} into an array, converting to its data type if needed. */
    static void writeDoubles(double[] from, INDArray to) {
        int n = (int) to.length();
        if (to.dataType() == DataType.DOUBLE && isDenseRowMajor(to)) {
            to.data().asNioDouble().put(from, 0, n);
        } else {
            to.assign(Nd4j.create(Arrays.copyOf(from, n), to.shape(), 'c').castTo(to.dataType()));
        }
    }

    /** @return {@code buffer} if it holds at least {@code n} values, otherwise a new array */
    static double[] atLeast(double[] buffer, int n) {
        return buffer != null && buffer.length >= n ? buffer : new double[n];
    }
}
