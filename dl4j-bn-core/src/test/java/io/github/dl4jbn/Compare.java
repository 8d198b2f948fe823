package io.github.dl4jbn;

import org.junit.jupiter.api.Assertions;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Elementwise comparison with a relative tolerance and an absolute floor; records the worst error seen. */
public final class Compare {

    private Compare() {
    }

    /**
     * The largest |a - b| / (|a| + floor/rel) over all elements, i.e. the relative error with the floor folded in;
     * a value <= rel means every element satisfies |a - b| <= rel * |a| + floor.
     */
    public static double worstRelative(INDArray expected, INDArray actual, double rel, double floor) {
        Assertions.assertArrayEquals(expected.shape(), actual.shape(), "shapes");
        double[] e = expected.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] a = actual.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double worst = 0;
        for (int i = 0; i < e.length; i++) {
            double err = Math.abs(e[i] - a[i]) / (Math.abs(e[i]) + floor / rel);
            if (!(err <= Double.MAX_VALUE)) {
                return Double.POSITIVE_INFINITY;
            }
            worst = Math.max(worst, err);
        }
        return worst;
    }

    /** Asserts every element within rel * |expected| + floor; returns the worst relative error. */
    public static double assertClose(INDArray expected, INDArray actual, double rel, double floor, String what) {
        double worst = worstRelative(expected, actual, rel, floor);
        Assertions.assertTrue(worst <= rel, what + ": worst relative error " + worst + " above " + rel
                + "\nexpected " + expected + "\nactual   " + actual);
        return worst;
    }
}
