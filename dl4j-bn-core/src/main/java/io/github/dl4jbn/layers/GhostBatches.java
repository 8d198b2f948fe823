package io.github.dl4jbn.layers;

import io.github.dl4jbn.internal.kernels.ChannelView;

import java.util.function.LongFunction;

/**
 * How a training mini-batch splits into ghost batches (Hoffer, Hubara and Soudry 2017): slices of k examples in
 * the order of the batch axis, each with its own statistics and m. A mini-batch that is no multiple of k, as an
 * iterator's last batch of an epoch usually is, ends with a shorter slice of the {@code n mod k} examples left; a
 * remainder of one example joins the slice before it instead, since one example has no batch variance. Fewer than
 * k examples make one slice. Immutable; it knows nothing of DL4J.
 */
final class GhostBatches {

    private final TensorRange[] ranges;
    private final ChannelView[] views;
    private final long[] examples;
    private final long total;

    private GhostBatches(TensorRange[] ranges, ChannelView[] views, long[] examples) {
        this.ranges = ranges;
        this.views = views;
        this.examples = examples;
        long sum = 0;
        for (long e : examples) {
            sum += e;
        }
        this.total = sum;
    }

    /**
     * The whole mini-batch as one slice.
     *
     * @param view     its layout
     * @param examples its examples
     * @return one slice covering everything
     */
    static GhostBatches whole(ChannelView view, long examples) {
        return new GhostBatches(new TensorRange[]{TensorRange.WHOLE}, new ChannelView[]{view}, new long[]{examples});
    }

    /**
     * The ghost batches of a mini-batch.
     *
     * @param shape         the input's shape, examples first
     * @param maskPositions the mask's length (positions of the whole mini-batch), or 0 without a mask
     * @param k             examples per ghost batch, at least 2
     * @param layout        the layout of a slice of that many examples
     * @return the slices: whole when {@code k} covers the mini-batch
     */
    static GhostBatches split(long[] shape, long maskPositions, int k, LongFunction<ChannelView> layout) {
        long n = shape[0];
        if (n <= k) {
            return whole(layout.apply(n), n);
        }
        long full = n / k;
        long rest = n % k;
        int count = (int) (rest > 1 ? full + 1 : full);
        long[] rows = new long[count];
        for (int s = 0; s < count; s++) {
            rows[s] = k;
        }
        if (rest == 1) {
            rows[count - 1] = k + 1;                             // one example alone has no batch variance
        } else if (rest > 1) {
            rows[count - 1] = rest;
        }
        long elementsPerExample = 1;
        for (int d = 1; d < shape.length; d++) {
            elementsPerExample *= shape[d];
        }
        long positionsPerExample = maskPositions / n;
        TensorRange[] ranges = new TensorRange[count];
        ChannelView[] views = new ChannelView[count];
        long first = 0;
        for (int s = 0; s < count; s++) {
            ranges[s] = new TensorRange(first * elementsPerExample, rows[s] * elementsPerExample,
                    first * positionsPerExample, rows[s] * positionsPerExample);
            views[s] = s > 0 && rows[s] == rows[s - 1] ? views[s - 1] : layout.apply(rows[s]);
            first += rows[s];
        }
        return new GhostBatches(ranges, views, rows);
    }

    /** @return the number of slices */
    int count() {
        return ranges.length;
    }

    /** @return slice {@code s}'s elements and mask positions */
    TensorRange range(int s) {
        return ranges[s];
    }

    /** @return slice {@code s}'s layout */
    ChannelView view(int s) {
        return views[s];
    }

    /** @return slice {@code s}'s examples */
    long examples(int s) {
        return examples[s];
    }

    /** @return the examples of every slice together: the mini-batch's */
    long totalExamples() {
        return total;
    }
}
