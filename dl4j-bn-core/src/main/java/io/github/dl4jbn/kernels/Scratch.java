package io.github.dl4jbn.kernels;

import java.util.HashMap;
import java.util.Map;

/**
 * Working arrays reused from call to call, one set per thread, each of an exact length. A fresh array of a few
 * KiB costs about 0.1 us per KiB here (new memory, cold in every cache), as much as the pass itself over a
 * small tensor: a [256, 1024] inference allocated 78 KB per call before these.
 *
 * <p>An array is named by its slot and its length, so layers of different widths keep their own arrays. Its
 * contents are whatever its last use left: callers that need zeros clear it. A thread uses a slot for one
 * purpose at a time; arrays that a call shares with the {@link PassThreads} helpers belong to the calling
 * thread, and the helpers only use them while the call waits for its pass.
 */
final class Scratch {

    /** Float slots of a kernel call (calling thread). */
    static final int SCALE = 0;
    static final int CENTER = 1;
    static final int SHIFT = 2;
    static final int SLOPE = 3;
    /** Float slots of the passes: per-position coefficient rows (calling thread), accumulators (running thread). */
    static final int ROW_A = 4;
    static final int ROW_B = 5;
    static final int ROW_K = 6;
    static final int ROW_D = 7;
    static final int SUM_1 = 8;
    static final int SUM_2 = 9;
    /** Double slots: chunk {@code i}'s sums are slots {@code 2i} and {@code 2i + 1} of the calling thread. */
    static final int CHUNK_SUMS = 0;
    /**
     * Slots of arrays of at least a length ({@link #atLeast}), running thread: 0 to 6 are {@link HeapChunkPasses}'
     * chunk copies and expanded rows, {@code EDGES} the head and tail vectors of {@code VectorPasses}' rows.
     */
    static final int EDGES = 7;

    private static final ThreadLocal<Scratch> OF_THREAD = ThreadLocal.withInitial(Scratch::new);

    private final Map<Integer, float[][]> floats = new HashMap<>();
    private final Map<Integer, double[][]> doubles = new HashMap<>();
    private int lastFloatLength = -1;           // the slots looked up last: calls repeat lengths
    private float[][] lastFloats;
    private int lastDoubleLength = -1;
    private double[][] lastDoubles;
    private final float[][] atLeast = new float[EDGES + 1][0];

    private Scratch() {
    }

    /**
     * This thread's float array of {@code length} values in {@code slot}, as its last use left it.
     *
     * @param slot   one of the float slot constants
     * @param length exact length
     * @return the array
     */
    static float[] floats(int slot, int length) {
        Scratch scratch = OF_THREAD.get();
        float[][] slots = scratch.lastFloats;
        if (scratch.lastFloatLength != length) {
            slots = scratch.floats.computeIfAbsent(length, n -> new float[SUM_2 + 1][]);
            scratch.lastFloats = slots;
            scratch.lastFloatLength = length;
        }
        if (slots[slot] == null) {
            slots[slot] = new float[length];
        }
        return slots[slot];
    }

    /**
     * This thread's float array in {@code slot} of at least {@code length} values, for arrays used in part
     * (chunks of varying size); apart from the exact-length slots, so it does not evict the last length looked up.
     *
     * @param slot   0 to {@link #EDGES}
     * @param length least length
     * @return the array
     */
    static float[] atLeast(int slot, int length) {
        float[][] slots = OF_THREAD.get().atLeast;
        if (slots[slot].length < length) {
            slots[slot] = new float[length];
        }
        return slots[slot];
    }

    /**
     * This thread's double array of {@code length} values in {@code slot} (any slot number), as its last use
     * left it.
     *
     * @param slot   slot number, at least 0
     * @param length exact length
     * @return the array
     */
    static double[] doubles(int slot, int length) {
        Scratch scratch = OF_THREAD.get();
        double[][] slots = scratch.lastDoubleLength == length ? scratch.lastDoubles : scratch.doubles.get(length);
        if (slots == null || slots.length <= slot) {
            double[][] grown = new double[Math.max(slot + 1, slots == null ? 8 : 2 * slots.length)][];
            if (slots != null) {
                System.arraycopy(slots, 0, grown, 0, slots.length);
            }
            scratch.doubles.put(length, grown);
            slots = grown;
        }
        scratch.lastDoubles = slots;
        scratch.lastDoubleLength = length;
        if (slots[slot] == null) {
            slots[slot] = new double[length];
        }
        return slots[slot];
    }
}
