package io.github.dl4jbn.layers;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What one kernel call reads: the layer's input, its mask, and the ghost batch of both the call covers. Every
 * call gets it as an argument, so no call depends on what an earlier call loaded.
 *
 * @param x     the input, of any layout ND4J holds (the kernels make it dense if it is not)
 * @param mask  one value per position of the view, 0 where padded; or null for none
 * @param range the ghost batch's elements and mask positions, or {@link TensorRange#WHOLE}
 */
record KernelInput(INDArray x, INDArray mask, TensorRange range) {

    /** The whole of an input and its mask. */
    static KernelInput whole(INDArray x, INDArray mask) {
        return new KernelInput(x, mask, TensorRange.WHOLE);
    }
}
