package io.github.dl4jbn.layers;

import io.github.dl4jbn.internal.kernels.BatchNormKernels;
import io.github.dl4jbn.internal.kernels.ChannelView;
import io.github.dl4jbn.internal.kernels.FloatCodec;
import io.github.dl4jbn.internal.kernels.TensorMemory;
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

    private final BatchNormKernels<TensorMemory> kernels;
    private final DataType type;
    /** Masks are of the computation's type: FLOAT for float kernels, DOUBLE for double ones. */
    private final DataType maskType;
    /** The last input and mask turned into memory: a layer's calls on one array take its view once. */
    private final Memo inputs = new Memo();
    private final Memo masks = new Memo();

    private HostKernels(BatchNormKernels<TensorMemory> kernels, DataType type, DataType maskType) {
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

    @Override
    public long validPositions(KernelInput in) {
        return BatchNormKernels.validPositions(mask(in));
    }

    @Override
    public long batchStatistics(KernelInput in, ChannelView view, double[] mean, double[] var) {
        return kernels.batchStatistics(x(in), mask(in), view, mean, var);
    }

    /** Normalizes the input's range into that range of {@code out}, a fresh dense array of the network's type. */
    @Override
    public void normalize(KernelInput in, ChannelView view, double[] mean, double[] invStd, double[] gamma,
                          double[] beta, INDArray out) {
        kernels.normalize(x(in), mask(in), view, mean, invStd, gamma, beta, elements(writable(out), in.range()));
    }

    @Override
    public void backward(KernelInput in, INDArray dy, ChannelView view, long m, double[] mean, double[] invStd,
                         double[] gamma, boolean through, INDArray dx, double[] dgamma, double[] dbeta) {
        TensorMemory gradient = elements(HostArrays.dense(dy, type), in.range());
        kernels.backward(x(in), gradient, mask(in), view, m, mean, invStd, gamma, through,
                elements(writable(dx), in.range()), dgamma, dbeta);
    }

    @Override
    public long countNonFinite(KernelInput in, ChannelView view) {
        INDArray wide = HostArrays.dense(in.x(), type == DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT);
        INDArray wideMask = in.mask() == null ? null : HostArrays.dense(in.mask(), wide.dataType());
        return BatchNormKernels.countNonFinite(elements(wide, in.range()),
                wideMask == null ? null : positions(new Nd4jMemory(wideMask), in.range()), view);
    }

    /** The input's range, as memory of the network's type. */
    private TensorMemory x(KernelInput in) {
        return elements(inputs.memory(in.x(), type), in.range());
    }

    /** The mask's range, as memory of the computation's type; null without a mask. */
    private TensorMemory mask(KernelInput in) {
        return in.mask() == null ? null : positions(masks.memory(in.mask(), maskType), in.range());
    }

    private static TensorMemory elements(INDArray dense, TensorRange range) {
        return elements(new Nd4jMemory(dense), range);
    }

    private static TensorMemory elements(TensorMemory all, TensorRange range) {
        return range.whole() ? all : all.range(range.firstElement(), range.elements());
    }

    private static TensorMemory positions(TensorMemory all, TensorRange range) {
        return range.whole() ? all : all.range(range.firstPosition(), range.positions());
    }

    /**
     * The memory of the array last asked for, kept while the same dense array with the same buffer comes again
     * (a forward's slices, its backward); a pure cache: what it returns depends only on the argument. Slices
     * running concurrently may ask at once: each reads one published entry, and at worst makes the same memory
     * again.
     */
    private static final class Memo {
        private record Entry(INDArray array, DataBuffer data, TensorMemory memory) {
        }

        private volatile Entry last;

        TensorMemory memory(INDArray source, DataType type) {
            Entry e = last;
            if (e != null && source == e.array() && source.data() == e.data()) {
                return e.memory();
            }
            INDArray dense = HostArrays.dense(source, type);
            TensorMemory made = new Nd4jMemory(dense);
            if (dense == source) {                  // a copy is made afresh each time, as its source may change
                last = new Entry(source, source.data(), made);
            }
            return made;
        }
    }

    @Override
    public boolean hostMemory() {
        return true;
    }

    /**
     * Whole slices on the pass threads when each is below a pass's threading threshold (ghost batches), and the
     * arrays they read are already this computation's memory: then no job converts or copies an ND4J array, so
     * none allocates off the calling thread.
     */
    @Override
    public void forEachSlice(KernelInput in, INDArray dy, int slices, long valuesPerSlice,
                             java.util.function.IntConsumer job) {
        boolean ready = usable(in.x(), type) && (in.mask() == null || usable(in.mask(), maskType))
                && (dy == null || usable(dy, type));
        if (ready && io.github.dl4jbn.internal.kernels.SliceThreads.worthIt(slices, valuesPerSlice)) {
            x(KernelInput.whole(in.x(), in.mask()));                     // the memos, filled on this thread
            mask(KernelInput.whole(in.x(), in.mask()));
            io.github.dl4jbn.internal.kernels.SliceThreads.run(slices, job);
        } else {
            LayerKernels.super.forEachSlice(in, dy, slices, valuesPerSlice, job);
        }
    }

    private static boolean usable(INDArray a, DataType type) {
        return a.dataType() == type && HostArrays.isDenseRowMajor(a);
    }

    /** The output arrays are fresh dense workspace arrays of the network's type, written in place. */
    private INDArray writable(INDArray to) {
        if (to.dataType() != type || !HostArrays.isDenseRowMajor(to)) {
            throw new IllegalStateException("expected a dense " + type + " output array, got " + to.shapeInfoToString());
        }
        return to;
    }
}
