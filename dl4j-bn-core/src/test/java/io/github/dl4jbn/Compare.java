package io.github.dl4jbn;

import org.junit.jupiter.api.Assertions;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The tests' one closeness check: every element within {@code rel * |expected| + abs}, or within its own
 * absolute tolerance; the first element outside is named with both values and its tolerance.
 */
public final class Compare {

    private Compare() {
    }

    /**
     * Asserts {@code |actual[i] - expected[i]| <= rel * |expected[i]| + abs} for every element.
     *
     * @return the worst error relative to that bound (at most 1 when the assertion holds)
     */
    public static double assertClose(double[] expected, double[] actual, double rel, double abs, String what) {
        double[] tolerance = new double[expected.length];
        for (int i = 0; i < expected.length; i++) {
            tolerance[i] = rel * Math.abs(expected[i]) + abs;
        }
        return assertWithin(expected, actual, tolerance, what);
    }

    /**
     * Asserts {@code |actual[i] - expected[i]| <= tolerance[i]} for every element.
     *
     * @return the worst ratio of error to tolerance
     */
    public static double assertWithin(double[] expected, double[] actual, double[] tolerance, String what) {
        Assertions.assertEquals(expected.length, actual.length, what + ": length");
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double error = Math.abs(expected[i] - actual[i]);
            if (!(error <= tolerance[i])) {
                Assertions.fail(what + "[" + i + "]: expected " + expected[i] + ", got " + actual[i] + " (tolerance "
                        + tolerance[i] + ")");
            }
            worst = Math.max(worst, tolerance[i] == 0 ? 0 : error / tolerance[i]);
        }
        return worst;
    }

    /**
     * As {@link #assertClose(double[], double[], double, double, String)} for two arrays of one shape.
     *
     * @return the worst relative error with the floor folded in, {@code |a - e| / (|e| + abs/rel)}: at most rel
     */
    public static double assertClose(INDArray expected, INDArray actual, double rel, double abs, String what) {
        Assertions.assertArrayEquals(expected.shape(), actual.shape(), what + ": shapes");
        return rel * assertClose(Nets.values(expected), Nets.values(actual), rel, abs, what);
    }

    /**
     * The largest {@code |a - e| / (|e| + abs/rel)} over all elements: at most {@code rel} exactly when every
     * element is within {@code rel * |e| + abs}; infinite where a value is not finite. For asserting that two
     * arrays differ.
     */
    public static double worstRelative(INDArray expected, INDArray actual, double rel, double abs) {
        Assertions.assertArrayEquals(expected.shape(), actual.shape(), "shapes");
        double[] e = Nets.values(expected);
        double[] a = Nets.values(actual);
        double worst = 0;
        for (int i = 0; i < e.length; i++) {
            double error = Math.abs(e[i] - a[i]) / (Math.abs(e[i]) + abs / rel);
            if (!(error <= Double.MAX_VALUE)) {
                return Double.POSITIVE_INFINITY;
            }
            worst = Math.max(worst, error);
        }
        return worst;
    }

    /** @return the largest magnitude of the values, at least {@code floor} */
    public static double scale(double[] values, double floor) {
        double scale = floor;
        for (double v : values) {
            scale = Math.max(scale, Math.abs(v));
        }
        return scale;
    }
}
