package io.github.dl4jbn.internal.kernels;

import java.util.HashMap;
import java.util.Map;

/**
 * Working arrays reused from call to call, one set per thread: a fresh array is new memory, cold in every cache,
 * and costs as much as a pass over a small tensor. What a thread keeps is O(channels + one piece), never
 * O(tensor).
 *
 * <p>Exact-length arrays are named by slot and length, so layers of different widths keep their own; arrays
 * of at least a length (pieces of varying size) by slot alone. Contents are whatever the last use left: callers
 * that need zeros clear them. Arrays a call shares with the {@link PassThreads} helpers belong to the calling
 * thread, and the helpers only use them while the call waits for its pass.
 */
final class Scratch {

    /** Exact-length float slots of a call (calling thread): per-channel coefficients. */
    static final int CENTRE = 0;
    static final int COEFF_A = 1;
    static final int COEFF_B = 2;
    static final int COEFF_D = 3;
    /** Exact-length float slots: coefficients repeated per position of a row (calling thread). */
    static final int ROW_A = 4;
    static final int ROW_B = 5;
    static final int ROW_K = 6;
    static final int ROW_D = 7;
    /** Exact-length float slots: row accumulators (running thread). */
    static final int SUM_1 = 8;
    static final int SUM_2 = 9;
    private static final int FLOAT_SLOTS = 10;

    /** Exact-length double slots of a kernel call (calling thread): centres, sums, coefficients. */
    static final int CALL_CENTRE = 0;
    static final int CALL_S1 = 1;
    static final int CALL_S2 = 2;
    static final int CALL_A = 3;
    static final int CALL_B = 4;
    static final int CALL_D = 5;
    /** Double slots: chunk i's sums are slots {@code CHUNK_SUMS + 2i} and {@code CHUNK_SUMS + 2i + 1} (calling thread). */
    static final int CHUNK_SUMS = 8;

    /**
     * Slots of arrays of at least a length (running thread): {@link HeapLoops}' pieces ({@code PIECE_*}),
     * {@code VectorLoops}' row edges and per-channel plane accumulators.
     */
    static final int PIECE_X = 0;
    static final int PIECE_DY = 1;
    static final int PIECE_OUT = 2;
    static final int PIECE_MASK = 3;
    static final int PIECE_SUM_1 = 4;
    static final int PIECE_SUM_2 = 5;
    static final int PIECE_A = 6;
    static final int PIECE_B = 7;
    static final int PIECE_K = 8;
    static final int PIECE_D = 9;
    static final int EDGES = 10;
    static final int PLANE_LANES = 11;
    private static final int AT_LEAST_SLOTS = 12;

    private static final ThreadLocal<Scratch> OF_THREAD = ThreadLocal.withInitial(Scratch::new);

    private final Map<Integer, float[][]> floats = new HashMap<>();
    private final Map<Integer, double[][]> doubles = new HashMap<>();
    private int lastFloatLength = -1;           // the slots looked up last: calls repeat lengths
    private float[][] lastFloats;
    private int lastDoubleLength = -1;
    private double[][] lastDoubles;
    private final float[][] atLeast = new float[AT_LEAST_SLOTS][0];
    private short[] shorts = new short[0];
    private int[] ints = new int[0];

    private Scratch() {
    }

    /**
     * This thread's float array of {@code length} values in {@code slot}, as its last use left it.
     *
     * @param slot   one of the exact-length float slot constants
     * @param length exact length
     * @return the array
     */
    static float[] floats(int slot, int length) {
        Scratch scratch = OF_THREAD.get();
        float[][] slots = scratch.lastFloats;
        if (scratch.lastFloatLength != length) {
            slots = scratch.floats.computeIfAbsent(length, n -> new float[FLOAT_SLOTS][]);
            scratch.lastFloats = slots;
            scratch.lastFloatLength = length;
        }
        if (slots[slot] == null) {
            slots[slot] = new float[length];
        }
        return slots[slot];
    }

    /**
     * This thread's float array in {@code slot} of at least {@code length} values, for arrays used in part;
     * apart from the exact-length slots, so it does not evict the last length looked up.
     *
     * @param slot   one of the at-least slot constants
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
     * This thread's short array of at least {@code length} values (16-bit elements on their way to float).
     *
     * @param length least length
     * @return the array
     */
    static short[] shorts(int length) {
        Scratch scratch = OF_THREAD.get();
        if (scratch.shorts.length < length) {
            scratch.shorts = new short[length];
        }
        return scratch.shorts;
    }

    /**
     * This thread's int array of at least {@code length} values (per-channel counts).
     *
     * @param length least length
     * @return the array
     */
    static int[] ints(int length) {
        Scratch scratch = OF_THREAD.get();
        if (scratch.ints.length < length) {
            scratch.ints = new int[length];
        }
        return scratch.ints;
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
