package io.github.dl4jbn.internal.kernels;

import java.util.function.IntConsumer;

/**
 * Whole ghost batches run concurrently on the pass threads, when each is too small for its own passes to use
 * them: a slice below one sums chunk ({@link PassScheduler#SUM_CHUNK_VALUES} values) runs its passes on one
 * thread, so 16 such slices would otherwise run one after another on one core. A slice's passes started from
 * a slice job run on that job's thread ({@link PassThreads} has one owner at a time), so the bits of each
 * slice's results are those of a lone run. Internal: for the layer, not for users.
 */
public final class SliceThreads {

    private SliceThreads() {
    }

    /**
     * @param slices         how many slices a mini-batch has
     * @param valuesPerSlice the values of its largest slice
     * @return whether running whole slices on the pass threads gains: more than one slice, more than one
     *         thread, and slices whose own passes run on one thread
     */
    public static boolean worthIt(int slices, long valuesPerSlice) {
        return slices > 1 && PassThreads.parallelism() > 1 && valuesPerSlice < PassScheduler.SUM_CHUNK_VALUES;
    }

    /**
     * Runs {@code job.accept(s)} for every slice s, concurrently where the pass threads are free, and returns
     * when all have ended; a failure is rethrown after all have ended.
     *
     * @param slices how many
     * @param job    the work of slice s; jobs must not write anything another job reads
     */
    public static void run(int slices, IntConsumer job) {
        PassThreads.run(slices, job);
    }
}
