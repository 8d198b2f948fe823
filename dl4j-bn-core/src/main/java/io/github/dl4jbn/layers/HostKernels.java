package io.github.dl4jbn.layers;

import io.github.dl4jbn.kernels.BatchNormKernels;
import io.github.dl4jbn.kernels.ChannelView;
import io.github.dl4jbn.kernels.FloatBatchNormKernels;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;

/**
 * Kernel calls for one data type: FLOAT networks run {@link FloatBatchNormKernels} directly on ND4J's buffers
 * (through their NIO views); every other type runs {@link BatchNormKernels} on reusable {@code double[]} copies.
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

    /** FLOAT: the float kernels stream straight between ND4J's off-heap buffers, through cache-sized heap chunks. */
    static final class Floats extends HostKernels {
        private INDArray xArray;        // kept so a densified copy lives as long as its buffer view
        private INDArray dyArray;
        private FloatBuffer x;
        private FloatBuffer dy;

        @Override
        void loadInput(INDArray array) {
            xArray = HostArrays.dense(array, DataType.FLOAT);
            x = xArray.data().asNioFloat();
        }

        @Override
        void loadGradient(INDArray array) {
            dyArray = HostArrays.dense(array, DataType.FLOAT);
            dy = dyArray.data().asNioFloat();
        }

        @Override
        void batchMeanAndVariance(ChannelView view, double[] mean, double[] var) {
            FloatBatchNormKernels.batchMeanAndVariance(x, view, mean, var);
        }

        @Override
        void normalize(ChannelView view, double[] mean, double[] invStd, double[] gamma, double[] beta, INDArray to) {
            FloatBatchNormKernels.normalize(x, view, mean, invStd, gamma, beta, writable(to));
        }

        @Override
        void backward(ChannelView view, double[] mean, double[] invStd, double[] gamma, boolean through,
                      INDArray dx, double[] dgamma, double[] dbeta) {
            FloatBatchNormKernels.backward(x, dy, view, mean, invStd, gamma, through, writable(dx), dgamma, dbeta);
        }

        /** The output arrays are fresh dense workspace arrays, so their NIO view is the array itself. */
        private static FloatBuffer writable(INDArray to) {
            if (to.dataType() != DataType.FLOAT || !HostArrays.isDenseRowMajor(to)) {
                throw new IllegalStateException("expected a dense FLOAT output array, got " + to.shapeInfoToString());
            }
            return to.data().asNioFloat();
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
