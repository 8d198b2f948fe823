package io.github.dl4jbn.kernels;

import java.nio.ByteBuffer;

/**
 * The memory passes the float kernels are made of: one sums pass (for the statistics and for the gradient) and
 * one affine pass; {@link FloatBatchNormKernels} holds the math around them. Buffers hold native-order floats;
 * element {@code i} of a tensor starting at element {@code base} is at byte {@code 4 * (base + i)}.
 * Implementations: {@link HeapChunkPasses} (any JVM) and {@code VectorPasses} (the JDK Vector API, when
 * jdk.incubator.vector is present).
 */
interface FloatPasses {

    /**
     * One sums pass, per channel: with {@code dy} null the statistics' {@code a = sum(x - k)},
     * {@code b = sum((x - k)^2)}; else the gradient's {@code a = sum(dy)}, {@code b = sum(dy * (x - k))}.
     */
    FloatBatchNormKernels.Sums sums(ByteBuffer x, int xBase, ByteBuffer dy, int dyBase, ChannelView view, float[] k);

    /**
     * Per element: {@code out = a[c] * u + b[c] * (v - k[c]) + d[c]}; {@code u} may be null (a = 0, and then
     * {@code a} is not read and may be null).
     */
    void affine(ByteBuffer u, int uBase, ByteBuffer v, int vBase, float[] a, float[] b, float[] k, float[] d,
                ChannelView view, ByteBuffer out, int outBase);
}
