package io.github.dl4jbn.internal.kernels;

/**
 * How a pass walks a {@link ChannelView}, decided here and nowhere else; the loops only execute it.
 *
 * <ul>
 *   <li>{@link Kind#ROWS}: unit r is row r of {@code rowLength} values against per-position coefficients and
 *       accumulators. Channels-last views ({@code inner == 1}, a row of C channels) and channels-first views with
 *       short planes (a row of C planes of {@code inner} values, position j of channel {@code j / inner}: NCW
 *       sequences of 50, say), so the vectors do not stop at every short plane.</li>
 *   <li>{@link Kind#PLANES}: unit u is one segment of one channel's plane, its coefficients broadcast. A plane
 *       longer than {@link #MAX_SEGMENT} values is cut into equal segments, so no unit outgrows a memory
 *       window.</li>
 *   <li>{@link Kind#PLANE_BLOCKS} (affine passes only): unit u is one channel's planes in up to four consecutive
 *       rows, {@code C * inner} values apart, sharing the broadcasts and the loop's set-up (mid-length planes).</li>
 * </ul>
 *
 * <p>A masked view walks channels-last rows one by one (a row's mask is one value) and channels-first planes
 * in example order, with the mask row of their example (consecutive planes share it), so masked channels-first
 * views run as planes.
 *
 * @param kind      how units are made
 * @param view      the view walked
 * @param rowLength values per row (ROWS only)
 * @param segments  segments per plane (PLANES only, else 1)
 * @param units     number of units
 */
record PassLayout(Kind kind, ChannelView view, int rowLength, int segments, long units) {

    /** The three ways a pass walks a view (see the class comment). */
    enum Kind { ROWS, PLANES, PLANE_BLOCKS }

    /** Longest plane segment: 16 Ki values, so a segment's rows stay in a core's L2 cache however long the plane. */
    static final int MAX_SEGMENT = 1 << 14;
    /** Longest row run as ROWS with expanded coefficients: its coefficient and accumulator arrays stay in cache. */
    static final int MAX_EXPANDED_ROW = 1 << 14;
    /** Planes in one {@link Kind#PLANE_BLOCKS} unit. */
    static final int BLOCK_PLANES = 4;

    /**
     * The layout of a sums pass: rows for channels-last views and for planes shorter than four vectors.
     *
     * @param view   the view
     * @param lanes  float lanes of the implementation's vectors (8 for plain loops)
     * @param masked whether a mask selects the values
     * @return the layout
     */
    static PassLayout sums(ChannelView view, int lanes, boolean masked) {
        return rowsOrPlanes(view, masked, 4 * lanes, false);
    }

    /**
     * The layout of an affine pass: rows for channels-last views and for planes shorter than two vectors (an
     * affine plane ends with one overlapping vector, which costs little once a plane holds two); planes under
     * eight vectors go four rows at a time.
     *
     * @param view   the view
     * @param lanes  float lanes of the implementation's vectors
     * @param masked whether a mask selects the values
     * @return the layout
     */
    static PassLayout affine(ChannelView view, int lanes, boolean masked) {
        return rowsOrPlanes(view, masked, 2 * lanes, view.inner() < 8L * lanes && view.outer() >= BLOCK_PLANES);
    }

    private static PassLayout rowsOrPlanes(ChannelView view, boolean masked, int shortPlane, boolean blocks) {
        long inner = view.inner();
        long rowValues = view.channels() * inner;
        if (inner == 1 || (!masked && inner < shortPlane && rowValues <= MAX_EXPANDED_ROW)) {
            return new PassLayout(Kind.ROWS, view, (int) rowValues, 1, view.outer());
        }
        long planes = view.outer() * view.channels();
        if (blocks && !masked) {
            long blockRows = (view.outer() + BLOCK_PLANES - 1) / BLOCK_PLANES;
            return new PassLayout(Kind.PLANE_BLOCKS, view, 0, 1, blockRows * view.channels());
        }
        int segments = (int) ((inner + MAX_SEGMENT - 1) / MAX_SEGMENT);
        return new PassLayout(Kind.PLANES, view, 0, segments, planes * segments);
    }

    /** @return values per position of a row: {@code inner} for expanded short planes, 1 for channels-last rows */
    int positionsPerChannel() {
        return (int) view.inner();
    }

