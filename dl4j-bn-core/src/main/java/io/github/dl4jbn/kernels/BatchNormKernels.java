package io.github.dl4jbn.kernels;

/**
 * Batch Normalization's arithmetic (Ioffe &amp; Szegedy 2015, Algorithms 1 and 2) on plain {@code double[]}
 * tensors laid out as a {@link ChannelView}. Nothing here knows about DL4J or ND4J.
 *
 * <p>Forward and backward sit side by side. What a training forward leaves for the backward is exactly two
 * per-channel vectors, the batch {@code mean} and {@code invStd = 1 / sqrt(var + eps)}; the backward
 * recomputes {@code xhat} from the input instead of storing a tensor-sized cache.
 *
 * <p>All sums run in double precision. The variance takes a second pass over the centred values, so inputs
 * with a large mean and a small spread keep their accuracy (no one-pass sum of squares).
 */
public final class BatchNormKernels {

    private BatchNormKernels() {
    }

    /**
     * Algorithm 1, lines 1-2: per-channel mini-batch mean {@code mu_B = 1/m sum x} and biased variance
     * {@code var_B = 1/m sum (x - mu_B)^2}, m = {@link ChannelView#valuesPerChannel()}.
     *
     * @param x    input, {@code view.size()} values
     * @param view layout of {@code x}
     * @param mean output, {@code view.channels()} values
     * @param var  output, {@code view.channels()} values
     */
    public static void batchMeanAndVariance(double[] x, ChannelView view, double[] mean, double[] var) {
        int channels = view.channels();
        int inner = view.inner();
        double m = view.valuesPerChannel();
        java.util.Arrays.fill(mean, 0, channels, 0.0);
        java.util.Arrays.fill(var, 0, channels, 0.0);
        for (int o = 0; o < view.outer(); o++) {
            for (int c = 0; c < channels; c++) {
                int base = (o * channels + c) * inner;
                double sum = 0;
                for (int i = 0; i < inner; i++) {
                    sum += x[base + i];
                }
                mean[c] += sum;
            }
        }
        for (int c = 0; c < channels; c++) {
            mean[c] /= m;                                           // mu_B
        }
        for (int o = 0; o < view.outer(); o++) {
            for (int c = 0; c < channels; c++) {
                int base = (o * channels + c) * inner;
                double mu = mean[c];
                double sum = 0;
                for (int i = 0; i < inner; i++) {
                    double centred = x[base + i] - mu;
                    sum += centred * centred;
                }
                var[c] += sum;
            }
        }
        for (int c = 0; c < channels; c++) {
            var[c] /= m;                                            // var_B, biased (divides by m)
        }
    }

    /**
     * {@code invStd[c] = 1 / sqrt(var[c] + eps)}, the factor of Algorithm 1 line 3 and Algorithm 2 line 11.
     *
     * @param var      per-channel variance (batch or population)
     * @param eps      the epsilon added for numerical stability
     * @param invStd   output, same length as {@code var}
     * @param channels number of channels to compute
     */
    public static void inverseStd(double[] var, double eps, double[] invStd, int channels) {
        for (int c = 0; c < channels; c++) {
            invStd[c] = 1.0 / Math.sqrt(var[c] + eps);
        }
    }

    /**
     * Algorithm 1, lines 3-4 (batch statistics) or Algorithm 2, line 11 (population statistics):
     * {@code y = gamma * (x - mean) * invStd + beta}.
     *
     * @param x      input, {@code view.size()} values
     * @param view   layout of {@code x} and {@code y}
     * @param mean   per-channel mean
     * @param invStd per-channel {@code 1/sqrt(var + eps)}
     * @param gamma  per-channel scale
     * @param beta   per-channel shift
     * @param y      output, may be the same array as {@code x}
     */
    public static void normalize(double[] x, ChannelView view, double[] mean, double[] invStd,
                                 double[] gamma, double[] beta, double[] y) {
        int channels = view.channels();
        int inner = view.inner();
        for (int o = 0; o < view.outer(); o++) {
            for (int c = 0; c < channels; c++) {
                int base = (o * channels + c) * inner;
                double scale = gamma[c] * invStd[c];                // y = scale * x + shift
                double shift = beta[c] - mean[c] * scale;
                for (int i = 0; i < inner; i++) {
                    y[base + i] = x[base + i] * scale + shift;
                }
            }
        }
    }

