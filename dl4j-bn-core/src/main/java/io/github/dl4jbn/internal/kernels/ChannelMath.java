package io.github.dl4jbn.internal.kernels;

/**
 * Batch Normalization's per-channel arithmetic (Ioffe &amp; Szegedy 2015), once: the statistics from a pass's
 * sums, the affine coefficients of the forward, the coefficients of the backward, the unbiased correction and
 * the running averages. Everything here is O(channels) on {@code double[]}; the passes over the tensor are
 * elsewhere ({@link BatchNormKernels}), and nothing here knows DL4J or ND4J.
 *
 * <p>The passes take their sums around a per-channel centre {@code k} (a value of the channel, or its mean
 * rounded to the element type), so a large mean with a small spread loses nothing to cancellation. The
 * backward's algebra is derived node by node in {@code docs/backward-pass.md}.
 */
public final class ChannelMath {

    private ChannelMath() {
    }

    /**
     * Algorithm 1, lines 1-2, from sums taken around a centre {@code k}: with {@code S1 = sum(x - k)} and
     * {@code S2 = sum((x - k)^2)} over m values, {@code mu_B = k + S1/m} and
     * {@code var_B = S2/m - (S1/m)^2} (biased: divides by m).
     *
     * @param s1     per channel, {@code sum(x - k)}
     * @param s2     per channel, {@code sum((x - k)^2)}
     * @param centre per channel, the k the sums were taken around
     * @param m      values per channel
     * @param mean   output, mu_B
     * @param var    output, var_B
     */
    public static void statistics(double[] s1, double[] s2, double[] centre, long m, double[] mean, double[] var) {
        double perValue = 1.0 / m;                                   // a product per channel, not two divisions
        for (int c = 0; c < mean.length; c++) {
            double offset = s1[c] * perValue;                       // mu_B - k
            mean[c] = centre[c] + offset;                           // mu_B = k + S1/m
            var[c] = Math.max(0.0, s2[c] * perValue - offset * offset);   // var_B = S2/m - (mu_B - k)^2
        }
    }

    /**
     * {@code invStd = 1 / sqrt(var + eps)}, the factor of Algorithm 1 line 3 and Algorithm 2 line 11 (s in
     * {@code docs/backward-pass.md}).
     *
     * @param var    per-channel variance, batch or population
     * @param eps    the epsilon added for numerical stability
     * @param invStd output
     */
    public static void inverseStd(double[] var, double eps, double[] invStd) {
        for (int c = 0; c < var.length; c++) {
            invStd[c] = 1.0 / Math.sqrt(var[c] + eps);
        }
    }

    /**
     * The affine form of Algorithm 1 lines 3-4 (batch statistics) or Algorithm 2 line 11 (population ones),
     * {@code y = gamma * (x - mean) * invStd + beta}, written as {@code y = scale * (x - k) + shift} around a
     * per-channel centre k: {@code scale = gamma * invStd}, {@code shift = beta + (k - mean) * scale}. A centre
     * near the mean keeps {@code x - k} small in float; folding into a weight matrix takes {@code k = 0}.
     *
     * @param mean   per-channel mean
     * @param invStd per-channel {@code 1/sqrt(var + eps)}
     * @param gamma  per-channel scale
     * @param beta   per-channel shift
     * @param centre per-channel k, or null for 0
     * @param scale  output
     * @param shift  output
     */
    public static void affine(double[] mean, double[] invStd, double[] gamma, double[] beta, double[] centre,
                              double[] scale, double[] shift) {
        for (int c = 0; c < mean.length; c++) {
            double s = gamma[c] * invStd[c];                        // gamma / sqrt(var + eps)
            double k = centre == null ? 0.0 : centre[c];
            scale[c] = s;
            shift[c] = beta[c] + (k - mean[c]) * s;                 // beta - gamma * (mean - k) / sqrt(var + eps)
        }
    }

