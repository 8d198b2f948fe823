package io.github.dl4jbn.kernels;

import java.nio.ByteBuffer;

/**
 * The three memory passes the float kernels are made of; {@link FloatBatchNormKernels} holds the math around
 * them. Buffers hold native-order floats; element {@code i} of a tensor starting at element {@code base} is at
 * byte {@code 4 * (base + i)}. Implementations: {@link HeapChunkPasses} (any JVM) and {@code VectorPasses}
 * (the JDK Vector API, when jdk.incubator.vector is present).
 */
interface FloatPasses {

    /** Per channel: {@code a = sum(x - shift)}, {@code b = sum((x - shift)^2)}. */
    FloatBatchNormKernels.Sums shiftedSums(ByteBuffer x, int base, ChannelView view, float[] shift);

    /** Per channel: {@code a = sum(dy)}, {@code b = sum(dy * (x - center))}. */
    FloatBatchNormKernels.Sums gradientSums(ByteBuffer x, int xBase, ByteBuffer dy, int dyBase, ChannelView view,
                                            float[] center);

    /** Per element: {@code out = a[c] * u + b[c] * (v - k[c]) + d[c]}; {@code u} may be null (a = 0). */
    void affine(ByteBuffer u, int uBase, ByteBuffer v, int vBase, float[] a, float[] b, float[] k, float[] d,
                ChannelView view, ByteBuffer out, int outBase);
}
