package io.github.dl4jbn.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import static io.github.dl4jbn.kernels.FloatBatchNormKernels.overRows;
import static io.github.dl4jbn.kernels.FloatBatchNormKernels.overUnits;
import static io.github.dl4jbn.kernels.FloatBatchNormKernels.sumOverRows;
import static io.github.dl4jbn.kernels.FloatBatchNormKernels.sumOverUnits;

/**
 * The float passes with the JDK Vector API, reading and writing the buffers themselves (no heap round trip).
 * Channels-first planes run one channel's coefficients broadcast along the plane; channels-last rows run
 * per-channel coefficient and accumulator arrays, a vector of channels at a time. Loaded only when the JVM
 * has jdk.incubator.vector (see {@link FloatBatchNormKernels#best()}).
 */
final class VectorPasses implements FloatPasses {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    /** Values of one channels-first plane accumulated in float before flushing into double. */
    private static final int FLUSH_VALUES = 1024;
    /** Rows of a channels-last tensor accumulated in float before flushing into double. */
    private static final int FLUSH_ROWS = 128;
    /**
     * Channels-first planes shorter than this (NCW with short sequences) run their sums as whole rows of C planes
     * against per-element accumulators, so the vectors do not stop at every short plane.
     */
    private static final int SHORT_PLANE = 4 * S.length();
    /**
     * The affine pass runs planes down to this length: it ends a plane with one vector overlapping the last full
     * one (so no scalar tail), which costs little once a plane holds two vectors.
     */
    private static final int SHORT_AFFINE_PLANE = 2 * S.length();
    /** {@code L} zeros then {@code L} ones: a window of it weighs the lanes of an overlapping tail vector. */
    private static final float[] ZEROS_THEN_ONES = new float[2 * S.length()];

    static {
        Arrays.fill(ZEROS_THEN_ONES, S.length(), 2 * S.length(), 1f);
    }

    /** Runs at least this long store aligned vectors (see {@link #affineFourRows}). */
    private static final int ALIGNED_RUN = 8 * S.length();
    /** Longest row (C x inner values) run that way: its coefficient and accumulator arrays stay in cache. */
    private static final int MAX_ROW = 1 << 14;

    /**
     * Public for the reflective load in {@link FloatBatchNormKernels}.
     *
     * @throws UnsupportedOperationException on a JDK whose Vector API has no ByteBuffer loads and stores (JDK 19
     *                                       and later replaced them by MemorySegment ones): every pass would
     *                                       otherwise fail at its first call with NoSuchMethodError
     */
    public VectorPasses() {
        try {
            FloatVector.class.getMethod("fromByteBuffer", VectorSpecies.class, ByteBuffer.class, int.class, ByteOrder.class);
            FloatVector.class.getMethod("intoByteBuffer", ByteBuffer.class, int.class, ByteOrder.class);
        } catch (NoSuchMethodException e) {
            throw new UnsupportedOperationException("the Vector API of Java " + Runtime.version().feature()
                    + " has no ByteBuffer loads and stores, which these kernels use; JDK 19 replaced them by"
                    + " MemorySegment ones", e);
        }
    }

    /** Both passes' sums (see {@link #planeSums}); {@code dy == null} selects the statistics'. */
    @Override
    public FloatBatchNormKernels.Sums sums(ByteBuffer x, int xBase, ByteBuffer dy, int dyBase,
                                           ChannelView view, float[] k) {
        int channels = view.channels();
        int inner = view.inner();
        if (rowWise(view, SHORT_PLANE)) {
            float[] kr = expand(k, inner, Scratch.ROW_K);
            return sumOverUnits(view.outer(), view.size(), channels, kr.length,
                    (from, to, out) -> rowSums(x, xBase, dy, dyBase, kr.length, inner, from, to, kr, out));
        }
        return sumOverRows(view, (from, to, out) -> {
            for (int p = from; p < to; p++) {
                planeSums(x, 4 * (xBase + p * inner), dy, 4 * (dyBase + p * inner), inner, k[p % channels],
                        p % channels, out);
            }
        });
    }

