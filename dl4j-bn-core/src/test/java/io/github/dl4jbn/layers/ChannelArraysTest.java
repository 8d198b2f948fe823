package io.github.dl4jbn.layers;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Reads and writes through cached views see the arrays' current contents, and touch nothing else. */
@org.junit.jupiter.api.Tag("once")   // kernel-agnostic: the default run only (docs/design.md, which tests run where)
class ChannelArraysTest {

    /** A parameter-like view: elements [4, 8) of a flat FLOAT vector, as DL4J cuts a layer's parameters. */
    private static INDArray slice(INDArray flat) {
        return flat.get(NDArrayIndex.interval(4, 8));
    }

    @ParameterizedTest(name = "host memory {0}")
    @ValueSource(booleans = {true, false})
    void readsSeeTheCurrentValuesOfTheArrayAndOfItsReplacement(boolean hostMemory) {
        ChannelArrays arrays = new ChannelArrays(hostMemory);
        INDArray flat = Nd4j.createFromArray(0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f);
        INDArray gamma = slice(flat);
        double[] first = arrays.read("gamma", gamma);
        assertArrayEquals(new double[]{4, 5, 6, 7}, first);

        gamma.assign(Nd4j.createFromArray(-1f, -2f, -3f, -4f));             // changed in place, as updaters do
        assertArrayEquals(new double[]{-1, -2, -3, -4}, arrays.read("gamma", gamma));

        INDArray replacement = slice(Nd4j.createFromArray(10f, 11f, 12f, 13f, 14f, 15f, 16f, 17f, 18f, 19f));
        double[] again = arrays.read("gamma", replacement);                  // a new parameter table
        assertArrayEquals(new double[]{14, 15, 16, 17}, again);
        assertSame(first, again, "the working array is reused");
    }

    @ParameterizedTest(name = "host memory {0}")
    @ValueSource(booleans = {true, false})
    void writesChangeOnlyTheTargetElements(boolean hostMemory) {
        ChannelArrays arrays = new ChannelArrays(hostMemory);
        INDArray flat = Nd4j.createFromArray(0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f);
        arrays.write("mean", new double[]{40, 50, 60, 70}, slice(flat));
        assertArrayEquals(new float[]{0, 1, 2, 3, 40, 50, 60, 70, 8, 9}, flat.toFloatVector());
        arrays.write("mean", new double[]{-4, -5, -6, -7}, slice(flat));     // another view object, same name
        assertArrayEquals(new float[]{0, 1, 2, 3, -4, -5, -6, -7, 8, 9}, flat.toFloatVector());
    }

    @ParameterizedTest(name = "host memory {0}")
    @ValueSource(booleans = {true, false})
    void stridedAndDoubleArraysGoThroughNd4j(boolean hostMemory) {
        ChannelArrays arrays = new ChannelArrays(hostMemory);
        INDArray flat = Nd4j.createFromArray(0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);
        INDArray everyOther = flat.get(NDArrayIndex.interval(0, 2, 8));
        assertArrayEquals(new double[]{0, 2, 4, 6}, arrays.read("strided", everyOther));
        arrays.write("strided", new double[]{10, 12, 14, 16}, everyOther);
        assertArrayEquals(new float[]{10, 1, 12, 3, 14, 5, 16, 7}, flat.toFloatVector());

        INDArray doubles = Nd4j.createFromArray(1.5, 2.5, 3.5).castTo(DataType.DOUBLE);
        assertArrayEquals(new double[]{1.5, 2.5, 3.5}, arrays.read("doubles", doubles));
        arrays.write("doubles", new double[]{7, 8, 9}, doubles);
        assertArrayEquals(new double[]{7, 8, 9}, doubles.toDoubleVector());
    }
}
