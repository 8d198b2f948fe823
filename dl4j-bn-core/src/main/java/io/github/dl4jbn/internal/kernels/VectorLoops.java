package io.github.dl4jbn.internal.kernels;

import io.github.dl4jbn.internal.kernels.PassLayout.PlaneCursor;
import io.github.dl4jbn.internal.kernels.PassScheduler.Sums;
import io.github.dl4jbn.internal.kernels.PassScheduler.Windows;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The float loops with the JDK Vector API, straight on the windows (no heap round trip), written once for
 * every way of reaching native memory: {@link VectorMemory} loads and stores the vectors, through NIO buffers on
 * JDK 17 and 18, through memory segments from JDK 22 (the multi-release jar's version of that class). Its
 * methods are static, so every call binds at compile time, and the vectors stay in registers.
 *
 * <p>Planes run one channel's coefficients broadcast along the plane; rows run per-position coefficient and
 * accumulator arrays, four rows per load and store of them. Sums accumulate in float over short runs and are
 * flushed into double (plane sums keep each channel's accumulators from plane to plane). A masked plane runs
 * the same loops over its runs of valid steps ({@link ValidRuns}), so
 * nothing a padded step holds is read.
 *
 */
final class VectorLoops implements FloatLoops<Object> {

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Values of one plane accumulated in float before flushing into double. */
    private static final int FLUSH_VALUES = 1024;
    /** Rows accumulated in float before flushing into double. */
    private static final int FLUSH_ROWS = 128;
    /** {@code L} zeros then {@code L} ones: a window of it weighs the lanes of an overlapping tail vector. */
    private static final float[] ZEROS_THEN_ONES = new float[2 * L];

    static {
        Arrays.fill(ZEROS_THEN_ONES, L, 2 * L, 1f);
    }

    /**
     * Public for the reflective load in {@link KernelProvider}.
     *
     * @throws UnsupportedOperationException where this JDK's {@link VectorMemory} cannot run
     */
    public VectorLoops() {
        VectorMemory.check();
    }

    @Override
    public Object open(ByteBuffer window) {
        return VectorMemory.open(window);
    }

    @Override
    public int lanes() {
        return L;
    }

    // ---------------------------------------------------------------- sums

    @Override
    public void planeSums(PassLayout layout, long from, long to, Windows<Object> w, float[] k, Sums out) {
        int channels = layout.view().channels();
        float[] lanes = Scratch.atLeast(Scratch.PLANE_LANES, 2 * L * channels);    // this thread's
        int[] held = Scratch.ints(channels);
        Arrays.fill(held, 0, channels, 0);
        ValidRuns runs = w.mask == null ? null : new ValidRuns(w.mask);
        PlaneCursor p = layout.planes(from);
        for (long u = from; u < to; u++, p.next()) {
            int off = (int) (4 * (p.start - w.first));
            if (runs == null) {
                addPlane(w.x, off, w.dy, p.length, k[p.channel], p.channel, lanes, held, out);
            } else {
                runs.of(p.maskStart, p.length);
                for (int r = 0; r < runs.count; r++) {                   // padded steps: left out
                    addPlane(w.x, off + 4 * runs.start(r), w.dy, runs.length(r), k[p.channel], p.channel, lanes,
                            held, out);
                }
            }
        }
        for (int c = 0; c < channels; c++) {
            if (held[c] > 0) {
                flush(lanes, c, out);
            }
        }
    }

    /**
     * Adds n values of channel c into its float lanes ({@code lanes[2Lc, 2Lc + 2L)}: two accumulators, kept
     * from plane to plane), flushing them into double every {@link #FLUSH_VALUES} values. Short planes (a
     * sequence's steps) would otherwise pay a flush each.
     */
    private static void addPlane(Object x, int off, Object dy, int n, float k, int c, float[] lanes, int[] held,
                                 Sums out) {
        for (int i = 0; i < n; ) {
            if (held[c] >= FLUSH_VALUES) {
                flush(lanes, c, out);
                held[c] = 0;
            }
            int piece = Math.min(n - i, FLUSH_VALUES - held[c]);
            planeSums(x, off + 4 * i, dy, piece, k, lanes, 2 * L * c, held[c] == 0, c, out);
            held[c] += piece;
            i += piece;
        }
    }

    // Vectors stay in locals of one method, so C2 keeps them in registers; dy == null selects the statistics'
    // sums.

    /**
     * One plane segment of n values into the accumulators at {@code lanes[at]} (started from 0 when fresh) and,
     * for the values past the last whole vector, straight into double: {@code sum(x - k)} and
     * {@code sum((x - k)^2)} when {@code dy} is null, else {@code sum(dy)} and {@code sum(dy * (x - k))}.
     */
    private static void planeSums(Object x, int off, Object dy, int n, float k, float[] lanes, int at, boolean fresh,
                                  int c, Sums out) {
        FloatVector kv = FloatVector.broadcast(S, k);
        FloatVector s1 = fresh ? FloatVector.zero(S) : FloatVector.fromArray(S, lanes, at);
        FloatVector s2 = fresh ? FloatVector.zero(S) : FloatVector.fromArray(S, lanes, at + L);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector d = VectorMemory.load(x, off + 4 * i).sub(kv);
            FloatVector g = dy == null ? d : VectorMemory.load(dy, off + 4 * i);
            s1 = s1.add(g);
            s2 = g.fma(d, s2);
        }
        if (i < n && n >= L) {                   // the last vector overlaps; weights 0 on the lanes already added
            FloatVector weight = FloatVector.fromArray(S, ZEROS_THEN_ONES, n - i);
            FloatVector d = VectorMemory.load(x, off + 4 * (n - L)).sub(kv).mul(weight);
            FloatVector g = dy == null ? d : VectorMemory.load(dy, off + 4 * (n - L)).mul(weight);
            s1 = s1.add(g);
            s2 = g.fma(d, s2);
            i = n;
        }
        s1.intoArray(lanes, at);
        s2.intoArray(lanes, at + L);
        float t1 = 0;
        float t2 = 0;
        for (; i < n; i++) {                       // shorter than one vector
            float d = VectorMemory.get(x, off + 4 * i) - k;
            float g = dy == null ? d : VectorMemory.get(dy, off + 4 * i);
            t1 += g;
            t2 += g * d;
        }
        out.a[c] += t1;
        out.b[c] += t2;
    }

    /**
     * Channel c's lanes added into its double sums in lane order, then cleared. Not {@code reduceLanes(ADD)}:
     * the Vector API leaves the order of a floating-point reduction open, and C2's intrinsic (a tree) and the
     * interpreter (a chain) give different bits, so results would depend on whether a call ran compiled.
     */
    private static void flush(float[] lanes, int c, Sums out) {
        int at = 2 * L * c;
        double s1 = 0;
        double s2 = 0;
        for (int i = 0; i < L; i++) {
            s1 += lanes[at + i];
            s2 += lanes[at + L + i];
            lanes[at + i] = 0f;
            lanes[at + L + i] = 0f;
        }
        out.a[c] += s1;
        out.b[c] += s2;
    }

    @Override
    public void rowSums(PassLayout layout, long from, long to, Windows<Object> w, float[] k, Sums out) {
        int n = layout.rowLength();
        float[] s1 = Scratch.floats(Scratch.SUM_1, n);              // this thread's
        float[] s2 = Scratch.floats(Scratch.SUM_2, n);
        for (long r = from; r < to; ) {
            long flushAt = Math.min(to, r + FLUSH_ROWS);
            Arrays.fill(s1, 0f);
            Arrays.fill(s2, 0f);
            while (r < flushAt) {
                long end = w.mask == null ? flushAt : validRunEnd(w.mask, r, flushAt);
                for (; r + 4 <= end; r += 4) {
                    fourRowSums(w.x, (int) (4 * (r * n - w.first)), w.dy, n, k, s1, s2);
                }
                for (; r < end; r++) {
                    oneRowSums(w.x, (int) (4 * (r * n - w.first)), w.dy, n, k, s1, s2);
                }
                r = w.mask == null ? r : nextValid(w.mask, r, flushAt);
            }
            FloatPasses.flushRows(s1, s2, 1, n, layout.positionsPerChannel(), out);
        }
    }

    /** The end of the run of valid rows that starts at {@code r} (a row's mask is mask element r). */
    private static long validRunEnd(Object mask, long r, long end) {
        while (r < end && VectorMemory.get(mask, (int) (4 * r)) != 0f) {
            r++;
        }
        return r;
    }

    /** The first valid row at or after {@code r}, or {@code end}. */
    private static long nextValid(Object mask, long r, long end) {
        while (r < end && VectorMemory.get(mask, (int) (4 * r)) == 0f) {
            r++;
        }
        return r;
    }

    /**
     * Four consecutive rows into the accumulators: one load and store of each accumulator per four rows. A row
     * of at least one vector ends with a vector overlapping the one before it; its lanes already counted get
     * weight 0 (see {@link #tailWeights}).
     */
    private static void fourRowSums(Object x, int off, Object dy, int n, float[] k, float[] s1, float[] s2) {
        int row = 4 * n;
        int end = n >= L ? n : 0;
        for (int i = 0; i < end; i += L) {
            int c = Math.min(i, n - L);
            FloatVector wt = tailWeights(i - c);
            FloatVector kv = FloatVector.fromArray(S, k, c);
            int at = off + 4 * c;
            FloatVector d0 = VectorMemory.load(x, at).sub(kv);
            FloatVector d1 = VectorMemory.load(x, at + row).sub(kv);
            FloatVector d2 = VectorMemory.load(x, at + 2 * row).sub(kv);
            FloatVector d3 = VectorMemory.load(x, at + 3 * row).sub(kv);
            FloatVector g0 = dy == null ? d0 : VectorMemory.load(dy, at);
            FloatVector g1 = dy == null ? d1 : VectorMemory.load(dy, at + row);
            FloatVector g2 = dy == null ? d2 : VectorMemory.load(dy, at + 2 * row);
            FloatVector g3 = dy == null ? d3 : VectorMemory.load(dy, at + 3 * row);
            g0.add(g1).add(g2.add(g3)).fma(wt, FloatVector.fromArray(S, s1, c)).intoArray(s1, c);
            g0.fma(d0, g1.mul(d1)).add(g2.fma(d2, g3.mul(d3))).fma(wt, FloatVector.fromArray(S, s2, c)).intoArray(s2, c);
        }
        for (int r = 0; r < 4; r++) {
            scalarSums(x, off + r * row, dy, end, n, k, s1, s2);
        }
    }

    /** One row into the accumulators, as {@link #fourRowSums}. */
    private static void oneRowSums(Object x, int off, Object dy, int n, float[] k, float[] s1, float[] s2) {
        int end = n >= L ? n : 0;
        for (int i = 0; i < end; i += L) {
            int c = Math.min(i, n - L);
            FloatVector wt = tailWeights(i - c);
            FloatVector d = VectorMemory.load(x, off + 4 * c).sub(FloatVector.fromArray(S, k, c));
            FloatVector g = dy == null ? d : VectorMemory.load(dy, off + 4 * c);
            g.fma(wt, FloatVector.fromArray(S, s1, c)).intoArray(s1, c);
            g.mul(d).fma(wt, FloatVector.fromArray(S, s2, c)).intoArray(s2, c);
        }
        scalarSums(x, off, dy, end, n, k, s1, s2);
    }

    /** Lane weights of a vector whose first {@code counted} lanes were counted by the vector before it: 0, then 1. */
    private static FloatVector tailWeights(int counted) {
        return FloatVector.fromArray(S, ZEROS_THEN_ONES, L - counted);
    }

    /** Positions [from, to) of one row, the tail no vector covers. */
    private static void scalarSums(Object x, int off, Object dy, int from, int to, float[] k, float[] s1, float[] s2) {
        for (int c = from; c < to; c++) {
            float d = VectorMemory.get(x, off + 4 * c) - k[c];
            float g = dy == null ? d : VectorMemory.get(dy, off + 4 * c);
            s1[c] += g;
            s2[c] += g * d;
        }
    }

    // ---------------------------------------------------------------- affine

    @Override
    public void planeAffine(PassLayout layout, long from, long to, Windows<Object> w, float[] a, float[] b,
                                  float[] k, float[] d) {
        PlaneCursor p = layout.planes(from);
        ValidRuns runs = w.mask == null ? null : new ValidRuns(w.mask);
        for (long u = from; u < to; u++, p.next()) {
            int off = (int) (4 * (p.start - w.first));
            int c = p.channel;
            float ac = a == null ? 0f : a[c];                       // a is unread without dy
            if (runs == null) {
                affinePlane(w.dy, w.x, off, ac, b[c], k[c], d[c], p.length, w.out);
            } else {
                maskedAffinePlane(w.dy, w.x, off, runs.of(p.maskStart, p.length), ac, b[c], k[c], d[c], p.length, w.out);
            }
        }
    }

    @Override
    public void blockAffine(PassLayout layout, long from, long to, Windows<Object> w, float[] a, float[] b,
                                  float[] k, float[] d) {
        int channels = layout.view().channels();
        int n = (int) layout.view().inner();
        int stride = 4 * channels * n;
        float[] edges = Scratch.atLeast(Scratch.EDGES, 8 * L);      // this thread's
        int c = (int) (from % channels);
        int planes = layout.planesInBlock(from);
        int off = (int) (4 * (layout.start(from) - w.first));
        for (long u = from; u < to; u++) {
            float ac = a == null ? 0f : a[c];                       // a is unread without dy
            if (planes == PassLayout.BLOCK_PLANES && n >= L) {
                affineFourPlanes(w.dy, w.x, off, ac, b[c], k[c], d[c], n, stride, w.out, edges);
            } else {
                for (int i = 0; i < planes; i++) {
                    affinePlane(w.dy, w.x, off + i * stride, ac, b[c], k[c], d[c], n, w.out);
                }
            }
            off += 4 * n;
            if (++c == channels) {                              // the next block of rows
                c = 0;
                off += (PassLayout.BLOCK_PLANES - 1) * stride;
                planes = u + 1 < to ? layout.planesInBlock(u + 1) : 0;
            }
        }
    }

    /**
     * One plane segment of n values, its channel's coefficients broadcast. The loop stops short of the plane's
     * last vector, the one ending at n (overlapping the loop's last unless n is a multiple of L): no scalar
     * tail. That vector is computed before any store, so {@code out} may be {@code x} or {@code dy}, and where it
     * overlaps it stores the values the loop stored.
     */
    private static void affinePlane(Object dy, Object x, int off, float a, float b, float k, float d, int n, Object out) {
        FloatVector bv = FloatVector.broadcast(S, b);
        FloatVector kv = FloatVector.broadcast(S, k);
        FloatVector dv = FloatVector.broadcast(S, d);
        int last = 4 * (n - L);
        if (last < 0) {
            for (int i = 0; i < n; i++) {
                float y = b * (VectorMemory.get(x, off + 4 * i) - k) + d;
                VectorMemory.put(out, off + 4 * i, dy == null ? y : y + a * VectorMemory.get(dy, off + 4 * i));
            }
        } else if (dy == null) {
            FloatVector yLast = VectorMemory.load(x, off + last).sub(kv).fma(bv, dv);
            for (int i = 0; i < n - L; i += L) {
                VectorMemory.store(VectorMemory.load(x, off + 4 * i).sub(kv).fma(bv, dv), out, off + 4 * i);
            }
            VectorMemory.store(yLast, out, off + last);
        } else {
            FloatVector av = FloatVector.broadcast(S, a);
            FloatVector yLast = VectorMemory.load(dy, off + last).fma(av, VectorMemory.load(x, off + last).sub(kv).fma(bv, dv));
            for (int i = 0; i < n - L; i += L) {
                VectorMemory.store(VectorMemory.load(dy, off + 4 * i).fma(av, VectorMemory.load(x, off + 4 * i).sub(kv).fma(bv, dv)), out, off + 4 * i);
            }
            VectorMemory.store(yLast, out, off + last);
        }
    }

    /** {@link #affinePlane} over each run of valid steps of a plane, and 0 over the padded ones. */
    private static void maskedAffinePlane(Object dy, Object x, int off, ValidRuns runs, float a, float b, float k,
                                          float d, int n, Object out) {
        int done = 0;
        for (int r = 0; r < runs.count; r++) {
            zeros(out, off + 4 * done, runs.start(r) - done);
            affinePlane(dy, x, off + 4 * runs.start(r), a, b, k, d, runs.length(r), out);
            done = runs.start(r) + runs.length(r);
        }
        zeros(out, off + 4 * done, n - done);
    }

    /**
     * The runs of valid (non-zero) values of a stretch of the mask. Every channel of an example reads the same
     * mask row, so the runs of the last stretch asked for are kept: consecutive planes of one example find them
     * ready. Padded steps come in runs (a sequence's padding is its tail), so the loops run unmasked over the
     * valid runs, and what the padded steps hold is never read.
     */
    private static final class ValidRuns {
        private final Object mask;
        private int[] bounds = new int[16];
        private long cachedStart = -1;
        private int cachedLength = -1;
        int count;

        ValidRuns(Object mask) {
            this.mask = mask;
        }

        /** Finds the runs of mask values [start, start + length) (or keeps those of the last call). */
        ValidRuns of(long start, int length) {
            if (start == cachedStart && length == cachedLength) {
                return this;
            }
            count = 0;
            int base = (int) (4 * start);
            for (int i = 0; i < length; ) {
                while (i < length && VectorMemory.get(mask, base + 4 * i) == 0f) {
                    i++;
                }
                int runStart = i;
                while (i < length && VectorMemory.get(mask, base + 4 * i) != 0f) {
                    i++;
                }
                if (i > runStart) {
                    if (2 * count + 2 > bounds.length) {
                        bounds = java.util.Arrays.copyOf(bounds, 2 * bounds.length);
                    }
                    bounds[2 * count] = runStart;
                    bounds[2 * count + 1] = i;
                    count++;
                }
            }
            cachedStart = start;
            cachedLength = length;
            return this;
        }

        int start(int run) {
            return bounds[2 * run];
        }

        int length(int run) {
            return bounds[2 * run + 1] - bounds[2 * run];
        }
    }

    /**
     * One channel's planes of {@code n >= L} values in four consecutive rows, {@code stride} bytes apart, as
     * {@link #affinePlane}: the broadcasts and the loop's set-up shared by four short planes, which dominate
     * them there; long planes stay one at a time, since four streams a row apart defeat the prefetcher. The
     * four overlapping tail vectors go through {@code edges} (4L floats), computed before any store, which also
     * keeps this method under C2's inlining node limit (past it, the last loads and stores were not inlined).
     */
    private static void affineFourPlanes(Object dy, Object x, int off, float a, float b, float k, float d, int n,
                                         int stride, Object out, float[] edges) {
        int last = off + 4 * (n - L);
        fourPlaneTails(dy, x, last, a, b, k, d, stride, edges);
        FloatVector av = FloatVector.broadcast(S, a);
        FloatVector bv = FloatVector.broadcast(S, b);
        FloatVector kv = FloatVector.broadcast(S, k);
        FloatVector dv = FloatVector.broadcast(S, d);
        for (int i = 0; i < n - L; i += L) {
            int at = off + 4 * i;
            FloatVector y0 = VectorMemory.load(x, at).sub(kv).fma(bv, dv);
            FloatVector y1 = VectorMemory.load(x, at + stride).sub(kv).fma(bv, dv);
            FloatVector y2 = VectorMemory.load(x, at + 2 * stride).sub(kv).fma(bv, dv);
            FloatVector y3 = VectorMemory.load(x, at + 3 * stride).sub(kv).fma(bv, dv);
            if (dy != null) {
                y0 = VectorMemory.load(dy, at).fma(av, y0);
                y1 = VectorMemory.load(dy, at + stride).fma(av, y1);
                y2 = VectorMemory.load(dy, at + 2 * stride).fma(av, y2);
                y3 = VectorMemory.load(dy, at + 3 * stride).fma(av, y3);
            }
            VectorMemory.store(y0, out, at);
            VectorMemory.store(y1, out, at + stride);
            VectorMemory.store(y2, out, at + 2 * stride);
            VectorMemory.store(y3, out, at + 3 * stride);
        }
        for (int p = 0; p < 4; p++) {
            VectorMemory.store(FloatVector.fromArray(S, edges, p * L), out, last + p * stride);
        }
    }

    /** The last vector of each of four planes, into {@code edges[0, 4L)}. */
    private static void fourPlaneTails(Object dy, Object x, int last, float a, float b, float k, float d, int stride,
                                       float[] edges) {
        FloatVector bv = FloatVector.broadcast(S, b);
        FloatVector kv = FloatVector.broadcast(S, k);
        FloatVector dv = FloatVector.broadcast(S, d);
        for (int p = 0; p < 4; p++) {
            FloatVector y = VectorMemory.load(x, last + p * stride).sub(kv).fma(bv, dv);
            if (dy != null) {
                y = VectorMemory.load(dy, last + p * stride).fma(FloatVector.broadcast(S, a), y);
            }
            y.intoArray(edges, p * L);
        }
    }

    @Override
    public void rowAffine(PassLayout layout, long from, long to, Windows<Object> w, float[] a, float[] b, float[] k,
                                float[] d) {
        int n = layout.rowLength();
        float[] edges = Scratch.atLeast(Scratch.EDGES, 8 * L);      // this thread's
        for (long r = from; r < to; ) {
            long end = w.mask == null ? to : validRunEnd(w.mask, r, to);
            for (; r + 4 <= end; r += 4) {
                affineFourRows(w.dy, w.x, (int) (4 * (r * n - w.first)), a, b, k, d, n, w.out, edges);
            }
            for (; r < end; r++) {
                affineRow(w.dy, w.x, (int) (4 * (r * n - w.first)), a, b, k, d, n, w.out);
            }
            if (w.mask != null) {
                long valid = nextValid(w.mask, r, to);
                zeros(w.out, (int) (4 * (r * n - w.first)), (int) ((valid - r) * n));  // padded rows
                r = valid;
            }
        }
    }

    /** Writes {@code count} zeros from byte {@code off}. */
    private static void zeros(Object out, int off, int count) {
        if (count == 0) {
            return;                                  // a plane with no padding: not even the zero vector
        }
        FloatVector zero = FloatVector.zero(S);
        int i = 0;
        for (; i + L <= count; i += L) {
            VectorMemory.store(zero, out, off + 4 * i);
        }
        if (i < count && count >= L) {
            VectorMemory.store(zero, out, off + 4 * (count - L));     // overlaps zeros just stored
            i = count;
        }
        for (; i < count; i++) {
            VectorMemory.put(out, off + 4 * i, 0f);
        }
    }

    /**
     * Four consecutive rows of n values against per-position coefficients, loaded once per four rows. A row of
     * at least one vector whose length is no multiple of L ends with one vector overlapping the one before it
     * instead of a scalar tail; those four tail vectors are computed (into {@code edges}, 4L floats) before any
     * store, so {@code out} may be {@code x} or {@code dy}, and where they overlap they store the values the loop
     * stored.
     */
    private static void affineFourRows(Object dy, Object x, int off, float[] a, float[] b, float[] k, float[] d, int n,
                                       Object out, float[] edges) {
        int row = 4 * n;
        if (n < L) {
            for (int r = 0; r < 4; r++) {                       // rows shorter than a vector
                for (int j = 0; j < n; j++) {
                    int at = off + 4 * j + r * row;
                    float y = b[j] * (VectorMemory.get(x, at) - k[j]) + d[j];
                    VectorMemory.put(out, at, dy == null ? y : y + a[j] * VectorMemory.get(dy, at));
                }
            }
            return;
        }
        int last = n - L;
        boolean tail = n % L != 0;
        if (tail) {
            fourRowVectorsAt(dy, x, off, a, b, k, d, row, last, edges, 0);
        }
        fourRowVectors(dy, x, off, a, b, k, d, row, 0, tail ? last + 1 : n, out);
        if (tail) {
            storeFourRowVectors(edges, out, off + 4 * last, row);
        }
    }

    /** Stores {@code edges[0, 4L)} as one vector in each of four rows, {@code row} bytes apart, from byte {@code at}. */
    private static void storeFourRowVectors(float[] edges, Object out, int at, int row) {
        for (int r = 0; r < 4; r++) {
            VectorMemory.store(FloatVector.fromArray(S, edges, r * L), out, at + r * row);
        }
    }

    /** The vectors at position i of four rows, into {@code into[at, at + 4L)}. */
    private static void fourRowVectorsAt(Object dy, Object x, int off, float[] a, float[] b, float[] k, float[] d, int row, int i,
                                  float[] into, int at) {
        FloatVector kv = FloatVector.fromArray(S, k, i);
        FloatVector bv = FloatVector.fromArray(S, b, i);
        FloatVector dv = FloatVector.fromArray(S, d, i);
        for (int r = 0; r < 4; r++) {
            FloatVector y = VectorMemory.load(x, off + r * row + 4 * i).sub(kv).fma(bv, dv);
            if (dy != null) {
                y = VectorMemory.load(dy, off + r * row + 4 * i).fma(FloatVector.fromArray(S, a, i), y);
            }
            y.intoArray(into, at + r * L);
        }
    }

    /** Whole vectors starting at positions [from, to) of four rows. */
    private static void fourRowVectors(Object dy, Object x, int off, float[] a, float[] b, float[] k, float[] d, int row, int from,
                                int to, Object out) {
        for (int i = from; i < to; i += L) {
            FloatVector kv = FloatVector.fromArray(S, k, i);
            FloatVector bv = FloatVector.fromArray(S, b, i);
            FloatVector dv = FloatVector.fromArray(S, d, i);
            int at = off + 4 * i;
            FloatVector y0 = VectorMemory.load(x, at).sub(kv).fma(bv, dv);
            FloatVector y1 = VectorMemory.load(x, at + row).sub(kv).fma(bv, dv);
            FloatVector y2 = VectorMemory.load(x, at + 2 * row).sub(kv).fma(bv, dv);
            FloatVector y3 = VectorMemory.load(x, at + 3 * row).sub(kv).fma(bv, dv);
            if (dy != null) {
                FloatVector av = FloatVector.fromArray(S, a, i);
                y0 = VectorMemory.load(dy, at).fma(av, y0);
                y1 = VectorMemory.load(dy, at + row).fma(av, y1);
                y2 = VectorMemory.load(dy, at + 2 * row).fma(av, y2);
                y3 = VectorMemory.load(dy, at + 3 * row).fma(av, y3);
            }
            VectorMemory.store(y0, out, at);
            VectorMemory.store(y1, out, at + row);
            VectorMemory.store(y2, out, at + 2 * row);
            VectorMemory.store(y3, out, at + 3 * row);
        }
    }

    /** One row of n values against per-position coefficients. */
    private static void affineRow(Object dy, Object x, int off, float[] a, float[] b, float[] k, float[] d, int n, Object out) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector y = VectorMemory.load(x, off + 4 * i).sub(FloatVector.fromArray(S, k, i))
                    .fma(FloatVector.fromArray(S, b, i), FloatVector.fromArray(S, d, i));
            if (dy != null) {
                y = VectorMemory.load(dy, off + 4 * i).fma(FloatVector.fromArray(S, a, i), y);
            }
            VectorMemory.store(y, out, off + 4 * i);
        }
        for (; i < n; i++) {
            float y = b[i] * (VectorMemory.get(x, off + 4 * i) - k[i]) + d[i];
            VectorMemory.put(out, off + 4 * i, dy == null ? y : y + a[i] * VectorMemory.get(dy, off + 4 * i));
        }
    }
}
