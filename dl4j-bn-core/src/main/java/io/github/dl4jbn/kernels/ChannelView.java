package io.github.dl4jbn.kernels;

/**
 * The one layout every kernel works on: a row-major tensor seen as {@code [outer, channels, inner]}.
 *
 * <p>Element {@code (o, c, i)} lives at {@code (o * channels + c) * inner + i}. Every input layout the layer
 * accepts reduces to this view without copying: {@code [mb, C]} is {@code [mb, C, 1]}; channels-first
 * layouts (NCW, NCHW, NCDHW) are {@code [mb, C, positions]}; channels-last layouts (NWC, NHWC, NDHWC) are
 * {@code [mb * positions, C, 1]}. Statistics are taken per channel over {@code outer} and {@code inner}.
 *
 * @param outer    number of blocks before the channel axis (at least 1)
 * @param channels number of channels, one gamma/beta/mean/variance each
 * @param inner    number of contiguous values per channel inside a block (at least 1)
 */
public record ChannelView(int outer, int channels, int inner) {

    /** Checks that every extent is positive and that the tensor fits a Java array. */
    public ChannelView {
        if (outer < 1 || channels < 1 || inner < 1) {
            throw new IllegalArgumentException("extents must be positive, got [" + outer + ", " + channels + ", " + inner + "]");
        }
        if ((long) outer * channels * inner > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor too large for one kernel call: [" + outer + ", " + channels + ", " + inner + "]");
        }
    }

    /**
     * The number of values each channel's statistics are taken over: the paper's m for a fully connected layer,
     * m' = m * p * q for a convolutional one (Section 3.2).
     *
     * @return {@code outer * inner}
     */
    public int valuesPerChannel() {
        return outer * inner;
    }

    /**
     * The number of elements of the tensor.
     *
     * @return {@code outer * channels * inner}
     */
    public int size() {
        return outer * channels * inner;
    }
}
