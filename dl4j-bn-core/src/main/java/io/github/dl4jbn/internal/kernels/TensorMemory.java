package io.github.dl4jbn.internal.kernels;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A dense row-major tensor's elements in native memory, handed out in windows: a NIO buffer reaches at most
 * 2^31 - 1 bytes, so a tensor of any size is read through windows of at most {@link #MAX_WINDOW_BYTES}. The
 * layer implements it over ND4J's buffers; {@link #of(ByteBuffer, int, long, int)} wraps a buffer of one
 * window's size (tests, small tensors).
 */
public interface TensorMemory {

    /** Largest window the kernels ask for: 1 GiB, well inside a NIO buffer's reach whatever the element size. */
    long MAX_WINDOW_BYTES = 1L << 30;

    /** @return the number of elements */
    long length();

    /** @return bytes per element: 4 for FLOAT, 8 for DOUBLE, 2 for HALF and BFLOAT16 */
    int elementBytes();

    /**
     * Elements {@code [first, first + count)} as a native-order buffer whose byte 0 is element {@code first}.
     * Called once per window of a pass, never per element.
     *
     * @param first first element
     * @param count elements, at most {@link #MAX_WINDOW_BYTES} bytes' worth (more is allowed only when the whole
     *              tensor fits one NIO buffer)
     * @return the window
     */
    ByteBuffer window(long first, long count);

    /**
     * Elements {@code [first, first + count)} of this tensor as a tensor of their own: one ghost batch of a
     * mini-batch, say. Its windows are this tensor's, shifted.
     *
     * @param first first element
     * @param count elements
     * @return the range, or this memory when it is the whole tensor
     */
    default TensorMemory range(long first, long count) {
        if (first == 0 && count == length()) {
            return this;
        }
        if (first < 0 || count < 0 || first + count > length()) {
            throw new IllegalArgumentException("elements [" + first + ", " + (first + count) + ") of a tensor of " + length());
        }
        TensorMemory all = this;
        return new TensorMemory() {
            @Override
            public long length() {
                return count;
            }

            @Override
            public int elementBytes() {
                return all.elementBytes();
            }

            @Override
            public ByteBuffer window(long from, long values) {
                return all.window(first + from, values);
            }
        };
    }

    /**
     * Memory over a buffer that holds the whole tensor: elements {@code [base, base + length)} of {@code bytes}.
     *
     * @param bytes        the buffer (its order is ignored: elements are native order)
     * @param base         element index of the tensor's first element in {@code bytes}
     * @param length       elements of the tensor
     * @param elementBytes bytes per element
     * @return the memory
     */
    static TensorMemory of(ByteBuffer bytes, int base, long length, int elementBytes) {
        if ((base + length) * elementBytes > bytes.capacity()) {
            throw new IllegalArgumentException("elements [" + base + ", " + (base + length) + ") of "
                    + elementBytes + " bytes do not fit a buffer of " + bytes.capacity() + " bytes");
        }
        ByteBuffer whole = bytes.duplicate().order(ByteOrder.nativeOrder());
        return new TensorMemory() {
            @Override
            public long length() {
                return length;
            }

            @Override
            public int elementBytes() {
                return elementBytes;
            }

            @Override
            public ByteBuffer window(long first, long count) {
                if (first == 0 && count == length && base == 0 && bytes.capacity() == length * elementBytes) {
                    return whole;
                }
                return whole.slice((int) ((base + first) * elementBytes), (int) (count * elementBytes))
                        .order(ByteOrder.nativeOrder());
            }
        };
    }
}
