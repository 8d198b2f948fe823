package io.github.dl4jbn.kernels;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Choosing the kernels: passes that cannot run on this JVM (as the Vector API ones on JDK 19 and later, whose
 * ByteBuffer vector access is gone) fall back to the heap passes instead of failing at the first layer call.
 */
class KernelLoadTest {

    /** Passes whose constructor finds this JVM unfit, as {@link VectorPasses}' does on JDK 19 and later. */
    public static final class UnfitPasses implements FloatPasses {
        public UnfitPasses() {
            throw new UnsupportedOperationException("not on this JVM");
        }

        @Override
        public FloatBatchNormKernels.Sums sums(ByteBuffer x, int xBase, ByteBuffer dy, int dyBase, ChannelView view,
                                               float[] k) {
            throw new AssertionError("never constructed");
        }

        @Override
        public void affine(ByteBuffer u, int uBase, ByteBuffer v, int vBase, float[] a, float[] b, float[] k,
                           float[] d, ChannelView view, ByteBuffer out, int outBase) {
            throw new AssertionError("never constructed");
        }
    }

    @Test
    void passesUnfitForThisJvmAreNotChosen() {
        assertNull(FloatBatchNormKernels.load(UnfitPasses.class.getName(), "unfit"));
    }

    @Test
    void missingPassesAreNotChosen() {
        assertNull(FloatBatchNormKernels.load("io.github.dl4jbn.kernels.NoSuchPasses", "missing"));
    }

    @Test
    void vectorPassesLoadWhereTheirApiIsPresent() {
        boolean module = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        boolean byteBufferAccess = module && Runtime.version().feature() < 19;
        FloatBatchNormKernels loaded = FloatBatchNormKernels.load("io.github.dl4jbn.kernels.VectorPasses", "vector");
        assertEquals(byteBufferAccess, loaded != null, "module present: " + module + ", Java " + Runtime.version());
        assertEquals(byteBufferAccess, FloatBatchNormKernels.VECTOR != null);
        assertNotNull(FloatBatchNormKernels.best());
    }
}
