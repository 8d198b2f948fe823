package io.github.dl4jbn.internal.kernels;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * The helper threads a memory pass is split over. A pass is cut into chunks and every thread (the caller is
 * thread 0) owns an equal run of them, so a tensor that fits in the cores' caches is read by the same core on
 * every pass; a thread that runs out takes the others' remaining chunks from the back. A helper that wakes up
 * late (tens of microseconds on a VM, more than a mid-size tensor's pass) thus just finds its chunks done.
 * A helper spins for a short while after its last chunk before it parks, so the back-to-back passes of one
 * layer call find it awake. One caller at a time owns the helpers; a concurrent caller (ParallelWrapper workers,
 * say) runs all its chunks on its own thread. Which thread runs a chunk never changes the result: the kernels
 * keep one partial sum per chunk and add them in chunk order.
 *
 * <p>Threads in all, the caller's included: {@code availableProcessors}, at most 8 (memory-bound passes gain
 * nothing beyond), or {@code -Ddl4jbn.threads=N} (1: no helper).
 */
final class PassThreads {

    private static final Logger log = LoggerFactory.getLogger(PassThreads.class);

    /** How long an idle helper spins before parking: covers the gap between the passes of one layer call. */
    private static final long SPIN_NANOS = 100_000;
    /** Default cap on the threads in all. */
    private static final int MAX_DEFAULT_THREADS = 8;

    private static final Helper[] HELPERS = startHelpers(threads() - 1);
    private static final AtomicBoolean OWNED = new AtomicBoolean();

    private PassThreads() {
    }

    /** @return how many threads a pass may run on, the caller's included */
    static int parallelism() {
        return HELPERS.length + 1;
    }

    private static int threads() {
        int processors = Math.min(MAX_DEFAULT_THREADS, Runtime.getRuntime().availableProcessors());
        String configured = System.getProperty("dl4jbn.threads");
        if (configured == null) {
            return processors;
        }
        try {
            return Math.max(1, Integer.parseInt(configured.trim()));
        } catch (NumberFormatException e) {
            log.warn("dl4j-bn: ignoring -Ddl4jbn.threads={} (not a number); using {} threads", configured, processors);
            return processors;
        }
    }

    private static Helper[] startHelpers(int count) {
        Helper[] helpers = new Helper[Math.max(0, count)];
        for (int i = 0; i < helpers.length; i++) {
            helpers[i] = new Helper(i + 1);
        }
        return helpers;
    }

    /**
     * Runs {@code chunk.accept(i)} for every i in [0, chunks), on the calling thread and on the helpers when they
     * are free, and returns when every chunk has ended. A chunk's failure is rethrown after all have ended.
     *
     * @param chunks how many chunks
     * @param chunk  the work of chunk i
     */
    static void run(int chunks, IntConsumer chunk) {
        if (chunks == 1) {
            chunk.accept(0);
            return;
        }
        boolean owner = HELPERS.length > 0 && OWNED.compareAndSet(false, true);
        Job job = new Job(chunks, chunk, owner ? parallelism() : 1);
        try {
            if (owner) {
                for (int t = 1; t < parallelism(); t++) {
                    HELPERS[t - 1].post(job);
                }
            }
            job.work(0);
            if (owner) {
                for (Helper helper : HELPERS) {
                    helper.retract(job);
                }
                while (job.completed.get() < chunks) {
                    Thread.onSpinWait();                      // a helper is finishing its last chunk
                }
            }
        } finally {
            if (owner) {
                OWNED.set(false);
            }
        }
        Throwable failure = job.failure;
        if (failure instanceof RuntimeException) {
            throw (RuntimeException) failure;
        }
        if (failure instanceof Error) {
            throw (Error) failure;
        }
        if (failure != null) {
            throw new IllegalStateException("dl4j-bn: a pass chunk failed", failure);   // a sneaky checked exception
        }
    }

    /** The chunks of one pass: per thread a run [next, end) packed in one long, taken from the front by its owner. */
    private static final class Job {
        final IntConsumer chunk;
        final AtomicLongArray runs;
        final AtomicInteger completed = new AtomicInteger();
        volatile Throwable failure;

        Job(int chunks, IntConsumer chunk, int threads) {
            this.chunk = chunk;
            runs = new AtomicLongArray(threads);
            for (int t = 0; t < threads; t++) {
                runs.set(t, pack((int) ((long) chunks * t / threads), (int) ((long) chunks * (t + 1) / threads)));
            }
        }

        private static long pack(int next, int end) {
            return (long) next << 32 | end;
        }

        /** Thread t: its own run front to back, then the other threads' runs from the back. */
        void work(int t) {
            int threads = runs.length();
            for (int k = 0; k < threads; k++) {
                int owner = (t + k) % threads;
                for (int i = take(owner, k == 0); i >= 0; i = take(owner, k == 0)) {
                    try {
                        chunk.accept(i);
                    } catch (Throwable e) {
                        if (failure == null) {
                            failure = e;
                        }
                    } finally {
                        completed.incrementAndGet();
                    }
                }
            }
        }

        /** The next chunk of a thread's run, from the front (its owner) or the back (a thief); -1 if none is left. */
        private int take(int owner, boolean front) {
            while (true) {
                long run = runs.get(owner);
                int next = (int) (run >>> 32);
                int end = (int) run;
                if (next >= end) {
                    return -1;
                }
                if (runs.compareAndSet(owner, run, front ? pack(next + 1, end) : pack(next, end - 1))) {
                    return front ? next : end - 1;
                }
            }
        }
    }

    /** One helper thread with a one-job mailbox; it works jobs as thread {@code index}. */
    private static final class Helper implements Runnable {
        private final AtomicReference<Job> mailbox = new AtomicReference<>();
        private final Thread thread;
        private final int index;
        private volatile boolean parked;

        Helper(int index) {
            this.index = index;
            thread = new Thread(this, "dl4j-bn-pass-" + index);
            thread.setDaemon(true);
            thread.start();
        }

        void post(Job job) {
            mailbox.set(job);
            if (parked) {
                LockSupport.unpark(thread);
            }
        }

        /** Takes a job back that this helper has not started; a late helper would find no chunk left anyway. */
        void retract(Job job) {
            mailbox.compareAndSet(job, null);
        }

        @Override
        public void run() {
            long idleSince = System.nanoTime();
            while (true) {
                Job job = mailbox.get();
                if (job != null && mailbox.compareAndSet(job, null)) {
                    job.work(index);
                    idleSince = System.nanoTime();
                } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    parked = true;
                    if (mailbox.get() == null) {
                        LockSupport.park(this);               // post() unparks after filling the mailbox
                    }
                    parked = false;
                    idleSince = System.nanoTime();
                }
            }
        }
    }
}