    /**
     * The backward pass of {@link #affine} per channel, from the sums of one pass over {@code dy} and x around
     * the centre k: {@code dbeta = sum(dy)}, {@code dgamma = sum(dy * xhat)}, and the coefficients of
     * {@code dx = a * dy + b * (x - k) + d}. Through the batch statistics (training) this is the boxed formula
     * of {@code docs/backward-pass.md}, {@code dx = gamma s / m (m dy - dbeta - xhat dgamma)}; with the
     * statistics held constant (an inference forward) {@code dx = gamma s dy}.
     *
     * @param sumDy                  per channel, {@code sum(dy)}
     * @param sumDyCentred           per channel, {@code sum(dy * (x - k))}
     * @param mean                   the mean the forward used
     * @param centre                 the k the sums were taken around
     * @param invStd                 the {@code 1/sqrt(var + eps)} the forward used (s)
     * @param gamma                  per-channel scale
     * @param m                      values per channel
     * @param throughBatchStatistics true after a training forward
     * @param dgamma                 output, {@code sum(dy * xhat)}
     * @param dbeta                  output, {@code sum(dy)}
     * @param a                      output, coefficient of dy
     * @param b                      output, coefficient of {@code x - k}
     * @param d                      output, constant term
     */
    public static void backward(double[] sumDy, double[] sumDyCentred, double[] mean, double[] centre,
                                double[] invStd, double[] gamma, long m, boolean throughBatchStatistics,
                                double[] dgamma, double[] dbeta, double[] a, double[] b, double[] d) {
        double perValue = 1.0 / m;
        for (int c = 0; c < mean.length; c++) {
            double s = invStd[c];
            double dyXmu = sumDyCentred[c] - sumDy[c] * (mean[c] - centre[c]);   // sum dy (x - mu), from the sum around k
            dbeta[c] = sumDy[c];                                    // step 1: dbeta = sum dy
            dgamma[c] = dyXmu * s;                                  // step 1: dgamma = sum dy xhat, xhat = (x - mu) s
            a[c] = gamma[c] * s;                                    // the direct path: gamma s dy
            if (throughBatchStatistics) {
                double q = s * dgamma[c] * perValue;                // steps 2-4: the variance path, xhat dgamma / m times s
                b[c] = -a[c] * q;                                   // - gamma s xhat dgamma / m, per unit of (x - mu)
                d[c] = -a[c] * (dbeta[c] * perValue + (centre[c] - mean[c]) * q);   // steps 5-6: the mean path, - gamma s dbeta / m
            } else {
                b[c] = 0.0;                                         // statistics are constants: dx = gamma s dy
                d[c] = 0.0;
            }
        }
    }

    /**
     * Bessel's correction of Algorithm 2, line 10: the unbiased population variance is {@code m/(m-1)} times
     * the average biased batch variance, m the values per channel of one batch.
     *
     * @param m values per channel in the batch, at least 2
     * @return {@code m / (m - 1)}
     */
    public static double unbiasedFactor(long m) {
        return m / (m - 1.0);
    }

    /**
     * The weight a new batch gets in a running statistic: {@code 1 - decay} for DL4J's exponential moving
     * average, or {@code 1 / (k + 1)} after k batches for the plain average E_B of Algorithm 2, line 10.
     *
     * @param decay       the moving average's decay (ignored when cumulative)
     * @param cumulative  whether the running statistic is the plain average E_B
     * @param batchesSoFar batches already in the plain average
     * @return the weight, in [0, 1]
     */
    public static double runningWeight(double decay, boolean cumulative, double batchesSoFar) {
        return cumulative ? 1.0 / (batchesSoFar + 1.0) : 1.0 - decay;
    }