    // Vectors stay in locals of one method, so C2 keeps them in registers (stored in arrays or passed through an
    // interface they are boxed, and run several times slower); dy == null selects the statistics' sums.

    /**
     * One channels-first plane, in float blocks flushed into double: {@code sum(x - k)} and {@code sum((x - k)^2)}
     * when {@code dy} is null, else {@code sum(dy)} and {@code sum(dy * (x - k))}.
     */
    private static void planeSums(ByteBuffer x, int xOff, ByteBuffer dy, int dyOff, int inner, float k, int c,
                                  FloatBatchNormKernels.Sums out) {
        FloatVector kv = FloatVector.broadcast(S, k);
        for (int i0 = 0; i0 < inner; i0 += FLUSH_VALUES) {
            int i1 = Math.min(inner, i0 + FLUSH_VALUES);
            FloatVector s1 = FloatVector.zero(S);
            FloatVector s2 = FloatVector.zero(S);
            float t1 = 0;
            float t2 = 0;
            int i = i0;
            for (int bound = i0 + S.loopBound(i1 - i0); i < bound; i += S.length()) {
                FloatVector d = FloatVector.fromByteBuffer(S, x, xOff + 4 * i, NATIVE).sub(kv);
                FloatVector g = dy == null ? d : FloatVector.fromByteBuffer(S, dy, dyOff + 4 * i, NATIVE);
                s1 = s1.add(g);
                s2 = g.fma(d, s2);
            }
            for (; i < i1; i++) {
                float d = x.getFloat(xOff + 4 * i) - k;
                float g = dy == null ? d : dy.getFloat(dyOff + 4 * i);
                t1 += g;
                t2 += g * d;
            }
            out.a[c] += s1.reduceLanes(VectorOperators.ADD) + t1;
            out.b[c] += s2.reduceLanes(VectorOperators.ADD) + t2;
        }
    }

    /** Whether a view runs row by row: channels-last, or channels-first with planes shorter than {@code shortPlane}. */
    private static boolean rowWise(ChannelView view, int shortPlane) {
        return view.inner() == 1 || (view.inner() < shortPlane && view.channels() * view.inner() <= MAX_ROW);
    }

    /** Per-channel values repeated along each channel's plane: a row of C x inner values, in a scratch slot. */
    private static float[] expand(float[] perChannel, int inner, int slot) {
        if (inner == 1) {
            return perChannel;
        }
        float[] row = Scratch.floats(slot, perChannel.length * inner);
        for (int c = 0; c < perChannel.length; c++) {
            Arrays.fill(row, c * inner, (c + 1) * inner, perChannel[c]);
        }
        return row;
    }

    /**
     * Rows [from, to) of {@code channels} values (C, or C x inner for short planes): float accumulators per
     * position, four rows per accumulator update, flushed into double every FLUSH_ROWS rows; the same sums as
     * {@link #planeSums}.
     */
    private static void rowSums(ByteBuffer x, int xBase, ByteBuffer dy, int dyBase, int channels, int inner,
                                int from, int to, float[] k, FloatBatchNormKernels.Sums out) {
        float[] s1 = Scratch.floats(Scratch.SUM_1, channels);           // this thread's
        float[] s2 = Scratch.floats(Scratch.SUM_2, channels);
        for (int r = from; r < to; ) {
            int flushAt = Math.min(to, r + FLUSH_ROWS);
            Arrays.fill(s1, 0f);
            Arrays.fill(s2, 0f);
            for (; r + 4 <= flushAt; r += 4) {
                fourRowSums(x, 4 * (xBase + r * channels), dy, 4 * (dyBase + r * channels), channels, k, s1, s2);
            }
            for (; r < flushAt; r++) {
                oneRowSums(x, 4 * (xBase + r * channels), dy, 4 * (dyBase + r * channels), channels, k, s1, s2);
            }
            flush(s1, s2, inner, out);
        }
    }

