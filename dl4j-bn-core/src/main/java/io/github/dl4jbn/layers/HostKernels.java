package io.github.dl4jbn.layers;

import io.github.dl4jbn.kernels.BatchNormKernels;
import io.github.dl4jbn.kernels.ChannelView;
import io.github.dl4jbn.kernels.FloatBatchNormKernels;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

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

    /**
     * FLOAT: the float kernels work straight on ND4J's off-heap buffers (their NIO views), with the fastest
     * implementation this JVM runs ({@link FloatBatchNormKernels#best()}).
     */
    static final class Floats extends HostKernels {
        private final FloatBatchNormKernels kernels = FloatBatchNormKernels.best();
        private INDArray xArray;        // kept so a densified copy lives as long as its buffer view
        private DataBuffer xData;
        private INDArray dyArray;
        private ByteBuffer x;           // their NIO views, taken once per load: every pass reads them
        private ByteBuffer dy;

        @Override
        void loadInput(INDArray array) {
            if (array == xArray && array.data() == xData) {
                return;                 // the same dense array again (its backward): its view reads it as it is now
            }
            xArray = HostArrays.dense(array, DataType.FLOAT);      // a densified copy is made again every time
            xData = xArray.data();
            x = bytes(xArray);
        }

        @Override
        void loadGradient(INDArray array) {
            dyArray = HostArrays.dense(array, DataType.FLOAT);
            dy = bytes(dyArray);
        }

        @Override
        void batchMeanAndVariance(ChannelView view, double[] mean, double[] var) {
            kernels.batchMeanAndVariance(x, base(xArray), view, mean, var);
        }

        @Override
        void normalize(ChannelView view, double[] mean, double[] invStd, double[] gamma, double[] beta, INDArray to) {
            kernels.normalize(x, base(xArray), view, mean, invStd, gamma, beta, bytes(writable(to)), base(to));
        }

        @Override
        void backward(ChannelView view, double[] mean, double[] invStd, double[] gamma, boolean through,
                      INDArray dx, double[] dgamma, double[] dbeta) {
            kernels.backward(x, base(xArray), dy, base(dyArray), view, mean, invStd, gamma, through,
                    bytes(writable(dx)), base(dx), dgamma, dbeta);
        }

        /** The whole data buffer, native order; the array starts at element {@link #base}. */
        private static ByteBuffer bytes(INDArray dense) {
            return dense.data().asNio().order(ByteOrder.nativeOrder());
        }

        private static int base(INDArray dense) {
            return Math.toIntExact(dense.data().offset());
        }

        /** The output arrays are fresh dense workspace arrays, written in place. */
        private static INDArray writable(INDArray to) {
            if (to.dataType() != DataType.FLOAT || !HostArrays.isDenseRowMajor(to)) {
                throw new IllegalStateException("expected a dense FLOAT output array, got " + to.shapeInfoToString());
            }
            return to;
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
