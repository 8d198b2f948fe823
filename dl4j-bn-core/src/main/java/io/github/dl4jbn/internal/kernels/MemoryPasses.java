package io.github.dl4jbn.internal.kernels;

import java.nio.ByteBuffer;

/**
 * The passes over tensors in native memory ({@link TensorMemory}): an {@link ElementPasses} for the element
 * type, and the mask and first-value reads the steps need, through memory windows. Masks are FLOAT for float
 * passes and DOUBLE for double ones.
 */
final class MemoryPasses implements TensorPasses<TensorMemory> {

    private final ElementPasses passes;

    MemoryPasses(ElementPasses passes) {
        this.passes = passes;
    }

    @Override
    public String name() {
        return passes.name();
    }

    @Override
    public boolean twoPassStatistics() {
        return passes.twoPassStatistics();
    }

    @Override
    public double representable(double value) {
        return passes.representable(value);
    }

    @Override
    public long validPositions(TensorMemory mask) {
        return countValid(mask);
    }

    /** @return the mask's non-zero values: the m of every channel */
    static long countValid(TensorMemory mask) {
        long valid = 0;
        for (long first = 0; first < mask.length(); first += windowValues(mask)) {
            long count = Math.min(windowValues(mask), mask.length() - first);
            ByteBuffer w = mask.window(first, count);
            for (int i = 0; i < count; i++) {
                if (maskValue(w, i, mask.elementBytes()) != 0) {
                    valid++;
                }
            }
        }
        return valid;
    }

    @Override
    public void firstValidValues(TensorMemory x, TensorMemory mask, ChannelView view, double[] centre) {
        long position = mask == null ? 0 : firstValid(mask);
        long inner = view.inner();
        int channels = view.channels();
        long base = position / inner * channels * inner + position % inner;     // element (o, 0, i)
        long span = (channels - 1) * inner + 1;
        if (span * x.elementBytes() <= TensorMemory.MAX_WINDOW_BYTES) {
            ByteBuffer w = x.window(base, span);
            for (int c = 0; c < channels; c++) {
                centre[c] = passes.get(w, c * inner);
            }
        } else {
            for (int c = 0; c < channels; c++) {
                centre[c] = passes.get(x.window(base + c * inner, 1), 0);
            }
        }
    }

    @Override
    public void sums(ChannelView view, TensorMemory x, TensorMemory dy, TensorMemory mask, double[] centre,
                     double[] s1, double[] s2) {
        passes.sums(view, x, dy, mask, centre, s1, s2);
    }

    @Override
    public void affine(ChannelView view, TensorMemory x, TensorMemory dy, TensorMemory mask, double[] a, double[] b,
                       double[] k, double[] d, TensorMemory out) {
        passes.affine(view, x, dy, mask, a, b, k, d, out);
    }

    private static long firstValid(TensorMemory mask) {
        for (long first = 0; first < mask.length(); first += windowValues(mask)) {
            long count = Math.min(windowValues(mask), mask.length() - first);
            ByteBuffer w = mask.window(first, count);
            for (int i = 0; i < count; i++) {
                if (maskValue(w, i, mask.elementBytes()) != 0) {
                    return first + i;
                }
            }
        }
        return 0;
    }

    private static long windowValues(TensorMemory memory) {
        return TensorMemory.MAX_WINDOW_BYTES / memory.elementBytes();
    }

    private static double maskValue(ByteBuffer w, int i, int bytes) {
        return bytes == 8 ? w.getDouble(8 * i) : w.getFloat(4 * i);
    }
}