    /** @return the element index where unit {@code u} starts (for PLANE_BLOCKS, its first plane) */
    long start(long u) {
        switch (kind) {
            case ROWS:
                return u * rowLength;
            case PLANE_BLOCKS: {
                long block = u / view.channels();
                int c = (int) (u - block * view.channels());
                return (block * BLOCK_PLANES * view.channels() + c) * view.inner();
            }
            default: {
                long plane = u / segments;
                return plane * view.inner() + segmentStart(u - plane * segments);
            }
        }
    }

    /** @return the element index just past unit {@code u}'s last value (for PLANE_BLOCKS, its last plane's) */
    long end(long u) {
        switch (kind) {
            case ROWS:
                return (u + 1) * rowLength;
            case PLANE_BLOCKS: {
                long block = u / view.channels();
                long last = Math.min(view.outer(), (block + 1) * BLOCK_PLANES) - 1;
                int c = (int) (u - block * view.channels());
                return (last * view.channels() + c + 1) * view.inner();
            }
            default:
                return start(u) + length(u);
        }
    }

    /** @return values in unit {@code u}: a row, a plane segment, or each plane of a block */
    int length(long u) {
        switch (kind) {
            case ROWS:
                return rowLength;
            case PLANE_BLOCKS:
                return (int) view.inner();
            default: {
                int s = (int) (u % segments);
                return (int) (segmentStart(s + 1) - segmentStart(s));
            }
        }
    }

    /** @return the channel of unit {@code u} (PLANES and PLANE_BLOCKS) */
    int channel(long u) {
        long plane = kind == Kind.PLANES ? u / segments : u;
        return (int) (plane % view.channels());
    }

    /** @return planes in block {@code u} (PLANE_BLOCKS): four, fewer in the last block row */
    int planesInBlock(long u) {
        long block = u / view.channels();
        return (int) Math.min(BLOCK_PLANES, view.outer() - block * BLOCK_PLANES);
    }

    /**
     * The mask index of unit {@code u}'s first value: a mask holds one value per (outer, inner) position, the
     * same for every channel. ROWS (channels-last): row r's index r. PLANES: {@code o * inner + segment start}.
     */
    long maskStart(long u) {
        if (kind == Kind.ROWS) {
            return u;
        }
        long plane = u / segments;
        long o = plane / view.channels();
        return o * view.inner() + segmentStart((int) (u - plane * segments));
    }

    private long segmentStart(long s) {
        return s * view.inner() / segments;
    }

    /**
     * A walk over plane segments from unit {@code from} on, without a division per unit: {@link #start},
     * {@link #channel}, {@link #length} and {@link #maskStart} describe the current unit, {@link #next()} moves on.
     * PLANES layouts only.
     *
     * @param from the first unit
     * @return the cursor
     */
    PlaneCursor planes(long from) {
        return new PlaneCursor(this, from);
    }

    /** See {@link #planes(long)}. */
    static final class PlaneCursor {
        private final PassLayout layout;
        private final int channels;
        private final long inner;
        /** element index of the current segment's first value */
        long start;
        /** its channel */
        int channel;
        /** its values */
        int length;
        /** mask index of its first value */
        long maskStart;
        private int segment;
        private long maskRow;

        private PlaneCursor(PassLayout layout, long from) {
            this.layout = layout;
            this.channels = layout.view.channels();
            this.inner = layout.view.inner();
            start = layout.start(from);
            channel = layout.channel(from);
            length = layout.length(from);
            segment = (int) (from % layout.segments);
            long plane = from / layout.segments;
            maskRow = plane / channels * inner;
            maskStart = layout.maskStart(from);
        }

        /** Moves to the next unit: segments tile a plane, planes tile the tensor. */
        void next() {
            start += length;
            if (++segment == layout.segments) {
                segment = 0;
                if (++channel == channels) {
                    channel = 0;
                    maskRow += inner;
                }
            }
            if (layout.segments > 1) {
                length = (int) (layout.segmentStart(segment + 1) - layout.segmentStart(segment));
                maskStart = maskRow + layout.segmentStart(segment);
            } else {
                maskStart = maskRow;
            }
        }
    }

    /** @return the number of per-position accumulators a sums chunk keeps: the row's values, or the channels */
    int accumulators() {
        return kind == Kind.ROWS ? rowLength : view.channels();
    }
}
