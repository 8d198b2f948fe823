package io.github.dl4jbn.layers;

/**
 * The part of its tensors one kernel call works on (see {@link KernelInput}): elements {@code [firstElement,
 * firstElement + elements)} of the input, gradient and outputs, and positions {@code [firstPosition,
 * firstPosition + positions)} of the mask. One ghost batch, whose examples are contiguous; or {@link #WHOLE}.
 *
 * @param firstElement  first element of the range
 * @param elements      elements in the range, or -1 for the whole tensor
 * @param firstPosition first mask position of the range
 * @param positions     mask positions in the range
 */
record TensorRange(long firstElement, long elements, long firstPosition, long positions) {

    /** The whole tensor. */
    static final TensorRange WHOLE = new TensorRange(0, -1, 0, -1);

    /** @return whether this is the whole tensor */
    boolean whole() {
        return elements < 0;
    }
}
