package io.github.dl4jbn.internal.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * How {@link VectorLoops} reaches native memory on this JDK: through NIO buffers, the Vector API's only way on
 * JDK 17 and 18. The multi-release jar holds another version of this class for JDK 22 and later
 * ({@code META-INF/versions/22}), on memory segments: JDK 19 replaced the ByteBuffer loads and stores by
 * MemorySegment ones. Static methods, so every call binds at compile time and C2 keeps the vectors in registers.
 * A window is passed as Object: this class alone knows what it is.
 */
final class VectorMemory {

    /** @return how windows are read, for logs (a method: a constant would be copied into its callers at compile time) */
    static String name() {
        return "JDK Vector API on NIO buffers";
    }

    private static final VectorSpecies<Float> S = VectorLoops.S;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private VectorMemory() {
    }

    /**
     * @throws UnsupportedOperationException on a JDK whose Vector API has no ByteBuffer loads and stores (every
     *                                       loop would otherwise fail at its first call with NoSuchMethodError)
     */
    static void check() {
        try {
            FloatVector.class.getMethod("fromByteBuffer", VectorSpecies.class, ByteBuffer.class, int.class, ByteOrder.class);
            FloatVector.class.getMethod("intoByteBuffer", ByteBuffer.class, int.class, ByteOrder.class);
        } catch (NoSuchMethodException e) {
            throw new UnsupportedOperationException("the Vector API of Java " + Runtime.version().feature()
                    + " has no ByteBuffer loads and stores (JDK 19 replaced them by MemorySegment ones)", e);
        }
    }

    static Object open(ByteBuffer window) {
        return window;
    }

    static FloatVector load(Object w, int offset) {
        return FloatVector.fromByteBuffer(S, (ByteBuffer) w, offset, NATIVE);
    }

    static void store(FloatVector v, Object w, int offset) {
        v.intoByteBuffer((ByteBuffer) w, offset, NATIVE);
    }

    static float get(Object w, int offset) {
        return ((ByteBuffer) w).getFloat(offset);
    }

    static void put(Object w, int offset, float value) {
        ((ByteBuffer) w).putFloat(offset, value);
    }
}