    /**
     * Backward pass of {@link #normalize}. With {@code throughBatchStatistics} the mean and variance are the
     * batch's own (training), and the gradient flows through them as well (Section 3, the chain rule below
     * Algorithm 1), simplified to
     * {@code dx = gamma * invStd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat))}.
     * Without it the statistics are constants (inference-mode forward) and {@code dx = gamma * invStd * dy}.
     * Both cases give {@code dgamma = sum(dy * xhat)} and {@code dbeta = sum(dy)}, sums over the mini-batch.
     *
     * @param x                      the forward input
     * @param dy                     gradient of the loss with respect to the output y
     * @param view                   layout of {@code x}, {@code dy} and {@code dx}
     * @param mean                   the mean the forward used
     * @param invStd                 the {@code 1/sqrt(var + eps)} the forward used
     * @param gamma                  per-channel scale
     * @param throughBatchStatistics true when the forward normalized with the batch's own statistics
     * @param dx                     output: gradient with respect to x, may be the same array as {@code dy}
     * @param dgamma                 output: per-channel gradient of gamma
     * @param dbeta                  output: per-channel gradient of beta
     */
    public static void backward(double[] x, double[] dy, ChannelView view, double[] mean, double[] invStd,
                                double[] gamma, boolean throughBatchStatistics,
                                double[] dx, double[] dgamma, double[] dbeta) {
        int channels = view.channels();
        int inner = view.inner();
        java.util.Arrays.fill(dgamma, 0, channels, 0.0);
        java.util.Arrays.fill(dbeta, 0, channels, 0.0);
        for (int o = 0; o < view.outer(); o++) {
            for (int c = 0; c < channels; c++) {
                int base = (o * channels + c) * inner;
                double mu = mean[c];
                double sumDy = 0;
                double sumDyXmu = 0;
                for (int i = 0; i < inner; i++) {
                    sumDy += dy[base + i];
                    sumDyXmu += dy[base + i] * (x[base + i] - mu);
                }
                dbeta[c] += sumDy;                                  // dbeta = sum dy
                dgamma[c] += sumDyXmu;                              // dgamma = sum dy * xhat (invStd applied below)
            }
        }
        for (int c = 0; c < channels; c++) {
            dgamma[c] *= invStd[c];
        }
        double invM = 1.0 / view.valuesPerChannel();
        for (int o = 0; o < view.outer(); o++) {
            for (int c = 0; c < channels; c++) {
                int base = (o * channels + c) * inner;
                double mu = mean[c];
                double scale = gamma[c] * invStd[c];
                if (throughBatchStatistics) {
                    // dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mu) * invStd
                    double meanDy = dbeta[c] * invM;
                    double xmuCoeff = dgamma[c] * invM * invStd[c];
                    for (int i = 0; i < inner; i++) {
                        dx[base + i] = scale * (dy[base + i] - meanDy - (x[base + i] - mu) * xmuCoeff);
                    }
                } else {
                    for (int i = 0; i < inner; i++) {
                        dx[base + i] = scale * dy[base + i];        // statistics are constants
                    }
                }
            }
        }
    }

    /**
     * Moves a running statistic towards the current batch's value:
     * {@code running = (1 - weight) * running + weight * batch}. With {@code weight = 1 - decay} this is DL4J's
     * exponential moving average; with {@code weight = 1/(k+1)} after k batches it is the plain average
     * E_B of Algorithm 2, line 10.
     *
     * @param running  the running statistic, updated in place
     * @param batch    this batch's statistic
     * @param weight   the weight of the batch, in [0, 1]
     * @param channels number of channels to update
     */
    public static void updateRunningAverage(double[] running, double[] batch, double weight, int channels) {
        for (int c = 0; c < channels; c++) {
            running[c] = (1.0 - weight) * running[c] + weight * batch[c];
        }
    }
}
