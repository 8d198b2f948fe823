package io.github.dl4jbn.internal.kernels;

import io.github.dl4jbn.internal.kernels.PassScheduler.Sums;
import io.github.dl4jbn.internal.kernels.PassScheduler.Windows;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Choosing the kernels: which Vector API loops each JDK may run, in order, and a fall back to the plain loops
 * when a candidate cannot load or run, instead of a failure at the first layer call. The build tells each test
 * JVM what it must get ({@code -Ddl4jbn.test.expectedKernels}): the JDK 17 run the NIO-buffer loops, the JDK 25
 * run (from the multi-release jar) the memory-segment ones.
 */
class KernelLoadTest {

    /** Loops whose constructor finds this JVM unfit, as VectorLoops' does on JDK 19 and later without the JDK 22 classes. */
    public static final class UnfitLoops implements FloatLoops<ByteBuffer> {
        public UnfitLoops() {
            throw new UnsupportedOperationException("not on this JVM");
        }

        @Override
        public int lanes() {
            throw new AssertionError("never constructed");
        }

        @Override
        public ByteBuffer open(ByteBuffer window) {
            throw new AssertionError("never constructed");
        }

        @Override
        public void planeSums(PassLayout layout, long from, long to, Windows<ByteBuffer> w, float[] k, Sums out) {
            throw new AssertionError("never constructed");
        }

        @Override
        public void rowSums(PassLayout layout, long from, long to, Windows<ByteBuffer> w, float[] k, Sums out) {
            throw new AssertionError("never constructed");
        }

        @Override
        public void planeAffine(PassLayout layout, long from, long to, Windows<ByteBuffer> w, float[] a, float[] b,
                                float[] k, float[] d) {
            throw new AssertionError("never constructed");
        }

        @Override
        public void blockAffine(PassLayout layout, long from, long to, Windows<ByteBuffer> w, float[] a, float[] b,
                                float[] k, float[] d) {
            throw new AssertionError("never constructed");
        }

        @Override
        public void rowAffine(PassLayout layout, long from, long to, Windows<ByteBuffer> w, float[] a, float[] b,
                              float[] k, float[] d) {
            throw new AssertionError("never constructed");
        }
    }

    @Test
    void loopsUnfitForThisJvmAreNotChosen() {
        assertNull(KernelProvider.load(new KernelProvider.Candidate(UnfitLoops.class.getName(), "unfit")));
    }

    @Test
    void missingLoopsAreNotChosen() {
        assertNull(KernelProvider.load(new KernelProvider.Candidate("io.github.dl4jbn.internal.kernels.NoSuchLoops", "missing")));
    }

    /** JDK 17-18: NIO buffers; 19-21 (memory API in preview): none, so the plain loops; 22 on: memory segments. */
    @Test
    void eachJdkGetsTheVectorLoopsItsApiAllows() {
        for (int feature : new int[]{17, 18}) {
            assertEquals(List.of("JDK Vector API on NIO buffers"), names(feature, true), "JDK " + feature);
        }
        for (int feature : new int[]{19, 20, 21}) {
            assertEquals(List.of(), names(feature, true), "JDK " + feature);
        }
        for (int feature : new int[]{22, 25, 30}) {
            assertEquals(List.of("JDK Vector API on memory segments"), names(feature, true), "JDK " + feature);
        }
        assertEquals(List.of(), names(25, false), "without jdk.incubator.vector");
    }

    private static List<String> names(int feature, boolean module) {
        KernelProvider.Candidate candidate = KernelProvider.candidate(feature, module);
        return candidate == null ? List.of() : List.of(candidate.name());
    }

    /** -Ddl4jbn.kernels: its three values in any case, and anything else refused naming them. */
    @Test
    void theKernelPropertyAcceptsItsThreeValuesAndRefusesOthersNamingThem() {
        assertEquals(KernelSetting.AUTO, KernelSetting.of(""));
        assertEquals(KernelSetting.AUTO, KernelSetting.of("Auto"));
        assertEquals(KernelSetting.PLAIN, KernelSetting.of(" plain "));
        assertEquals(KernelSetting.ND4J, KernelSetting.of("ND4J"));
        for (String bad : new String[]{"vector", "false", "cuda"}) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> KernelSetting.of(bad));
            assertEquals("-Ddl4jbn.kernels=" + bad + " is not a kernel choice: use auto (the default), plain or nd4j",
                    e.getMessage());
        }
    }

    /** What the build expects this JVM to run: "buffers", "segments" or "plain"; unchecked where unset. */
    @Test
    void thisJvmRunsTheKernelsTheBuildExpects() {
        String expected = System.getProperty("dl4jbn.test.expectedKernels");
        String chosen = KernelProvider.bestFloat().name();
        if (expected == null) {
            return;
        }
        switch (expected) {
            case "buffers":
                assertTrue(chosen.contains("NIO buffers"), chosen);
                break;
            case "segments":
                assertTrue(chosen.contains("memory segments"), chosen + " (is the multi-release part in the jar?)");
                break;
            default:
                assertEquals("plain Java", chosen);
        }
    }
}
