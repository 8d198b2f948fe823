package io.github.dl4jbn.internal.kernels;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.function.Function;

/**
 * Cuts a pass into chunks, maps them onto memory windows and runs them on {@link PassThreads}; keeps one
 * partial sum per chunk and adds them in chunk order.
 *
 * <p>Chunks are fixed by the shape alone (about {@link #CHUNK_VALUES} values; a sums chunk at least
 * {@link #SUM_CHUNK_VALUES} values and {@link #VALUES_PER_ACCUMULATOR} per accumulator it keeps, so its set-up
 * and flush stay small), so the sums are the same bits on any machine, thread count and window size. A window
 * is a run of whole chunks of at most {@link TensorMemory#MAX_WINDOW_BYTES}: a tensor of any size is read
 * through windows, a tensor of up to 1 GiB through one. Partial sums are held for at most {@link #BATCH_CHUNKS}
 * chunks at a time and added into the total in order after each batch, so the Java heap a pass uses is
 * O(channels) whatever the tensor's size.
 */
final class PassScheduler {

    /** Values per chunk of a write pass: 128 KiB of float, a few microseconds, several times a hand-over. */
    static final int CHUNK_VALUES = 1 << 15;
    /** Least values of a sums chunk: each chunk sets up and flushes its own partial sums. */
    static final int SUM_CHUNK_VALUES = 1 << 16;
    /** Least values a sums chunk adds per accumulator. */
    static final int VALUES_PER_ACCUMULATOR = 16;
    /** Most chunks whose partial sums are held at once. */
    static final int BATCH_CHUNKS = 64;

    /** Largest window in bytes; tests lower it to run many windows over a small tensor. */
    static volatile long maxWindowBytes = TensorMemory.MAX_WINDOW_BYTES;

    private PassScheduler() {
    }

    /**
     * The windows of one window-sized run of chunks, opened as the loops read them: element {@code first} of
     * x, dy and out is at byte 0 of theirs; the mask (one value per (outer, inner) position) is whole.
     *
     * @param <W> the loops' window type
     */
    static final class Windows<W> {
        final W x;
        final W dy;
        final W out;
        final W mask;
        final long first;

        Windows(W x, W dy, W out, W mask, long first) {
            this.x = x;
            this.dy = dy;
            this.out = out;
            this.mask = mask;
            this.first = first;
        }
    }

    /** Per-channel partial sums of one chunk. */
    static final class Sums {
        final double[] a;
        final double[] b;

        Sums(double[] a, double[] b) {
            this.a = a;
            this.b = b;
        }
    }

    /** Sums over units [from, to) of a window into {@code sums}. */
    interface SumChunk<W> {
        void run(long from, long to, Windows<W> windows, Sums sums);
    }

    /** Writes units [from, to) of a window. */
    interface WriteChunk<W> {
        void run(long from, long to, Windows<W> windows);
    }

    /**
     * A sums pass: every unit of {@code layout}, chunk by chunk, into {@code a} and {@code b} (cleared first).
     *
     * @param layout how units are made
     * @param open   turns a window buffer into the loops' window type
     * @param x      the input
     * @param dy     the gradient, or null
     * @param mask   the mask, or null
     * @param chunk  the loops over one chunk
     * @param a      output, per channel
     * @param b      output, per channel
     * @param <W>    the loops' window type
     */
    static <W> void sums(PassLayout layout, Function<ByteBuffer, W> open, TensorMemory x, TensorMemory dy,
                         TensorMemory mask, SumChunk<W> chunk, double[] a, double[] b) {
        Arrays.fill(a, 0.0);
        Arrays.fill(b, 0.0);
        long units = layout.units();
        long size = layout.view().size();
        long chunks = Math.max(1, Math.min(Math.min(units, size / SUM_CHUNK_VALUES),
                size / ((long) VALUES_PER_ACCUMULATOR * layout.accumulators())));
        W maskWindow = whole(mask, open);
        if (chunks == 1 && fitsOneWindow(x, layout)) {
            chunk.run(0, units, new Windows<>(open.apply(x.window(0, size)),
                    dy == null ? null : open.apply(dy.window(0, size)), null, maskWindow, 0), new Sums(a, b));
            return;
        }
        int channels = a.length;
        forEachWindow(layout, chunks, x, (c0, c1, first, count) -> {
            Windows<W> w = new Windows<>(open.apply(x.window(first, count)),
                    dy == null ? null : open.apply(dy.window(first, count)), null, maskWindow, first);
            for (long b0 = c0; b0 < c1; b0 += BATCH_CHUNKS) {
                int batch = (int) Math.min(BATCH_CHUNKS, c1 - b0);
                long batchStart = b0;
                Sums[] partial = new Sums[batch];
                for (int i = 0; i < batch; i++) {
                    partial[i] = new Sums(cleared(2 * i, channels), cleared(2 * i + 1, channels));
                }
                PassThreads.run(batch, i -> chunk.run(unitStart(units, chunks, batchStart + i),
                        unitStart(units, chunks, batchStart + i + 1), w, partial[i]));
                for (Sums s : partial) {                            // in chunk order: the same bits on any thread
                    for (int c = 0; c < channels; c++) {
                        a[c] += s.a[c];
                        b[c] += s.b[c];
                    }
                }
            }
        });
    }