    /**
     * Four consecutive rows into the accumulators: one load and store of each accumulator per four rows. A row
     * of at least one vector ends with a vector overlapping the one before it; its lanes already counted get
     * weight 0 (see {@link #tailWeights}).
     */
    private static void fourRowSums(ByteBuffer x, int xOff, ByteBuffer dy, int dyOff, int channels, float[] k,
                                    float[] s1, float[] s2) {
        int rowBytes = 4 * channels;
        int end = channels >= S.length() ? channels : 0;
        for (int i = 0; i < end; i += S.length()) {
            int c = Math.min(i, channels - S.length());
            FloatVector w = tailWeights(i - c);
            FloatVector kv = FloatVector.fromArray(S, k, c);
            int xc = xOff + 4 * c;
            int dyc = dyOff + 4 * c;
            FloatVector d0 = FloatVector.fromByteBuffer(S, x, xc, NATIVE).sub(kv);
            FloatVector d1 = FloatVector.fromByteBuffer(S, x, xc + rowBytes, NATIVE).sub(kv);
            FloatVector d2 = FloatVector.fromByteBuffer(S, x, xc + 2 * rowBytes, NATIVE).sub(kv);
            FloatVector d3 = FloatVector.fromByteBuffer(S, x, xc + 3 * rowBytes, NATIVE).sub(kv);
            FloatVector g0 = dy == null ? d0 : FloatVector.fromByteBuffer(S, dy, dyc, NATIVE);
            FloatVector g1 = dy == null ? d1 : FloatVector.fromByteBuffer(S, dy, dyc + rowBytes, NATIVE);
            FloatVector g2 = dy == null ? d2 : FloatVector.fromByteBuffer(S, dy, dyc + 2 * rowBytes, NATIVE);
            FloatVector g3 = dy == null ? d3 : FloatVector.fromByteBuffer(S, dy, dyc + 3 * rowBytes, NATIVE);
            g0.add(g1).add(g2.add(g3)).fma(w, FloatVector.fromArray(S, s1, c)).intoArray(s1, c);
            g0.fma(d0, g1.mul(d1)).add(g2.fma(d2, g3.mul(d3))).fma(w, FloatVector.fromArray(S, s2, c)).intoArray(s2, c);
        }
        for (int row = 0; row < 4; row++) {
            scalarSums(x, xOff + row * rowBytes, dy, dyOff + row * rowBytes, end, channels, k, s1, s2);
        }
    }

    /** One row into the accumulators, as {@link #fourRowSums}. */
    private static void oneRowSums(ByteBuffer x, int xOff, ByteBuffer dy, int dyOff, int channels, float[] k,
                                   float[] s1, float[] s2) {
        int end = channels >= S.length() ? channels : 0;
        for (int i = 0; i < end; i += S.length()) {
            int c = Math.min(i, channels - S.length());
            FloatVector w = tailWeights(i - c);
            FloatVector d = FloatVector.fromByteBuffer(S, x, xOff + 4 * c, NATIVE).sub(FloatVector.fromArray(S, k, c));
            FloatVector g = dy == null ? d : FloatVector.fromByteBuffer(S, dy, dyOff + 4 * c, NATIVE);
            g.fma(w, FloatVector.fromArray(S, s1, c)).intoArray(s1, c);
            g.mul(d).fma(w, FloatVector.fromArray(S, s2, c)).intoArray(s2, c);
        }
        scalarSums(x, xOff, dy, dyOff, end, channels, k, s1, s2);
    }

    /** Lane weights of a vector whose first {@code counted} lanes were counted by the vector before it: 0, then 1. */
    private static FloatVector tailWeights(int counted) {
        return FloatVector.fromArray(S, ZEROS_THEN_ONES, S.length() - counted);
    }

    /** Positions [from, to) of one row, the tail no vector covers. */
    private static void scalarSums(ByteBuffer x, int xOff, ByteBuffer dy, int dyOff, int from, int to, float[] k,
                                   float[] s1, float[] s2) {
        for (int c = from; c < to; c++) {
            float d = x.getFloat(xOff + 4 * c) - k[c];
            float g = dy == null ? d : dy.getFloat(dyOff + 4 * c);
            s1[c] += g;
            s2[c] += g * d;
        }
    }

