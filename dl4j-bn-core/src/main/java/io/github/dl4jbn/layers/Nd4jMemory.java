package io.github.dl4jbn.layers;

import io.github.dl4jbn.internal.kernels.TensorMemory;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A dense row-major ND4J array as the kernels' {@link TensorMemory}, on a backend whose buffers live in host
 * memory (ND4J's CPU backend). A tensor whose buffer fits one NIO view (2 GiB) is read through that view, taken
 * once (a JNI call); a larger one through a view per window, made from the buffer's pointer, so no size is out
 * of reach. Element {@code i} of the array is element {@code offset + i} of its buffer.
 */
final class Nd4jMemory implements TensorMemory {

    private final DataBuffer data;
    private final long base;
    private final long length;
    private final int bytes;
    /** Tests set it to read small arrays through pointer windows, as arrays past 2 GiB are read. */
    static volatile boolean pointerWindows;

    private final boolean oneView;              // whether the whole buffer fits one NIO view
    private ByteBuffer whole;                   // that view, taken at first use

    /**
     * @param dense a dense row-major array (see {@link HostArrays#isDenseRowMajor})
     */
    Nd4jMemory(INDArray dense) {
        this.data = dense.data();
        this.base = data.offset();
        this.length = dense.length();
        this.bytes = data.getElementSize();
        this.oneView = Math.max(data.underlyingLength(), base + length) * bytes <= Integer.MAX_VALUE - 8;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public int elementBytes() {
        return bytes;
    }

    @Override
    public ByteBuffer window(long first, long count) {
        long from = (base + first) * bytes;
        long to = from + count * bytes;
        if (oneView && !pointerWindows) {
            if (whole == null) {
                whole = data.asNio().order(ByteOrder.nativeOrder());
            }
            return from == 0 && to == whole.capacity() ? whole
                    : whole.slice((int) from, (int) (to - from)).order(ByteOrder.nativeOrder());
        }
        Pointer pointer = data.pointer();
        long start = pointer.position() * pointer.sizeof();
        // JavaCPP's asByteBuffer() starts at the pointer's address whatever its position: move the address
        BytePointer window = new BytePointer(pointer).getPointer(BytePointer.class, start + from);
        window.position(0).limit(to - from);
        return window.asByteBuffer().order(ByteOrder.nativeOrder());
    }
}
