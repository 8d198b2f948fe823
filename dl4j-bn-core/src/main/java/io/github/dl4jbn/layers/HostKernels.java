package io.github.dl4jbn.layers;

import io.github.dl4jbn.kernels.BatchNormKernels;
import io.github.dl4jbn.kernels.ChannelView;
import io.github.dl4jbn.kernels.FloatBatchNormKernels;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Heap buffers and kernel calls for one data type: FLOAT networks run {@link FloatBatchNormKernels} on
 * {@code float[]}, every other type {@link BatchNormKernels} on {@code double[]}. The layer copies the input
 * (and the output gradient) in, runs a kernel, and copies the result out, reusing the buffers across calls.
 */
abstract class HostKernels {

    /** Picks the implementation for a network's data type. */
    static HostKernels forType(DataType type) {
        return type == DataType.FLOAT ? new Floats() : new Doubles();
    }

    /** Copies x into the input buffer. */
    abstract void loadInput(INDArray x);

    /** Copies dy into the gradient buffer. */
    abstract void loadGradient(INDArray dy);

    /** Algorithm 1, lines 1-2, on the loaded input. */
    abstract void batchMeanAndVariance(ChannelView view, double[] mean, double[] var);

    /** Normalizes the loaded input into {@code out}. */
    abstract void normalize(ChannelView view, double[] mean, double[] invStd, double[] gamma, double[] beta, INDArray out);

    /** Backward of the loaded input and gradient into {@code dx}, {@code dgamma}, {@code dbeta}. */
    abstract void backward(ChannelView view, double[] mean, double[] invStd, double[] gamma, boolean throughBatchStatistics,
                           INDArray dx, double[] dgamma, double[] dbeta);

    /** FLOAT: float buffers, float kernels. */
    static final class Floats extends HostKernels {
        private float[] x = new float[0];
        private float[] dy = new float[0];
        private float[] out = new float[0];

        @Override
        void loadInput(INDArray array) {
            x = HostArrays.readFloats(array, x);
        }

        @Override
        void loadGradient(INDArray array) {
            dy = HostArrays.readFloats(array, dy);
        }

        @Override
        void batchMeanAndVariance(ChannelView view, double[] mean, double[] var) {
            FloatBatchNormKernels.batchMeanAndVariance(x, view, mean, var);
        }

        @Override
        void normalize(ChannelView view, double[] mean, double[] invStd, double[] gamma, double[] beta, INDArray to) {
            out = grow(out, view.size());
            FloatBatchNormKernels.normalize(x, view, mean, invStd, gamma, beta, out);
            HostArrays.writeFloats(out, to);
        }

        @Override
        void backward(ChannelView view, double[] mean, double[] invStd, double[] gamma, boolean through,
                      INDArray dx, double[] dgamma, double[] dbeta) {
            out = grow(out, view.size());
            FloatBatchNormKernels.backward(x, dy, view, mean, invStd, gamma, through, out, dgamma, dbeta);
            HostArrays.writeFloats(out, dx);
        }

        private static float[] grow(float[] buffer, int n) {
            return buffer.length >= n ? buffer : new float[n];
        }
    }

    /** DOUBLE (and any other type, computed in double): double buffers, double kernels. */
    static final class Doubles extends HostKernels {
        private double[] x = new double[0];
        private double[] dy = new double[0];
        private double[] out = new double[0];

        @Override
        void loadInput(INDArray array) {
            x = HostArrays.readDoubles(array, x);
        }

        @Override
        void loadGradient(INDArray array) {
            dy = HostArrays.readDoubles(array, dy);
        }

        @Override
        void batchMeanAndVariance(ChannelView view, double[] mean, double[] var) {
            BatchNormKernels.batchMeanAndVariance(x, view, mean, var);
        }

        @Override
        void normalize(ChannelView view, double[] mean, double[] invStd, double[] gamma, double[] beta, INDArray to) {
            out = HostArrays.atLeast(out, view.size());
            BatchNormKernels.normalize(x, view, mean, invStd, gamma, beta, out);
            HostArrays.writeDoubles(out, to);
        }

        @Override
        void backward(ChannelView view, double[] mean, double[] invStd, double[] gamma, boolean through,
                      INDArray dx, double[] dgamma, double[] dbeta) {
            out = HostArrays.atLeast(out, view.size());
            BatchNormKernels.backward(x, dy, view, mean, invStd, gamma, through, out, dgamma, dbeta);
            HostArrays.writeDoubles(out, dx);
        }
    }
}