    /**
     * A write pass: every unit of {@code layout}, chunk by chunk.
     *
     * @param layout how units are made
     * @param open   turns a window buffer into the loops' window type
     * @param x      the input
     * @param dy     the gradient, or null
     * @param mask   the mask, or null
     * @param out    the output (may be x or dy)
     * @param chunk  the loops over one chunk
     * @param <W>    the loops' window type
     */
    static <W> void write(PassLayout layout, Function<ByteBuffer, W> open, TensorMemory x, TensorMemory dy,
                          TensorMemory mask, TensorMemory out, WriteChunk<W> chunk) {
        long units = layout.units();
        long size = layout.view().size();
        long chunks = Math.min(units, Math.max(1, size / CHUNK_VALUES));
        W maskWindow = whole(mask, open);
        forEachWindow(layout, chunks, x, (c0, c1, first, count) -> {
            Windows<W> w = new Windows<>(open.apply(x.window(first, count)),
                    dy == null ? null : open.apply(dy.window(first, count)), open.apply(out.window(first, count)),
                    maskWindow, first);
            if (c1 - c0 == 1) {
                chunk.run(unitStart(units, chunks, c0), unitStart(units, chunks, c1), w);
            } else {
                PassThreads.run((int) (c1 - c0), i -> chunk.run(unitStart(units, chunks, c0 + i),
                        unitStart(units, chunks, c0 + i + 1), w));
            }
        });
    }

    /** A window over chunks [c0, c1): elements [first, first + count). */
    private interface WindowBody {
        void run(long c0, long c1, long first, long count);
    }

    /** Groups consecutive chunks into windows of at most {@link #maxWindowBytes}, in order. */
    private static void forEachWindow(PassLayout layout, long chunks, TensorMemory x, WindowBody body) {
        long units = layout.units();
        long bytes = x.elementBytes();
        if (fitsOneWindow(x, layout)) {
            body.run(0, chunks, 0, layout.view().size());
            return;
        }
        long c0 = 0;
        while (c0 < chunks) {
            long first = layout.start(unitStart(units, chunks, c0));
            long c1 = c0 + 1;
            while (c1 < chunks && (layout.end(unitStart(units, chunks, c1 + 1) - 1) - first) * bytes <= maxWindowBytes) {
                c1++;
            }
            long end = layout.end(unitStart(units, chunks, c1) - 1);
            if ((end - first) * bytes > Integer.MAX_VALUE) {
                throw new IllegalStateException("a chunk of " + ((end - first) * bytes) + " bytes exceeds a memory window");
            }
            body.run(c0, c1, first, end - first);
            c0 = c1;
        }
    }

    private static boolean fitsOneWindow(TensorMemory x, PassLayout layout) {
        return layout.view().size() * x.elementBytes() <= maxWindowBytes;
    }

    private static <W> W whole(TensorMemory mask, Function<ByteBuffer, W> open) {
        if (mask == null) {
            return null;
        }
        if (mask.length() * mask.elementBytes() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a mask of " + mask.length() + " values exceeds one memory window");
        }
        return open.apply(mask.window(0, mask.length()));
    }

    /** The first unit of chunk i of {@code chunks} over {@code units} units. */
    static long unitStart(long units, long chunks, long i) {
        return units / chunks * i + units % chunks * i / chunks;
    }

    private static double[] cleared(int slot, int channels) {
        double[] s = Scratch.doubles(Scratch.CHUNK_SUMS + slot, channels);
        Arrays.fill(s, 0.0);
        return s;
    }
}
