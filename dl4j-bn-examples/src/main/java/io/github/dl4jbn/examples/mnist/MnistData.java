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
}