    /**
     * Moves a running statistic towards this batch's value: {@code running = (1 - weight) * running +
     * weight * batch}, per channel (see {@link #runningWeight}).
     *
     * @param running the running statistic, updated in place
     * @param batch   this batch's statistic
     * @param weight  the batch's weight, in [0, 1]
     */
    public static void runningAverage(double[] running, double[] batch, double weight) {
        for (int c = 0; c < running.length; c++) {
            running[c] = (1.0 - weight) * running[c] + weight * batch[c];
        }
    }

    /**
     * Batch Renormalization's correction (Ioffe 2017, Algorithm 1): {@code r = clip(sigma_B / sigma, 1/rMax, rMax)}
     * and {@code d = clip((mu_B - mu) / sigma, -dMax, dMax)}, with {@code sigma_B = sqrt(var_B + eps)} from this
     * batch and {@code mu}, {@code sigma = sqrt(var + eps)} from the running statistics that inference uses. So
     * unclipped, {@code xhat * r + d = (x - mu) / sigma}: training normalizes as inference does.
     *
     * @param batchMean    mu_B
     * @param batchVar     var_B (biased)
     * @param runningMean  mu
     * @param runningVar   the running variance
     * @param eps          the epsilon of both square roots
     * @param rMax         bound of r, at least 1
     * @param dMax         bound of |d|, at least 0
     * @param r            output, r per channel
     * @param d            output, d per channel
     * @return whether any channel has {@code r != 1} or {@code d != 0} (otherwise this is plain Batch Normalization)
     */
    public static boolean renorm(double[] batchMean, double[] batchVar, double[] runningMean, double[] runningVar,
                                 double eps, double rMax, double dMax, double[] r, double[] d) {
        boolean active = false;
        for (int c = 0; c < r.length; c++) {
            double sigma = Math.sqrt(runningVar[c] + eps);
            double ratio = Math.sqrt(batchVar[c] + eps) / sigma;    // sigma_B / sigma
            r[c] = Math.min(rMax, Math.max(1.0 / rMax, ratio));      // clip to [1/rMax, rMax]
            double shift = (batchMean[c] - runningMean[c]) / sigma;  // (mu_B - mu) / sigma
            d[c] = dMax == 0 ? 0.0 : Math.min(dMax, Math.max(-dMax, shift));   // clip to [-dMax, dMax]
            active |= r[c] != 1.0 || d[c] != 0.0;
        }
        return active;
    }

    /**
     * Folds Batch Renormalization's constants into the affine coefficients:
     * {@code gamma (xhat r + d) + beta = (gamma r) xhat + (beta + gamma d)}, so the forward's and the backward's
     * passes run unchanged with {@code gamma r} and {@code beta + gamma d}.
     *
     * @param gamma     per-channel scale
     * @param beta      per-channel shift
     * @param r         from {@link #renorm}
     * @param d         from {@link #renorm}
     * @param gammaOut  output, {@code gamma r}
     * @param betaOut   output, {@code beta + gamma d}
     */
    public static void renormAffine(double[] gamma, double[] beta, double[] r, double[] d, double[] gammaOut,
                                    double[] betaOut) {
        for (int c = 0; c < gamma.length; c++) {
            gammaOut[c] = gamma[c] * r[c];
            betaOut[c] = beta[c] + gamma[c] * d[c];
        }
    }

    /**
     * gamma's gradient under Batch Renormalization, from the passes' {@code sum(dy * xhat)} and {@code sum(dy)}:
     * {@code y = gamma (xhat r + d) + beta}, so {@code dgamma = r sum(dy xhat) + d sum(dy)}, r and d constants.
     *
     * @param dgamma in: {@code sum(dy * xhat)}; out: gamma's gradient
     * @param dbeta  {@code sum(dy)}
     * @param r      from {@link #renorm}
     * @param d      from {@link #renorm}
     */
    public static void renormGammaGradient(double[] dgamma, double[] dbeta, double[] r, double[] d) {
        for (int c = 0; c < dgamma.length; c++) {
            dgamma[c] = r[c] * dgamma[c] + d[c] * dbeta[c];
        }
    }
}
