package io.github.dl4jbn.examples.mnist;

/**
 * One MNIST split in memory: {@code count} images of {@code rows x cols} pixels scaled to [0, 1], row-major, and
 * their labels 0-9.
 *
 * @param pixels row-major pixel values in [0, 1], {@code count * rows * cols} of them
 * @param labels one digit per image
 * @param rows   image height
 * @param cols   image width
 */
public record MnistData(float[] pixels, byte[] labels, int rows, int cols) {

    /** @return the number of images */
    public int count() {
        return labels.length;
    }

    /** @return pixels per image */
    public int imageSize() {
        return rows * cols;
    }

    /**
     * The first {@code n} images of this split.
     *
     * @param n how many to keep
     * @return a smaller split sharing nothing with this one
     */
    public MnistData head(int n) {
        int keep = Math.min(n, count());
        return new MnistData(java.util.Arrays.copyOf(pixels, keep * imageSize()), java.util.Arrays.copyOf(labels, keep), rows, cols);
    }

    /**
     * Images {@code [from, to)} of this split.
     *
     * @param from the first image
     * @param to   one past the last image
     * @return a smaller split sharing nothing with this one
     */
    public MnistData slice(int from, int to) {
        if (from < 0 || to > count() || from > to) {
            throw new IllegalArgumentException("expected images [from, to) within 0.." + count() + ", got [" + from + ", " + to + ")");
        }
        return new MnistData(java.util.Arrays.copyOfRange(pixels, from * imageSize(), to * imageSize()),
                java.util.Arrays.copyOfRange(labels, from, to), rows, cols);
    }
}
