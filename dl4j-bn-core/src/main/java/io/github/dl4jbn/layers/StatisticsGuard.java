package io.github.dl4jbn.layers;

import io.github.dl4jbn.conf.NonFinitePolicy;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Judges a batch's statistics before anything is written: channels whose mean or variance is not finite (a NaN
 * or an infinity in the input) are an error or are skipped, as the layer's {@link NonFinitePolicy} says, and a
 * float layer's variance beyond {@code Float.MAX_VALUE / 4} is always an error (the input no longer fits
 * float's range once centred, and normalizing it would give infinities). One guard per layer; it counts the
 * batches it skipped and logs them at most once a minute.
 */
final class StatisticsGuard {

    private static final Logger log = LoggerFactory.getLogger(StatisticsGuard.class);

    /** Largest batch variance a float layer normalizes: the centred input then stays within float's range. */
    static final double MAX_FLOAT_VARIANCE = Float.MAX_VALUE / 4.0;
    private static final long WARN_EVERY_NANOS = 60_000_000_000L;

    private long skippedBatches;
    private long reportedBatches;
    private long lastWarning = System.nanoTime() - WARN_EVERY_NANOS;

    /**
     * The channels whose statistics cannot be used, or null when every channel's can.
     *
     * @param mean        the batch means
     * @param variance    the batch variances
     * @param floatRange  whether the layer computes in float (FLOAT, HALF, BFLOAT16)
     * @param policy      what to do with non-finite channels
     * @param nonFinite   counts the input's NaN and infinite values at valid positions (only on the error path)
     * @param layerId     the layer's name and index, for messages
     * @param what        what the statistics are for ("training", "the population pass, batch 7"), for messages
     * @return the channels to leave alone (SKIP), or null
     * @throws DL4JInvalidInputException on non-finite statistics under FAIL, and on a float variance too large
     */
    boolean[] check(double[] mean, double[] variance, boolean floatRange, NonFinitePolicy policy,
                    LongSupplier nonFinite, String layerId, String what) {
        List<Integer> bad = new ArrayList<>();
        for (int c = 0; c < mean.length; c++) {
            if (!Double.isFinite(mean[c]) || !Double.isFinite(variance[c])) {
                bad.add(c);
            } else if (floatRange && variance[c] > MAX_FLOAT_VARIANCE) {
                throw new DL4JInvalidInputException("BatchNorm " + layerId + ": the batch variance of channel " + c
                        + " is " + variance[c] + ", beyond what a float layer can normalize (Float.MAX_VALUE / 4 = "
                        + MAX_FLOAT_VARIANCE + ") in " + what + "; scale the input down or use a DOUBLE network."
                        + " Nothing was written");
            }
        }
        if (bad.isEmpty()) {
            return null;
        }
        if (policy == NonFinitePolicy.FAIL) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId + ": the batch statistics of channel"
                    + (bad.size() == 1 ? " " : "s ") + describe(bad, mean.length) + " are not finite in " + what
                    + ": the input holds " + nonFinite.getAsLong() + " NaN or infinite value(s). Nothing was"
                    + " written; nonFiniteBatches(SKIP) leaves this layer's running statistics alone on such batches instead,"
                    + " and io.github.dl4jbn.NonFiniteStepGuard skips the whole training step");
        }
        skippedBatches++;
        long now = System.nanoTime();
        if (now - lastWarning >= WARN_EVERY_NANOS) {
            log.warn("BatchNorm {}: skipped {} batch(es) with non-finite statistics since the last warning ({} in"
                            + " all), last in {}: channels {}; their running statistics were not updated (the network's other"
                            + " parameters are protected only by NonFiniteStepGuard)", layerId,
                    skippedBatches - reportedBatches, skippedBatches, what, describe(bad, mean.length));
            reportedBatches = skippedBatches;
            lastWarning = now;
        }
        boolean[] skip = new boolean[mean.length];
        for (int c : bad) {
            skip[c] = true;
        }
        return skip;
    }

    /** The channels, at most 10 of them named. */
    private static String describe(List<Integer> channels, int of) {
        String named = channels.size() <= 10 ? channels.toString()
                : channels.subList(0, 10) + " and " + (channels.size() - 10) + " more";
        return named + " of " + of;
    }
}