    /** Adds row accumulators into per-channel double sums; positions [c * inner, (c + 1) * inner) are channel c's. */
    private static void flush(float[] s1, float[] s2, int inner, FloatBatchNormKernels.Sums out) {
        if (inner == 1) {
            for (int c = 0; c < s1.length; c++) {
                out.a[c] += s1[c];
                out.b[c] += s2[c];
            }
        } else {
            for (int c = 0, j = 0; c < out.a.length; c++) {
                double a = 0;
                double b = 0;
                for (int end = j + inner; j < end; j++) {
                    a += s1[j];
                    b += s2[j];
                }
                out.a[c] += a;
                out.b[c] += b;
            }
        }
    }

    @Override
    public void affine(ByteBuffer u, int uBase, ByteBuffer v, int vBase, float[] a, float[] b, float[] k, float[] d,
                       ChannelView view, ByteBuffer out, int outBase) {
        int channels = view.channels();
        int inner = view.inner();
        if (rowWise(view, SHORT_AFFINE_PLANE)) {
            float[] ar = u == null ? a : expand(a, inner, Scratch.ROW_A);       // not read without u
            float[] br = expand(b, inner, Scratch.ROW_B);
            float[] kr = expand(k, inner, Scratch.ROW_K);
            float[] dr = expand(d, inner, Scratch.ROW_D);
            int row = br.length;
            overUnits(view.outer(), view.size(), (from, to) -> {
                float[] edges = Scratch.atLeast(Scratch.EDGES, 8 * S.length());   // this thread's
                int r = from;
                for (; r + 4 <= to; r += 4) {
                    affineFourRows(u, 4 * (uBase + r * row), v, 4 * (vBase + r * row), ar, br, kr, dr, row, out,
                            4 * (outBase + r * row), edges);
                }
                for (; r < to; r++) {
                    affineRow(u, 4 * (uBase + r * row), v, 4 * (vBase + r * row), ar, br, kr, dr, row, out,
                            4 * (outBase + r * row));
                }
            });
            return;
        }
        if (inner < ALIGNED_RUN && view.outer() >= 4) {
            // short planes: a channel's planes in four consecutive rows at a time, its coefficients broadcast once
            int rowValues = channels * inner;
            int blocks = view.outer() / 4;
            overUnits(blocks * channels, 4 * blocks * rowValues, (from, to) -> {
                for (int unit = from; unit < to; unit++) {
                    int block = unit / channels;
                    int c = unit - block * channels;
                    int at = 4 * block * rowValues + c * inner;
                    affineFourPlanes(u, 4 * (uBase + at), v, 4 * (vBase + at), a, b, k, d, c, inner, 4 * rowValues,
                            out, 4 * (outBase + at));
                }
            });
            for (int p = 4 * blocks * channels; p < view.outer() * channels; p++) {      // the last rows, if any
                affinePlane(u, 4 * (uBase + p * inner), v, 4 * (vBase + p * inner), a, b, k, d, p % channels,
                        inner, out, 4 * (outBase + p * inner));
            }
            return;
        }
        overRows(view, (from, to) -> {
            for (int p = from; p < to; p++) {
                affinePlane(u, 4 * (uBase + p * inner), v, 4 * (vBase + p * inner), a, b, k, d, p % channels,
                        inner, out, 4 * (outBase + p * inner));
            }
        });
    }

