package io.github.dl4jbn.internal.kernels;

import io.github.dl4jbn.internal.kernels.PassScheduler.Sums;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The passes of tensors computed in float, over any {@link FloatLoops}: the per-channel values rounded to float
 * once per call (repeated per position for row layouts), the walk chosen by {@link PassLayout}, the chunks run
 * by {@link PassScheduler}. Statistics take one pass: float sums relative to a per-channel centre, flushed into
 * double over short runs, keep a mean of 1e4 with a spread of 1e-2 exact to float precision.
 *
 * @param <W> the loops' window type
 */
final class FloatPasses<W> implements ElementPasses {

    private final FloatLoops<W> loops;
    private final FloatCodec codec;
    private final String name;

    FloatPasses(FloatLoops<W> loops, FloatCodec codec, String name) {
        this.loops = loops;
        this.codec = codec;
        this.name = name;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public boolean twoPassStatistics() {
        return false;
    }

    @Override
    public double representable(double value) {
        return (float) value;
    }

    @Override
    public double get(ByteBuffer window, long index) {
        return codec.get(window, index);
    }

    @Override
    public void sums(ChannelView view, TensorMemory x, TensorMemory dy, TensorMemory mask, double[] centre,
                     double[] s1, double[] s2) {
        PassLayout layout = PassLayout.sums(view, loops.lanes(), mask != null);
        float[] k = perUnit(layout, Scratch.CENTRE, Scratch.ROW_K, centre);
        boolean rows = layout.kind() == PassLayout.Kind.ROWS;
        PassScheduler.sums(layout, loops::open, x, dy, mask, (from, to, w, out) -> {
            if (rows) {
                loops.rowSums(layout, from, to, w, k, out);
            } else {
                loops.planeSums(layout, from, to, w, k, out);
            }
        }, s1, s2);
    }

    @Override
    public void affine(ChannelView view, TensorMemory x, TensorMemory dy, TensorMemory mask, double[] a,
                       double[] b, double[] k, double[] d, TensorMemory out) {
        PassLayout layout = PassLayout.affine(view, loops.lanes(), mask != null);
        float[] af = dy == null ? null : perUnit(layout, Scratch.COEFF_A, Scratch.ROW_A, a);   // unread without dy
        float[] bf = perUnit(layout, Scratch.COEFF_B, Scratch.ROW_B, b);
        float[] kf = perUnit(layout, Scratch.CENTRE, Scratch.ROW_K, k);
        float[] df = perUnit(layout, Scratch.COEFF_D, Scratch.ROW_D, d);
        PassLayout.Kind kind = layout.kind();
        PassScheduler.write(layout, loops::open, x, dy, mask, out, (from, to, w) -> {
            if (kind == PassLayout.Kind.ROWS) {
                loops.rowAffine(layout, from, to, w, af, bf, kf, df);
            } else if (kind == PassLayout.Kind.PLANE_BLOCKS) {
                loops.blockAffine(layout, from, to, w, af, bf, kf, df);
            } else {
                loops.planeAffine(layout, from, to, w, af, bf, kf, df);
            }
        });
    }

    /**
     * Per-channel values as floats in slot {@code slot}; for a row layout, repeated along each channel's
     * positions of a row (in slot {@code rowSlot}).
     */
    private static float[] perUnit(PassLayout layout, int slot, int rowSlot, double[] perChannel) {
        int channels = perChannel.length;
        float[] f = Scratch.floats(slot, channels);
        for (int c = 0; c < channels; c++) {
            f[c] = (float) perChannel[c];
        }
        int positions = layout.positionsPerChannel();
        if (layout.kind() != PassLayout.Kind.ROWS || positions == 1) {
            return f;
        }
        float[] row = Scratch.floats(rowSlot, channels * positions);
        for (int c = 0; c < channels; c++) {
            Arrays.fill(row, c * positions, (c + 1) * positions, f[c]);
        }
        return row;
    }

    /**
     * Adds float accumulators of {@code rows} rows of n positions into per-channel double sums; positions
     * {@code [c * positionsPerChannel, (c + 1) * positionsPerChannel)} of a row are channel c's.
     */
    static void flushRows(float[] s1, float[] s2, int rows, int n, int positionsPerChannel, Sums out) {
        for (int r = 0; r < rows; r++) {
            int base = r * n;
            if (positionsPerChannel == 1) {
                for (int c = 0; c < n; c++) {
                    out.a[c] += s1[base + c];
                    out.b[c] += s2[base + c];
                }
            } else {
                for (int c = 0, j = base; j < base + n; c++) {
                    double a = 0;
                    double b = 0;
                    for (int end = j + positionsPerChannel; j < end; j++) {
                        a += s1[j];
                        b += s2[j];
                    }
                    out.a[c] += a;
                    out.b[c] += b;
                }
            }
        }
    }
}
