package io.github.dl4jbn.internal.kernels;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The hand-over of pass chunks to the helper threads: each chunk once, failures rethrown, concurrent callers. */
class PassThreadsTest {

    /** Runs {@code chunks} chunks that count their own runs; true if each ran exactly once. */
    private static boolean eachChunkRanOnce(int chunks) {
        AtomicIntegerArray runs = new AtomicIntegerArray(chunks);
        PassThreads.run(chunks, runs::incrementAndGet);
        for (int i = 0; i < chunks; i++) {
            if (runs.get(i) != 1) {
                return false;
            }
        }
        return true;
    }

    @Test
    void everyChunkRunsExactlyOnceBeforeRunReturns() {
        for (int round = 0; round < 10_000; round++) {
            int chunks = 1 + round % 17;
            assertTrue(eachChunkRanOnce(chunks), "round " + round + ", " + chunks + " chunks");
        }
    }

    @Test
    void aChunksFailureReachesTheCallerAfterEveryChunkEnded() {
        AtomicInteger ended = new AtomicInteger();
        IllegalStateException failure = new IllegalStateException("chunk 3 failed");
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> PassThreads.run(8, i -> {
            sleep(5);
            ended.incrementAndGet();
            if (i == 3) {
                throw failure;
            }
        }));
        assertSame(failure, thrown);
        assertEquals(8, ended.get(), "run returned before every chunk ended");
        assertTrue(eachChunkRanOnce(8), "the helpers still work after a failure");
    }

    @Test
    void aCheckedExceptionThrownSneakilyIsWrappedNotLost() {
        IOException checked = new IOException("read failed");
        IllegalStateException thrown = assertThrows(IllegalStateException.class,
                () -> PassThreads.run(4, i -> sneakyThrow(checked)));
        assertSame(checked, thrown.getCause());
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> void sneakyThrow(Throwable t) throws T {
        throw (T) t;
    }

    @Test
    void concurrentCallersEachGetAllTheirChunks() throws Exception {
        ExecutorService callers = Executors.newFixedThreadPool(4);
        try {
            List<Future<Integer>> results = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                results.add(callers.submit(() -> {
                    int complete = 0;
                    for (int round = 0; round < 2_000; round++) {
                        complete += eachChunkRanOnce(1 + round % 9) ? 1 : 0;
                    }
                    return complete;
                }));
            }
            for (Future<Integer> result : results) {
                assertEquals(2_000, result.get(60, TimeUnit.SECONDS));
            }
        } finally {
            callers.shutdownNow();
        }
    }

    @Test
    void aParkedHelperIsWokenUpAndTakesChunks() {
        if (PassThreads.parallelism() < 2) {
            return;                                                  // no helper on a one-core machine
        }
        sleep(50);                                                   // well past the spin time: the helpers park
        Set<String> threads = ConcurrentHashMap.newKeySet();
        PassThreads.run(20, i -> {
            threads.add(Thread.currentThread().getName());
            sleep(5);                                                // time for a helper to wake and join in
        });
        assertTrue(threads.contains(Thread.currentThread().getName()), "the caller works too: " + threads);
        assertTrue(threads.stream().anyMatch(name -> name.startsWith("dl4j-bn-pass-")), "no helper took a chunk: " + threads);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
