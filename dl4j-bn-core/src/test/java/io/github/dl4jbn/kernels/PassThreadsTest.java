package io.github.dl4jbn.kernels;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
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

/** The hand-over of pass parts to the helper threads: each part once, failures rethrown, concurrent callers. */
class PassThreadsTest {

    private static Runnable[] counting(AtomicIntegerArray runs, int parts) {
        Runnable[] work = new Runnable[parts];
        for (int i = 0; i < parts; i++) {
            int part = i;
            work[i] = () -> runs.incrementAndGet(part);
        }
        return work;
    }

    @Test
    void everyPartRunsExactlyOnceBeforeRunReturns() {
        int parts = PassThreads.parallelism();
        for (int round = 0; round < 10_000; round++) {
            AtomicIntegerArray runs = new AtomicIntegerArray(parts);
            PassThreads.run(counting(runs, parts));
            for (int i = 0; i < parts; i++) {
                assertEquals(1, runs.get(i), "round " + round + ", part " + i);
            }
        }
    }

    @Test
    void aHelperPartsFailureReachesTheCallerAfterEveryPartEnded() {
        if (PassThreads.parallelism() < 2) {
            return;                                                  // no helper on a one-core machine
        }
        AtomicInteger finished = new AtomicInteger();
        IllegalStateException failure = new IllegalStateException("part 1 failed");
        Runnable[] work = {
                () -> { throw new IllegalArgumentException("part 0 failed"); },
                () -> {
                    sleep(20);
                    finished.incrementAndGet();
                    throw failure;
                }
        };
        IllegalArgumentException first = assertThrows(IllegalArgumentException.class, () -> PassThreads.run(work));
        assertEquals("part 0 failed", first.getMessage());          // the caller's own failure wins
        assertEquals(1, finished.get(), "run returned before the helper's part ended");
        Runnable[] helperFails = {() -> { }, () -> { throw failure; }};
        assertSame(failure, assertThrows(IllegalStateException.class, () -> PassThreads.run(helperFails)));
        AtomicIntegerArray runs = new AtomicIntegerArray(2);
        PassThreads.run(counting(runs, 2));                          // the helpers still work
        assertEquals(1, runs.get(0));
        assertEquals(1, runs.get(1));
    }

    @Test
    void concurrentCallersEachGetAllTheirParts() throws Exception {
        int parts = PassThreads.parallelism();
        ExecutorService callers = Executors.newFixedThreadPool(4);
        try {
            List<Future<Integer>> results = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                results.add(callers.submit(() -> {
                    int complete = 0;
                    for (int round = 0; round < 2_000; round++) {
                        AtomicIntegerArray runs = new AtomicIntegerArray(parts);
                        PassThreads.run(counting(runs, parts));
                        boolean all = true;
                        for (int i = 0; i < parts; i++) {
                            all &= runs.get(i) == 1;
                        }
                        complete += all ? 1 : 0;
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
    void aParkedHelperIsWokenUp() {
        if (PassThreads.parallelism() < 2) {
            return;
        }
        sleep(50);                                                   // well past the spin time: the helper parks
        Thread[] ranOn = new Thread[2];
        Runnable[] work = {
                () -> {
                    ranOn[0] = Thread.currentThread();
                    sleep(50);                                       // time for the helper to wake and take its part
                },
                () -> ranOn[1] = Thread.currentThread()
        };
        PassThreads.run(work);
        assertSame(Thread.currentThread(), ranOn[0]);
        assertTrue(ranOn[1].getName().startsWith("dl4j-bn-pass-"), "part 1 ran on " + ranOn[1].getName());
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
