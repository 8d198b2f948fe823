package io.github.dl4jbn.internal.kernels;

import io.github.dl4jbn.internal.kernels.PassLayout.PlaneCursor;
import io.github.dl4jbn.internal.kernels.PassScheduler.Sums;
import io.github.dl4jbn.internal.kernels.PassScheduler.Windows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The passes in double precision, streamed through heap pieces of at most {@link #PIECE} values, so a call
 * keeps O(channels + one piece) on the Java heap whatever the tensor's size. Every sum is a double, and the
 * statistics take two passes (the second around the first's mean), which makes this path the gradient-check
 * reference. Elements are DOUBLE, or FLOAT widened on the way in: that is how float statistics whose float sums
 * overflowed are taken again exactly.
 */
final class DoublePasses implements ElementPasses {

    /** Values per piece (64 KiB of double). */
    static final int PIECE = 1 << 13;

    private final boolean floatElements;

    /**
     * @param floatElements true to read FLOAT elements (4 bytes), false for DOUBLE (8 bytes)
     */
    DoublePasses(boolean floatElements) {
        this.floatElements = floatElements;
    }

    /** A window with its typed view, taken once per window. */
    static final class Window {
        final DoubleBuffer doubles;
        final FloatBuffer floats;

        Window(ByteBuffer bytes, boolean floatElements) {
            ByteBuffer b = bytes.duplicate().order(ByteOrder.nativeOrder());
            doubles = floatElements ? null : b.asDoubleBuffer();
            floats = floatElements ? b.asFloatBuffer() : null;
        }

        void read(long index, double[] to, int n) {
            if (doubles != null) {
                doubles.get((int) index, to, 0, n);
                return;
            }
            for (int i = 0; i < n; i++) {
                to[i] = floats.get((int) index + i);
            }
        }

        void write(double[] from, int n, long index) {
            if (doubles != null) {
                doubles.put((int) index, from, 0, n);
                return;
            }
            for (int i = 0; i < n; i++) {
                floats.put((int) index + i, (float) from[i]);
            }
        }

        double get(long index) {
            return doubles != null ? doubles.get((int) index) : floats.get((int) index);
        }
    }

    private static final class Pieces {
        private static final ThreadLocal<double[][]> OF_THREAD = ThreadLocal.withInitial(() -> new double[8][0]);

        /** This thread's piece array in slot {@code slot} (0 to 7) of at least n values. */
        static double[] of(int slot, int n) {
            double[][] slots = OF_THREAD.get();
            if (slots[slot].length < n) {
                slots[slot] = new double[n];
            }
            return slots[slot];
        }
    }

    private static final int X = 0;
    private static final int DY = 1;
    private static final int OUT = 2;
    private static final int MASK = 3;
    private static final int ROW_A = 4;
    private static final int ROW_B = 5;
    private static final int ROW_K = 6;
    private static final int ROW_D = 7;

    @Override
    public String name() {
        return floatElements ? "exact double over float" : "double";
    }

    @Override
    public boolean twoPassStatistics() {
        return true;
    }

    @Override
    public double representable(double value) {
        return floatElements ? (float) value : value;
    }

    @Override
    public double get(ByteBuffer window, long index) {
        return floatElements ? window.getFloat((int) (4 * index)) : window.getDouble((int) (8 * index));
    }

    private Window open(ByteBuffer window) {
        return new Window(window, floatElements);
    }

    @Override
    public void sums(ChannelView view, TensorMemory x, TensorMemory dy, TensorMemory mask, double[] centre,
                     double[] s1, double[] s2) {
        PassLayout layout = PassLayout.sums(view, 4, mask != null);
        boolean rows = layout.kind() == PassLayout.Kind.ROWS;
        PassScheduler.sums(layout, this::open, x, dy, mask, (from, to, w, out) -> {
            if (rows) {
                rowSums(layout, from, to, w, centre, out);
            } else {
                planeSums(layout, from, to, w, centre, out);
            }
        }, s1, s2);
    }

    private static void planeSums(PassLayout layout, long from, long to, Windows<Window> w, double[] k, Sums out) {
        PlaneCursor p = layout.planes(from);
        for (long u = from; u < to; u++, p.next()) {
            int c = p.channel;
            for (int i0 = 0; i0 < p.length; i0 += PIECE) {
                int n = Math.min(PIECE, p.length - i0);
                long at = p.start - w.first + i0;
                double[] x = piece(X, w.x, at, n);
                double[] dy = w.dy == null ? null : piece(DY, w.dy, at, n);
                double[] m = w.mask == null ? null : piece(MASK, w.mask, p.maskStart + i0, n);
                double a = 0;
                double b = 0;
                for (int i = 0; i < n; i++) {
                    if (m == null || m[i] != 0) {
                        double d = x[i] - k[c];
                        double g = dy == null ? d : dy[i];
                        a += g;
                        b += g * d;
                    }
                }
                out.a[c] += a;
                out.b[c] += b;
            }
        }
    }

    private static void rowSums(PassLayout layout, long from, long to, Windows<Window> w, double[] k, Sums out) {
        int n = layout.rowLength();
        int positions = layout.positionsPerChannel();
        for (long r = from; r < to; r++) {
            if (w.mask != null && w.mask.get(r) == 0) {
                continue;                                           // a padded row
            }
            double[] x = piece(X, w.x, r * n - w.first, n);
            double[] dy = w.dy == null ? null : piece(DY, w.dy, r * n - w.first, n);
            for (int c = 0, j = 0; j < n; c++) {
                double a = 0;
                double b = 0;
                for (int end = j + positions; j < end; j++) {       // channel c's positions of the row
                    double d = x[j] - k[c];
                    double g = dy == null ? d : dy[j];
                    a += g;
                    b += g * d;
                }
                out.a[c] += a;
                out.b[c] += b;
            }
        }
    }

    @Override
    public void affine(ChannelView view, TensorMemory x, TensorMemory dy, TensorMemory mask, double[] a,
                       double[] b, double[] k, double[] d, TensorMemory out) {
        PassLayout layout = PassLayout.affine(view, 4, mask != null);
        PassScheduler.write(layout, this::open, x, dy, mask, out, (from, to, w) -> {
            switch (layout.kind()) {
                case ROWS:
                    rowAffine(layout, from, to, w, a, b, k, d);
                    break;
                case PLANE_BLOCKS:
                    for (long u = from; u < to; u++) {
                        int c = layout.channel(u);
                        long inner = layout.view().inner();
                        long stride = layout.view().channels() * inner;
                        for (int i = 0; i < layout.planesInBlock(u); i++) {
                            affinePlane(w, layout.start(u) + i * stride - w.first, -1, (int) inner,
                                    dy == null ? 0 : a[c], b[c], k[c], d[c]);
                        }
                    }
                    break;
                default:
                    PlaneCursor p = layout.planes(from);
                    for (long u = from; u < to; u++, p.next()) {
                        int c = p.channel;
                        affinePlane(w, p.start - w.first, w.mask == null ? -1 : p.maskStart, p.length,
                                dy == null ? 0 : a[c], b[c], k[c], d[c]);
                    }
            }
        });
    }

    /** One plane segment from element {@code at} of the window; maskStart -1: unmasked. */
    private static void affinePlane(Windows<Window> w, long at, long maskStart, int length, double a, double b,
                                    double k, double d) {
        for (int i0 = 0; i0 < length; i0 += PIECE) {
            int n = Math.min(PIECE, length - i0);
            double[] x = piece(X, w.x, at + i0, n);
            double[] dy = w.dy == null ? null : piece(DY, w.dy, at + i0, n);
            double[] m = maskStart < 0 ? null : piece(MASK, w.mask, maskStart + i0, n);
            double[] y = Pieces.of(OUT, n);
            for (int i = 0; i < n; i++) {
                double v = b * (x[i] - k) + d;
                v = dy == null ? v : v + a * dy[i];
                y[i] = m == null || m[i] != 0 ? v : 0.0;
            }
            w.out.write(y, n, at + i0);
        }
    }

    private static void rowAffine(PassLayout layout, long from, long to, Windows<Window> w, double[] a, double[] b,
                                  double[] k, double[] d) {
        int n = layout.rowLength();
        double[] ar = w.dy == null ? null : perPosition(ROW_A, a, layout);
        double[] br = perPosition(ROW_B, b, layout);
        double[] kr = perPosition(ROW_K, k, layout);
        double[] dr = perPosition(ROW_D, d, layout);
        double[] y = Pieces.of(OUT, n);
        for (long r = from; r < to; r++) {
            long at = r * n - w.first;
            if (w.mask != null && w.mask.get(r) == 0) {
                Arrays.fill(y, 0, n, 0.0);                          // a padded row is 0
            } else {
                double[] x = piece(X, w.x, at, n);
                double[] dy = w.dy == null ? null : piece(DY, w.dy, at, n);
                for (int j = 0; j < n; j++) {
                    double v = br[j] * (x[j] - kr[j]) + dr[j];
                    y[j] = dy == null ? v : v + ar[j] * dy[j];
                }
            }
            w.out.write(y, n, at);
        }
    }

    /** Per-channel values repeated along each channel's positions of a row. */
    private static double[] perPosition(int slot, double[] perChannel, PassLayout layout) {
        int positions = layout.positionsPerChannel();
        double[] row = Pieces.of(slot, layout.rowLength());
        for (int c = 0; c < perChannel.length; c++) {
            Arrays.fill(row, c * positions, (c + 1) * positions, perChannel[c]);
        }
        return row;
    }

    private static double[] piece(int slot, Window from, long index, int n) {
        double[] to = Pieces.of(slot, n);
        from.read(index, to, n);
        return to;
    }

    /**
     * Counts the non-finite values at valid positions, for an error message.
     *
     * @param view the layout of x
     * @param x    the input
     * @param mask as in {@link #sums}, or null
     * @return how many values are NaN or infinite
     */
    long countNonFinite(ChannelView view, TensorMemory x, TensorMemory mask) {
        double[] counts = new double[view.channels()];
        double[] unused = new double[view.channels()];
        PassLayout layout = PassLayout.sums(view, 4, mask != null);
        PassScheduler.sums(layout, this::open, x, null, mask, (from, to, w, out) -> {
            PlaneCursor p = layout.kind() == PassLayout.Kind.ROWS ? null : layout.planes(from);
            for (long u = from; u < to; u++) {
                long start = p == null ? u * layout.rowLength() : p.start;
                int n = p == null ? layout.rowLength() : p.length;
                boolean rowMasked = p == null && w.mask != null && w.mask.get(u) == 0;
                for (int i0 = 0; i0 < n && !rowMasked; i0 += PIECE) {
                    int len = Math.min(PIECE, n - i0);
                    double[] v = piece(X, w.x, start - w.first + i0, len);
                    double[] m = p == null || w.mask == null ? null : piece(MASK, w.mask, p.maskStart + i0, len);
                    for (int i = 0; i < len; i++) {
                        if (!Double.isFinite(v[i]) && (m == null || m[i] != 0)) {
                            out.a[0]++;
                        }
                    }
                }
                if (p != null) {
                    p.next();
                }
            }
        }, counts, unused);
        return (long) counts[0];
    }
}
