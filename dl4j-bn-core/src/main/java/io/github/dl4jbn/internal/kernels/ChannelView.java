package io.github.dl4jbn.internal.kernels;

/**
 * The one layout every kernel works on: a row-major tensor seen as {@code [outer, channels, inner]}.
 *
 * <p>Element {@code (o, c, i)} lives at {@code (o * channels + c) * inner + i}. Every input layout the layer
 * accepts reduces to this view without copying: {@code [mb, C]} is {@code [mb, C, 1]}; channels-first
 * layouts (NCW, NCHW, NCDHW) are {@code [mb, C, positions]}; channels-last layouts (NWC, NHWC, NDHWC) are
 * {@code [mb * positions, C, 1]}. Statistics are taken per channel over {@code outer} and {@code inner}.
 * Extents are longs: a tensor may hold more values than a Java array.
 *
 * @param outer    number of blocks before the channel axis (at least 1)
 * @param channels number of channels, one gamma/beta/mean/variance each
 * @param inner    number of contiguous values per channel inside a block (at least 1)
 */
public record ChannelView(long outer, int channels, long inner) {

    /** Most channels a view may have: a channels-last row of them must fit one memory window. */
    public static final int MAX_CHANNELS = 1 << 26;

    /**
     * Checks that every extent is positive and that the channel count is within {@link #MAX_CHANNELS}.
     *
     * @param outer    number of blocks before the channel axis
     * @param channels number of channels
     * @param inner    number of contiguous values per channel inside a block
     */
    public ChannelView {
        if (outer < 1 || channels < 1 || inner < 1) {
            throw new IllegalArgumentException("extents must be positive, got [" + outer + ", " + channels + ", " + inner + "]");
        }
        if (channels > MAX_CHANNELS) {
            throw new IllegalArgumentException("at most " + MAX_CHANNELS + " channels, got " + channels);
        }
        Math.multiplyExact(Math.multiplyExact(outer, (long) channels), inner);       // the size must be a long
    }

    /**
     * The number of values each channel's statistics are taken over: the paper's m for a fully connected layer,
     * m' = m * p * q for a convolutional one (Section 3.2).
     *
     * @return {@code outer * inner}
     */
    public long valuesPerChannel() {
        return outer * inner;
    }

    /**
     * The number of elements of the tensor.
     *
     * @return {@code outer * channels * inner}
     */
    public long size() {
        return outer * channels * inner;
    }
}
