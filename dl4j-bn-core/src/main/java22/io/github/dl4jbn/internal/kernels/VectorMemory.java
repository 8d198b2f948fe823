package io.github.dl4jbn.internal.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * How {@link VectorLoops} reaches native memory on JDK 22 and later, where the foreign memory API is final:
 * through memory segments. This is the multi-release jar's JDK 22 version of the class (the base one reads NIO
 * buffers, JDK 17 and 18). A window buffer becomes a segment with {@code MemorySegment.ofBuffer}: no restricted
 * method, so no {@code --enable-native-access} is needed.
 */
final class VectorMemory {

    /** @return how windows are read, for logs (a method: a constant would be copied into its callers at compile time) */
    static String name() {
        return "JDK Vector API on memory segments";
    }

    private static final VectorSpecies<Float> S = VectorLoops.S;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(NATIVE);

    private VectorMemory() {
    }

    /** Everything this class uses is in JDK 22's API. */
    static void check() {
    }

    static Object open(ByteBuffer window) {
        return MemorySegment.ofBuffer(window);
    }

    static FloatVector load(Object w, int offset) {
        return FloatVector.fromMemorySegment(S, (MemorySegment) w, offset, NATIVE);
    }

    static void store(FloatVector v, Object w, int offset) {
        v.intoMemorySegment((MemorySegment) w, offset, NATIVE);
    }

    static float get(Object w, int offset) {
        return ((MemorySegment) w).get(FLOAT, offset);
    }

    static void put(Object w, int offset, float value) {
        ((MemorySegment) w).set(FLOAT, offset, value);
    }
}