    /**
     * Channel {@code c}'s planes of {@code n >= L} values in four consecutive rows, {@code stride} bytes apart, as
     * {@link #affinePlane}: 25% faster than plane by plane on NCW [32, 128, 50] (the broadcasts and the loop's
     * set-up shared by four planes). Long planes stay one at a time: four streams a row apart ran 1.8x slower on
     * NCHW [32, 64, 32, 32].
     */
    private static void affineFourPlanes(ByteBuffer u, int uOff, ByteBuffer v, int vOff, float[] a, float[] b,
                                         float[] k, float[] d, int c, int n, int stride, ByteBuffer out, int outOff) {
        FloatVector av = FloatVector.broadcast(S, u == null ? 0f : a[c]);
        FloatVector bv = FloatVector.broadcast(S, b[c]);
        FloatVector kv = FloatVector.broadcast(S, k[c]);
        FloatVector dv = FloatVector.broadcast(S, d[c]);
        int last = 4 * (n - S.length());
        FloatVector t0 = FloatVector.fromByteBuffer(S, v, vOff + last, NATIVE).sub(kv).fma(bv, dv);
        FloatVector t1 = FloatVector.fromByteBuffer(S, v, vOff + last + stride, NATIVE).sub(kv).fma(bv, dv);
        FloatVector t2 = FloatVector.fromByteBuffer(S, v, vOff + last + 2 * stride, NATIVE).sub(kv).fma(bv, dv);
        FloatVector t3 = FloatVector.fromByteBuffer(S, v, vOff + last + 3 * stride, NATIVE).sub(kv).fma(bv, dv);
        if (u != null) {
            t0 = FloatVector.fromByteBuffer(S, u, uOff + last, NATIVE).fma(av, t0);
            t1 = FloatVector.fromByteBuffer(S, u, uOff + last + stride, NATIVE).fma(av, t1);
            t2 = FloatVector.fromByteBuffer(S, u, uOff + last + 2 * stride, NATIVE).fma(av, t2);
            t3 = FloatVector.fromByteBuffer(S, u, uOff + last + 3 * stride, NATIVE).fma(av, t3);
        }
        for (int i = 0; i < n - S.length(); i += S.length()) {
            int vi = vOff + 4 * i;
            FloatVector y0 = FloatVector.fromByteBuffer(S, v, vi, NATIVE).sub(kv).fma(bv, dv);
            FloatVector y1 = FloatVector.fromByteBuffer(S, v, vi + stride, NATIVE).sub(kv).fma(bv, dv);
            FloatVector y2 = FloatVector.fromByteBuffer(S, v, vi + 2 * stride, NATIVE).sub(kv).fma(bv, dv);
            FloatVector y3 = FloatVector.fromByteBuffer(S, v, vi + 3 * stride, NATIVE).sub(kv).fma(bv, dv);
            if (u != null) {
                int ui = uOff + 4 * i;
                y0 = FloatVector.fromByteBuffer(S, u, ui, NATIVE).fma(av, y0);
                y1 = FloatVector.fromByteBuffer(S, u, ui + stride, NATIVE).fma(av, y1);
                y2 = FloatVector.fromByteBuffer(S, u, ui + 2 * stride, NATIVE).fma(av, y2);
                y3 = FloatVector.fromByteBuffer(S, u, ui + 3 * stride, NATIVE).fma(av, y3);
            }
            int oi = outOff + 4 * i;
            y0.intoByteBuffer(out, oi, NATIVE);
            y1.intoByteBuffer(out, oi + stride, NATIVE);
            y2.intoByteBuffer(out, oi + 2 * stride, NATIVE);
            y3.intoByteBuffer(out, oi + 3 * stride, NATIVE);
        }
        t0.intoByteBuffer(out, outOff + last, NATIVE);
        t1.intoByteBuffer(out, outOff + last + stride, NATIVE);
        t2.intoByteBuffer(out, outOff + last + 2 * stride, NATIVE);
        t3.intoByteBuffer(out, outOff + last + 3 * stride, NATIVE);
    }

