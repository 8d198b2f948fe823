package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistData;

import java.util.Random;

/**
 * Shifted test domains made from MNIST images, for the {@code adapt} experiment: each changes the pixels and keeps
 * the labels, so accuracy on it says how well a network trained on MNIST transfers. Pixels stay floats; none is
 * clipped, so each shift is exactly what its formula says.
 */
enum DomainShift {

    /** MNIST as it is. */
    CLEAN("clean", "MNIST's own test images: the training domain") {
        @Override
        float pixel(float x, Random noise) {
            return x;
        }
    },
    /** Half the contrast, brighter: {@code 0.5 x + 0.3}. */
    CONTRAST("contrast 0.5, brightness +0.3", "a per-pixel affine change of intensity (another exposure): the first"
            + " BatchNorm's input W x becomes 0.5 W x + 0.3 W 1, an affine change per unit with a positive scale, which"
            + " statistics re-estimated on the new images undo exactly") {
        @Override
        float pixel(float x, Random noise) {
            return 0.5f * x + 0.3f;
        }
    },
    /** Gaussian noise of standard deviation 0.3 on every pixel. */
    NOISE("pixel noise, sd 0.3", "adds variance to every unit's input, which re-estimated variances can absorb, but"
            + " also changes what the units see, which they cannot") {
        @Override
        float pixel(float x, Random noise) {
            return x + 0.3f * (float) noise.nextGaussian();
        }
    },
    /** Light digits on dark, inverted: {@code 1 - x}. */
    INVERTED("inverted, 1 - x", "also affine per unit, but with scale -1: normalization divides by a standard"
            + " deviation, which is positive, so the sign of every first-layer unit stays flipped") {
        @Override
        float pixel(float x, Random noise) {
            return 1 - x;
        }
    },
    /** Rotated by 30 degrees about the centre, bilinear. */
    ROTATED("rotated 30 degrees", "a geometric change: each unit sees other pixels, not an affine change of the same"
            + " ones, so per-unit statistics cannot undo it") {
        @Override
        float pixel(float x, Random noise) {
            return x;
        }

        @Override
        MnistData apply(MnistData data, long seed) {
            return rotate(data, Math.toRadians(30));
        }
    };

    private final String label;
    private final String why;

    DomainShift(String label, String why) {
        this.label = label;
        this.why = why;
    }

    /** @return the shift, as the report names it */
    String label() {
        return label;
    }

    /** @return what the shift does to the first BatchNorm layer's input, and so what AdaBN can do about it */
    String why() {
        return why;
    }

    /** One pixel of the shifted image. */
    abstract float pixel(float x, Random noise);

    /**
     * @param data the images
     * @param seed the noise's seed
     * @return the shifted images, the same labels
     */
    MnistData apply(MnistData data, long seed) {
        Random noise = new Random(seed);
        float[] out = new float[data.pixels().length];
        for (int i = 0; i < out.length; i++) {
            out[i] = pixel(data.pixels()[i], noise);
        }
        return new MnistData(out, data.labels(), data.rows(), data.cols());
    }

    /** Every image turned by {@code angle} about its centre, each pixel sampled bilinearly from the original (0 outside). */
    static MnistData rotate(MnistData data, double angle) {
        int rows = data.rows();
        int cols = data.cols();
        float[] in = data.pixels();
        float[] out = new float[in.length];
        double cy = (rows - 1) / 2.0;
        double cx = (cols - 1) / 2.0;
        double cos = Math.cos(angle);
        double sin = Math.sin(angle);
        for (int n = 0; n < data.count(); n++) {
            int base = n * rows * cols;
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    double sy = cy + (r - cy) * cos - (c - cx) * sin;   // the source of (r, c): rotated back
                    double sx = cx + (r - cy) * sin + (c - cx) * cos;
                    int y0 = (int) Math.floor(sy);
                    int x0 = (int) Math.floor(sx);
                    double fy = sy - y0;
                    double fx = sx - x0;
                    out[base + r * cols + c] = (float) ((1 - fy) * ((1 - fx) * at(in, base, rows, cols, y0, x0)
                            + fx * at(in, base, rows, cols, y0, x0 + 1))
                            + fy * ((1 - fx) * at(in, base, rows, cols, y0 + 1, x0) + fx * at(in, base, rows, cols, y0 + 1, x0 + 1)));
                }
            }
        }
        return new MnistData(out, data.labels(), rows, cols);
    }

    private static float at(float[] pixels, int base, int rows, int cols, int r, int c) {
        return r < 0 || c < 0 || r >= rows || c >= cols ? 0f : pixels[base + r * cols + c];
    }
}
