package io.github.dl4jbn.layers;

import io.github.dl4jbn.kernels.BatchNormKernels;
import io.github.dl4jbn.kernels.ChannelView;
import io.github.dl4jbn.kernels.FloatCodec;
import io.github.dl4jbn.kernels.TensorMemory;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The layer's kernel calls on ND4J arrays whose buffers live in host memory (ND4J's CPU backend): each array
 * becomes a {@link TensorMemory} over its own buffer, and {@link BatchNormKernels} streams through it. FLOAT
 * runs the fastest loops this JVM has, DOUBLE double precision throughout, HALF and BFLOAT16 float chunks.
 * Nothing tensor-sized is kept on the Java heap. Not thread-safe, like the layer that owns it.
 */
final class HostKernels implements LayerKernels {

    private final BatchNormKernels kernels;
    private final DataType type;
    /** Masks are of the computation's type: FLOAT for float kernels, DOUBLE for double ones. */
    private final DataType maskType;
    private INDArray xArray;                    // kept so a densified copy lives as long as its memory
    private DataBuffer xData;
    private TensorMemory xAll;
    private TensorMemory x;
    private INDArray dyArray;
    private TensorMemory dyAll;
    private TensorMemory dy;
    private INDArray maskArray;
    private TensorMemory maskAll;
    private TensorMemory mask;
    /** The ghost batch the calls are restricted to, or the whole tensors. */
    private TensorRange range = TensorRange.WHOLE;

    private HostKernels(BatchNormKernels kernels, DataType type, DataType maskType) {
        this.kernels = kernels;
        this.type = type;
        this.maskType = maskType;
    }

    /**
     * The kernels for a network's data type.
     *
     * @param type FLOAT, DOUBLE, HALF or BFLOAT16
     * @return the kernels
     */
    static HostKernels forType(DataType type) {
        switch (type) {
            case FLOAT:
                return new HostKernels(BatchNormKernels.floats(), type, DataType.FLOAT);
            case DOUBLE:
                return new HostKernels(BatchNormKernels.doubles(), type, DataType.DOUBLE);
            case HALF:
                return new HostKernels(BatchNormKernels.sixteenBit(FloatCodec.HALF), type, DataType.FLOAT);
            case BFLOAT16:
                return new HostKernels(BatchNormKernels.sixteenBit(FloatCodec.BFLOAT16), type, DataType.FLOAT);
            default:
                throw new IllegalArgumentException("BatchNorm runs FLOAT, DOUBLE, HALF and BFLOAT16 networks, not " + type);
        }
    }

    /** @return which kernels run, for logs */
    @Override
    public String toString() {
        return kernels.toString();
    }

    /** The input of the next calls: the array itself if dense of the network's type, else a dense copy. */
    @Override
    public void loadInput(INDArray array) {
        range = TensorRange.WHOLE;
        if (array == xArray && array.data() == xData) {
            applyRange();
            return;                             // the same dense array again (its backward): read as it is now
        }
        xArray = HostArrays.dense(array, type);
        xData = xArray.data();
        xAll = new Nd4jMemory(xArray);
        applyRange();
    }

    /** The output gradient of the next backward call. */
    @Override
    public void loadGradient(INDArray array) {
        dyArray = HostArrays.dense(array, type);
        dyAll = new Nd4jMemory(dyArray);
        applyRange();
    }

    /** The mask of the next calls (one value per position, 0 where padded), or null for none. */
    @Override
    public void loadMask(INDArray array) {
        if (array == null) {
            maskArray = null;
            maskAll = null;
        } else if (array != maskArray) {
            maskArray = HostArrays.dense(array, maskType);
            maskAll = new Nd4jMemory(maskArray);
        }
        applyRange();
    }

    @Override
    public void restrict(TensorRange range) {
        this.range = range;
        applyRange();
    }

    private void applyRange() {
        x = ranged(xAll);
        dy = ranged(dyAll);
        mask = rangedMask(maskAll);
    }

    /** The elements of the restricted range, or all of them. */
    private TensorMemory ranged(TensorMemory all) {
        return all == null || range.whole() ? all : all.range(range.firstElement(), range.elements());
    }

    /** The mask positions of the restricted range, or all of them. */
    private TensorMemory rangedMask(TensorMemory all) {
        return all == null || range.whole() ? all : all.range(range.firstPosition(), range.positions());
    }

    /** The unmasked positions of the loaded mask: the m of every channel. */
    @Override
    public long validPositions() {
        return BatchNormKernels.validPositions(mask);
    }

    /** Algorithm 1, lines 1-2, on the loaded input; returns m. */
    @Override
    public long batchStatistics(ChannelView view, double[] mean, double[] var) {
        return kernels.batchStatistics(x, mask, view, mean, var);
    }

    /** Normalizes the loaded input into {@code out}, a fresh dense array of the network's type. */
    @Override
    public void normalize(ChannelView view, double[] mean, double[] invStd, double[] gamma, double[] beta, INDArray out) {
        kernels.normalize(x, mask, view, mean, invStd, gamma, beta, ranged(new Nd4jMemory(writable(out))));
    }

    /** Backward of the loaded input and gradient into {@code dx}, {@code dgamma}, {@code dbeta}. */
    @Override
    public void backward(ChannelView view, long m, double[] mean, double[] invStd, double[] gamma, boolean through,
                  INDArray dx, double[] dgamma, double[] dbeta) {
        kernels.backward(x, dy, mask, view, m, mean, invStd, gamma, through, ranged(new Nd4jMemory(writable(dx))), dgamma,
                dbeta);
    }

    /** The NaN and infinite values at valid positions of the loaded input (for an error message). */
    @Override
    public long countNonFinite(ChannelView view) {
        INDArray wide = type == DataType.FLOAT || type == DataType.DOUBLE ? xArray : xArray.castTo(DataType.FLOAT);
        INDArray wideMask = mask == null ? null : maskArray.castTo(wide.dataType());
        return BatchNormKernels.countNonFinite(ranged(new Nd4jMemory(wide)),
                wideMask == null ? null : rangedMask(new Nd4jMemory(wideMask)), view);
    }

    @Override
    public boolean hostMemory() {
        return true;
    }

    /** The output arrays are fresh dense workspace arrays of the network's type, written in place. */
    private INDArray writable(INDArray to) {
        if (to.dataType() != type || !HostArrays.isDenseRowMajor(to)) {
            throw new IllegalStateException("expected a dense " + type + " output array, got " + to.shapeInfoToString());
        }
        return to;
    }
}