    /**
     * Four consecutive rows of {@code n} values against per-position coefficients, loaded once per four rows.
     * A row of at least one vector ends with one vector overlapping the one before it instead of a scalar tail.
     * Long rows of whole vectors' bytes (so the four rows share one alignment) store aligned vectors: the loop
     * starts at the output's first boundary of a vector's size, and each row's head before it (fewer values
     * than a vector) is one more overlapping vector. Overlapping vectors are computed (into {@code edges}, 8L floats) before any store, so {@code out}
     * may be {@code v} or {@code u}, and they store the values the loop stored where they overlap. Misaligned
     * stores cost about 17% on an in-cache [256, 1024] normalize here.
     */
    private static void affineFourRows(ByteBuffer u, int uOff, ByteBuffer v, int vOff, float[] a, float[] b,
                                       float[] k, float[] d, int n, ByteBuffer out, int outOff, float[] edges) {
        int rowBytes = 4 * n;
        if (n < S.length()) {
            for (int row = 0; row < 4; row++) {                 // rows shorter than a vector
                for (int j = 0; j < n; j++) {
                    int at = 4 * j + row * rowBytes;
                    float y = b[j] * (v.getFloat(vOff + at) - k[j]) + d[j];
                    out.putFloat(outOff + at, u == null ? y : y + a[j] * u.getFloat(uOff + at));
                }
            }
            return;
        }
        int align = S.vectorByteSize();                          // the head then fits one vector, whatever its size
        boolean aligned = n >= ALIGNED_RUN && rowBytes % align == 0 && out.isDirect();
        int first = aligned ? ((align - out.alignmentOffset(outOff, align)) % align) >> 2 : 0;
        int last = n - S.length();
        boolean tail = aligned || n % S.length() != 0;
        if (aligned) {
            fourRowVectorsAt(u, uOff, v, vOff, a, b, k, d, rowBytes, 0, edges, 0);
        }
        if (tail) {
            fourRowVectorsAt(u, uOff, v, vOff, a, b, k, d, rowBytes, last, edges, 4 * S.length());
        }
        fourRowVectors(u, uOff, v, vOff, a, b, k, d, rowBytes, first, tail ? last + 1 : n, out, outOff);
        for (int row = 0; row < 4; row++) {
            if (aligned) {
                FloatVector.fromArray(S, edges, row * S.length()).intoByteBuffer(out, outOff + row * rowBytes, NATIVE);
            }
            if (tail) {
                FloatVector.fromArray(S, edges, (4 + row) * S.length())
                        .intoByteBuffer(out, outOff + 4 * last + row * rowBytes, NATIVE);
            }
        }
    }

    /** The vectors at position {@code i} of four rows, into {@code into[at, at + 4L)}. */
    private static void fourRowVectorsAt(ByteBuffer u, int uOff, ByteBuffer v, int vOff, float[] a, float[] b,
                                         float[] k, float[] d, int rowBytes, int i, float[] into, int at) {
        FloatVector kv = FloatVector.fromArray(S, k, i);
        FloatVector bv = FloatVector.fromArray(S, b, i);
        FloatVector dv = FloatVector.fromArray(S, d, i);
        for (int row = 0; row < 4; row++) {
            FloatVector y = FloatVector.fromByteBuffer(S, v, vOff + row * rowBytes + 4 * i, NATIVE).sub(kv).fma(bv, dv);
            if (u != null) {
                y = FloatVector.fromByteBuffer(S, u, uOff + row * rowBytes + 4 * i, NATIVE)
                        .fma(FloatVector.fromArray(S, a, i), y);
            }
            y.intoArray(into, at + row * S.length());
        }
    }

    /** Whole vectors starting at positions {@code [from, to)} of four rows. */
    private static void fourRowVectors(ByteBuffer u, int uOff, ByteBuffer v, int vOff, float[] a, float[] b,
                                       float[] k, float[] d, int rowBytes, int from, int to, ByteBuffer out,
                                       int outOff) {
        for (int i = from; i < to; i += S.length()) {
            FloatVector kv = FloatVector.fromArray(S, k, i);
            FloatVector bv = FloatVector.fromArray(S, b, i);
            FloatVector dv = FloatVector.fromArray(S, d, i);
            int vi = vOff + 4 * i;
            FloatVector y0 = FloatVector.fromByteBuffer(S, v, vi, NATIVE).sub(kv).fma(bv, dv);
            FloatVector y1 = FloatVector.fromByteBuffer(S, v, vi + rowBytes, NATIVE).sub(kv).fma(bv, dv);
            FloatVector y2 = FloatVector.fromByteBuffer(S, v, vi + 2 * rowBytes, NATIVE).sub(kv).fma(bv, dv);
            FloatVector y3 = FloatVector.fromByteBuffer(S, v, vi + 3 * rowBytes, NATIVE).sub(kv).fma(bv, dv);
            if (u != null) {
                FloatVector av = FloatVector.fromArray(S, a, i);
                int ui = uOff + 4 * i;
                y0 = FloatVector.fromByteBuffer(S, u, ui, NATIVE).fma(av, y0);
                y1 = FloatVector.fromByteBuffer(S, u, ui + rowBytes, NATIVE).fma(av, y1);
                y2 = FloatVector.fromByteBuffer(S, u, ui + 2 * rowBytes, NATIVE).fma(av, y2);
                y3 = FloatVector.fromByteBuffer(S, u, ui + 3 * rowBytes, NATIVE).fma(av, y3);
            }
            int oi = outOff + 4 * i;
            y0.intoByteBuffer(out, oi, NATIVE);
            y1.intoByteBuffer(out, oi + rowBytes, NATIVE);
            y2.intoByteBuffer(out, oi + 2 * rowBytes, NATIVE);
            y3.intoByteBuffer(out, oi + 3 * rowBytes, NATIVE);
        }
    }

