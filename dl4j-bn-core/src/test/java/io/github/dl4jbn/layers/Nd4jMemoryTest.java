package io.github.dl4jbn.layers;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * ND4J arrays as the kernels' memory: a window holds exactly the elements asked for, through the buffer's NIO
 * view and through pointer windows (the way past 2 GiB, forced here on small arrays), for an array of its own
 * buffer and for a view inside a larger one.
 */
class Nd4jMemoryTest {

    @AfterEach
    void viewsAgain() {
        Nd4jMemory.pointerWindows = false;
    }

    @ParameterizedTest(name = "pointer windows: {0}")
    @ValueSource(booleans = {false, true})
    void windowsHoldTheElementsAskedFor(boolean pointerWindows) {
        Nd4jMemory.pointerWindows = pointerWindows;
        INDArray whole = Nd4j.arange(3_000_000).castTo(DataType.FLOAT);
        INDArray inside = whole.get(NDArrayIndex.interval(1_000_003, 2_000_003));   // a contiguous view at an offset
        for (INDArray array : new INDArray[]{whole, inside}) {
            Nd4jMemory memory = new Nd4jMemory(array);
            for (long first : new long[]{0, 1, 777_777, array.length() - 10}) {
                ByteBuffer w = memory.window(first, 10);
                assertEquals(40, w.capacity(), "window bytes");
                for (int i = 0; i < 10; i++) {
                    assertEquals(array.getFloat(first + i), w.getFloat(4 * i), "element " + (first + i));
                }
            }
        }
        INDArray doubles = Nd4j.arange(500_000).castTo(DataType.DOUBLE);
        ByteBuffer w = new Nd4jMemory(doubles).window(123_457, 3);
        assertEquals(doubles.getDouble(123_458), w.getDouble(8), 0.0);
    }
}
