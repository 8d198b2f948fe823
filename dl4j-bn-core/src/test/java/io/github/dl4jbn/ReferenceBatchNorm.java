package io.github.dl4jbn;

/**
 * A plain double-precision transcription of Ioffe &amp; Szegedy (2015), Algorithms 1 and 2 and the chain rule
 * printed below Algorithm 1, used as the independent reference in tests. It walks a row-major tensor of any
 * rank with an explicit channel axis, and shares no code with the layer (no canonical view, no simplified
 * backward formula).
 */
public final class ReferenceBatchNorm {

    /** Per-channel mini-batch statistics. */
    public record Stats(double[] mean, double[] biasedVar, int m) {
    }

    /** Result of the backward pass. */
    public record Grads(double[] dx, double[] dgamma, double[] dbeta) {
    }

    private final long[] shape;
    private final int channelAxis;
    private final int channels;
    private final long stride;

    /**
     * @param shape       tensor shape, row-major
     * @param channelAxis the axis holding the channels
     */
    public ReferenceBatchNorm(long[] shape, int channelAxis) {
        this.shape = shape.clone();
        this.channelAxis = channelAxis;
        this.channels = (int) shape[channelAxis];
        long s = 1;
        for (int a = shape.length - 1; a > channelAxis; a--) {
            s *= shape[a];
        }
        this.stride = s;
    }

    private int channelOf(int flatIndex) {
        return (int) ((flatIndex / stride) % channels);
    }

    /** Algorithm 1, lines 1-2. */
    public Stats stats(double[] x) {
        double[] mean = new double[channels];
        double[] var = new double[channels];
        int[] count = new int[channels];
        for (int i = 0; i < x.length; i++) {
            mean[channelOf(i)] += x[i];
            count[channelOf(i)]++;
        }
        for (int c = 0; c < channels; c++) {
            mean[c] /= count[c];
        }
        for (int i = 0; i < x.length; i++) {
            double d = x[i] - mean[channelOf(i)];
            var[channelOf(i)] += d * d;
        }
        for (int c = 0; c < channels; c++) {
            var[c] /= count[c];
        }
        return new Stats(mean, var, count[0]);
    }

    /** Algorithm 1 lines 3-4 (batch stats) or Algorithm 2 line 11 (population stats). */
    public double[] forward(double[] x, double[] mean, double[] var, double[] gamma, double[] beta, double eps) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            int c = channelOf(i);
            double xhat = (x[i] - mean[c]) / Math.sqrt(var[c] + eps);
            y[i] = gamma[c] * xhat + beta[c];
        }
        return y;
    }

    /** The paper's chain rule, term by term, through the batch statistics. */
    public Grads backwardTraining(double[] x, double[] dy, double[] gamma, double eps) {
        Stats s = stats(x);
        int m = s.m();
        double[] dvar = new double[channels];
        double[] dmu = new double[channels];
        double[] dgamma = new double[channels];
        double[] dbeta = new double[channels];
        double[] sumXmu = new double[channels];
        for (int i = 0; i < x.length; i++) {
            int c = channelOf(i);
            double dxhat = dy[i] * gamma[c];
            dvar[c] += dxhat * (x[i] - s.mean()[c]) * -0.5 * Math.pow(s.biasedVar()[c] + eps, -1.5);
            dmu[c] += dxhat * (-1 / Math.sqrt(s.biasedVar()[c] + eps));
            sumXmu[c] += -2 * (x[i] - s.mean()[c]);
            dgamma[c] += dy[i] * (x[i] - s.mean()[c]) / Math.sqrt(s.biasedVar()[c] + eps);
            dbeta[c] += dy[i];
        }
        for (int c = 0; c < channels; c++) {
            dmu[c] += dvar[c] * sumXmu[c] / m;
        }
        double[] dx = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            int c = channelOf(i);
            double dxhat = dy[i] * gamma[c];
            dx[i] = dxhat / Math.sqrt(s.biasedVar()[c] + eps) + dvar[c] * 2 * (x[i] - s.mean()[c]) / m + dmu[c] / m;
        }
        return new Grads(dx, dgamma, dbeta);
    }

    /** Backward of the inference transform: the statistics are constants. */
    public Grads backwardInference(double[] x, double[] dy, double[] mean, double[] var, double[] gamma, double eps) {
        double[] dx = new double[x.length];
        double[] dgamma = new double[channels];
        double[] dbeta = new double[channels];
        for (int i = 0; i < x.length; i++) {
            int c = channelOf(i);
            double invStd = 1 / Math.sqrt(var[c] + eps);
            dx[i] = dy[i] * gamma[c] * invStd;
            dgamma[c] += dy[i] * (x[i] - mean[c]) * invStd;
            dbeta[c] += dy[i];
        }
        return new Grads(dx, dgamma, dbeta);
    }

    /** @return the tensor's shape */
    public long[] shape() {
        return shape.clone();
    }
}
