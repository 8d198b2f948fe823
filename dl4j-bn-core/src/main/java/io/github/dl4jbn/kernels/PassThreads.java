package io.github.dl4jbn.kernels;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The helper threads a memory pass is split over: part 0 runs on the calling thread, part i on helper i. A helper
 * spins for a short while after each part before it parks, so the back-to-back passes of one layer call hand
 * over in well under a microsecond; waking a parked thread (or a fork-join worker) costs tens of microseconds on
 * a VM, which is more than a mid-size tensor's pass takes (measured: [256, 1024] forward+backward was slower on
 * the common fork-join pool than on one thread). A part a helper has not started when the caller finishes its
 * own is taken back and run by the caller, so a slow wake-up never makes a pass wait. One caller at a time owns
 * the helpers; a concurrent caller (ParallelWrapper workers, say) runs its passes on its own thread.
 *
 * <p>Helpers: {@code availableProcessors - 1}, or {@code -Ddl4jbn.threads=N} for N threads in all (1: none).
 */
final class PassThreads {

    private static final Logger log = LoggerFactory.getLogger(PassThreads.class);

    /** How long an idle helper spins before parking: covers the gap between the passes of one layer call. */
    private static final long SPIN_NANOS = 100_000;

    private static final Helper[] HELPERS = startHelpers(threads() - 1);
    private static final AtomicBoolean OWNED = new AtomicBoolean();

    private PassThreads() {
    }

    /** @return how many threads a pass may run on, the caller's included */
    static int parallelism() {
        return HELPERS.length + 1;
    }

    private static int threads() {
        String configured = System.getProperty("dl4jbn.threads");
        int processors = Runtime.getRuntime().availableProcessors();
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
            helpers[i] = new Helper("dl4j-bn-pass-" + (i + 1));
        }
        return helpers;
    }

    /**
     * Runs every part, part 0 on the calling thread and the others on the helpers when they are free (else all on
     * the calling thread), and returns when all have finished. The first failure is rethrown after all parts end.
     *
     * @param parts at most {@link #parallelism()} parts
     */
    static void run(Runnable[] parts) {
        if (parts.length == 1 || !OWNED.compareAndSet(false, true)) {
            for (Runnable part : parts) {
                part.run();
            }
            return;
        }
        Throwable failure = null;
        try {
            for (int i = 1; i < parts.length; i++) {
                HELPERS[i - 1].post(parts[i]);
            }
            try {
                parts[0].run();
            } catch (Throwable t) {
                failure = t;
            }
            for (int i = 1; i < parts.length; i++) {
                Throwable helperFailure = HELPERS[i - 1].finish(parts[i]);
                failure = failure == null ? helperFailure : failure;
            }
        } finally {
            OWNED.set(false);
        }
        if (failure instanceof RuntimeException) {
            throw (RuntimeException) failure;
        }
        if (failure instanceof Error) {
            throw (Error) failure;
        }
    }

    /** One helper thread with a one-part mailbox. */
    private static final class Helper implements Runnable {
        private final AtomicReference<Runnable> pending = new AtomicReference<>();
        private final Thread thread;
        private volatile boolean finished;
        private volatile boolean parked;
        private volatile Throwable failure;

        Helper(String name) {
            thread = new Thread(this, name);
            thread.setDaemon(true);
            thread.start();
        }

        /** Hands a part over; the caller owns the helpers and the helper is idle. */
        void post(Runnable part) {
            finished = false;
            failure = null;
            pending.set(part);
            if (parked) {
                LockSupport.unpark(thread);
            }
        }

        /** Runs the part here if the helper has not taken it yet, else waits for it; returns its failure. */
        Throwable finish(Runnable part) {
            if (pending.compareAndSet(part, null)) {
                try {
                    part.run();
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            }
            while (!finished) {
                Thread.onSpinWait();
            }
            return failure;
        }

        @Override
        public void run() {
            long idleSince = System.nanoTime();
            while (true) {
                Runnable part = pending.get();
                if (part != null && pending.compareAndSet(part, null)) {
                    try {
                        part.run();
                    } catch (Throwable t) {
                        failure = t;
                    }
                    finished = true;
                    idleSince = System.nanoTime();
                } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    parked = true;
                    if (pending.get() == null) {
                        LockSupport.park(this);               // post() unparks after setting pending
                    }
                    parked = false;
                    idleSince = System.nanoTime();
                }
            }
        }
    }
}