    /** One row of {@code n} values against per-position coefficients. */
    private static void affineRow(ByteBuffer u, int uOff, ByteBuffer v, int vOff, float[] a, float[] b, float[] k,
                                  float[] d, int n, ByteBuffer out, int outOff) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector y = FloatVector.fromByteBuffer(S, v, vOff + 4 * i, NATIVE).sub(FloatVector.fromArray(S, k, i))
                    .fma(FloatVector.fromArray(S, b, i), FloatVector.fromArray(S, d, i));
            if (u != null) {
                y = FloatVector.fromByteBuffer(S, u, uOff + 4 * i, NATIVE).fma(FloatVector.fromArray(S, a, i), y);
            }
            y.intoByteBuffer(out, outOff + 4 * i, NATIVE);
        }
        for (; i < n; i++) {
            float y = b[i] * (v.getFloat(vOff + 4 * i) - k[i]) + d[i];
            out.putFloat(outOff + 4 * i, u == null ? y : y + a[i] * u.getFloat(uOff + 4 * i));
        }
    }

    /**
     * One channels-first plane of {@code n} values, channel {@code c}'s coefficients broadcast. The loop stops
     * short of the plane's last vector, the one ending at {@code n} (overlapping the loop's last unless {@code n}
     * is a multiple of L): no scalar tail. That vector is computed before any store, so {@code out} may be
     * {@code v} or {@code u}, and where it overlaps it stores the values the loop stored.
     */
    private static void affinePlane(ByteBuffer u, int uOff, ByteBuffer v, int vOff, float[] a, float[] b, float[] k,
                                    float[] d, int c, int n, ByteBuffer out, int outOff) {
        FloatVector bv = FloatVector.broadcast(S, b[c]);
        FloatVector kv = FloatVector.broadcast(S, k[c]);
        FloatVector dv = FloatVector.broadcast(S, d[c]);
        int last = 4 * (n - S.length());
        if (last < 0) {
            for (int i = 0; i < n; i++) {
                float y = b[c] * (v.getFloat(vOff + 4 * i) - k[c]) + d[c];
                out.putFloat(outOff + 4 * i, u == null ? y : y + a[c] * u.getFloat(uOff + 4 * i));
            }
        } else if (u == null) {
            FloatVector yLast = FloatVector.fromByteBuffer(S, v, vOff + last, NATIVE).sub(kv).fma(bv, dv);
            for (int i = 0; i < n - S.length(); i += S.length()) {
                FloatVector.fromByteBuffer(S, v, vOff + 4 * i, NATIVE).sub(kv).fma(bv, dv)
                        .intoByteBuffer(out, outOff + 4 * i, NATIVE);
            }
            yLast.intoByteBuffer(out, outOff + last, NATIVE);
        } else {
            FloatVector av = FloatVector.broadcast(S, a[c]);
            FloatVector yLast = FloatVector.fromByteBuffer(S, u, uOff + last, NATIVE)
                    .fma(av, FloatVector.fromByteBuffer(S, v, vOff + last, NATIVE).sub(kv).fma(bv, dv));
            for (int i = 0; i < n - S.length(); i += S.length()) {
                FloatVector.fromByteBuffer(S, u, uOff + 4 * i, NATIVE)
                        .fma(av, FloatVector.fromByteBuffer(S, v, vOff + 4 * i, NATIVE).sub(kv).fma(bv, dv))
                        .intoByteBuffer(out, outOff + 4 * i, NATIVE);
            }
            yLast.intoByteBuffer(out, outOff + last, NATIVE);
        }
    }
}
