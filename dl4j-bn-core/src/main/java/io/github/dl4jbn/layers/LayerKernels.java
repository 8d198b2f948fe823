package io.github.dl4jbn.layers;

import io.github.dl4jbn.internal.kernels.ChannelView;
import io.github.dl4jbn.internal.kernels.KernelSetting;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;


/**
 * The layer's calls on tensors, one implementation per way of reaching ND4J's memory: {@link HostKernels}
 * streams through host buffers (ND4J's CPU backend), {@link Nd4jOpsKernels} runs ND4J's own ops wherever the
 * arrays live. {@link #forType} chooses once per JVM. Each call gets the tensors it reads as arguments
 * ({@link KernelInput}: input, mask, ghost batch); per-channel values travel as {@code double[]}. No call depends
 * on an earlier one.
 */
interface LayerKernels {

    /**
     * The kernels for a network's data type: ND4J's ops when {@code -Ddl4jbn.kernels=nd4j} or when ND4J's
     * backend is not its CPU backend (the host kernels read memory a device backend need not keep on the host),
     * otherwise the host kernels.
     *
     * @param type FLOAT, DOUBLE, HALF or BFLOAT16
     * @return the kernels
     */
    static LayerKernels forType(DataType type) {
        KernelSetting.current();                                 // an unknown -Ddl4jbn.kernels fails here, clearly
        return Choice.ND4J_OPS ? new Nd4jOpsKernels(type) : HostKernels.forType(type);
    }

    /** @return whether this JVM's layers run ND4J's ops rather than the host kernels */
    static boolean nd4jOps() {
        return Choice.ND4J_OPS;
    }

    /** The choice, made and logged once on first use. */
    final class Choice {
        private static final Logger log = LoggerFactory.getLogger(LayerKernels.class);
        static final boolean ND4J_OPS = choose();

        private Choice() {
        }

        private static boolean choose() {
            boolean forced = KernelSetting.current() == KernelSetting.ND4J;
            boolean cpu = Nd4j.getEnvironment().isCPU();
            if (forced || !cpu) {
                log.info("dl4j-bn kernels: ND4J's ops ({})", forced ? "-D" + KernelSetting.PROPERTY + "=nd4j"
                        : "backend " + Nd4j.getBackend().getClass().getSimpleName() + " is not ND4J's CPU backend");
            }
            return forced || !cpu;
        }
    }

    /** @return the unmasked positions of the input's mask within its range: the m of every channel */
    long validPositions(KernelInput in);

    /**
     * Algorithm 1, lines 1-2, on the input's range: per-channel mean and biased variance over the valid values.
     *
     * @return m, the values per channel
     */
    long batchStatistics(KernelInput in, ChannelView view, double[] mean, double[] var);

    /** Algorithm 1, lines 3-4 (Algorithm 2, line 11) on the input's range into that range of {@code out}, 0 where padded. */
    void normalize(KernelInput in, ChannelView view, double[] mean, double[] invStd, double[] gamma, double[] beta,
                   INDArray out);

    /** The backward pass of {@link #normalize} with output gradient {@code dy} (same shape as x) into that range of {@code dx}, {@code dgamma} and {@code dbeta}. */
    void backward(KernelInput in, INDArray dy, ChannelView view, long m, double[] mean, double[] invStd,
                  double[] gamma, boolean through, INDArray dx, double[] dgamma, double[] dbeta);

    /** @return the NaN and infinite values at valid positions of the input's range (for an error message) */
    long countNonFinite(KernelInput in, ChannelView view);

    /** @return whether per-channel arrays may be read and written through host (NIO) views */
    boolean hostMemory();

    /**
     * Runs one job per ghost batch: concurrently where these kernels gain by it (see
     * {@link io.github.dl4jbn.internal.kernels.SliceThreads}), else in order on this thread. A job's kernel calls
     * may run on another thread; each slice's results do not depend on which.
     *
     * @param in             the input and mask the jobs read (their whole)
     * @param dy             the output gradient the jobs read, or null
     * @param slices         how many slices
     * @param valuesPerSlice the values of the largest slice
     * @param job            the work of slice s, writing only that slice's outputs
     */
    default void forEachSlice(KernelInput in, INDArray dy, int slices, long valuesPerSlice,
                              java.util.function.IntConsumer job) {
        for (int s = 0; s < slices; s++) {
            job.accept(s);
        }
    }
}
