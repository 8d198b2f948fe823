package io.github.dl4jbn.layers;

import io.github.dl4jbn.internal.kernels.BatchNormKernels;
import io.github.dl4jbn.internal.kernels.ChannelView;
import io.github.dl4jbn.internal.kernels.TensorPasses;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;


/**
 * The layer's kernel calls as ND4J ops, which run wherever ND4J keeps the arrays (any backend); nothing here
 * reads ND4J memory from Java. The steps are {@link BatchNormKernels}' own, the host kernels' too, over
 * {@link Passes}: sums over the valid values of each channel of the {@code [outer, C, inner]} view, taken in
 * DOUBLE whatever the network's type, and one per-channel affine {@code y = a * dy + b * (x - k) + d} in the
 * network's type (FLOAT for HALF and BFLOAT16), with padded positions set to 0. Slower than the host kernels:
 * each pass is ops with their own temporary arrays. Not thread-safe, like the layer that owns it.
 */
final class Nd4jOpsKernels implements LayerKernels {

    private final DataType type;
    private final Passes passes;
    private final BatchNormKernels<INDArray> steps;

    Nd4jOpsKernels(DataType type) {
        if (!type.isFPType()) {
            throw new IllegalArgumentException("BatchNorm runs FLOAT, DOUBLE, HALF and BFLOAT16 networks, not " + type);
        }
        this.type = type;
        this.passes = new Passes(type);
        this.steps = BatchNormKernels.over(passes);
    }

    @Override
    public String toString() {
        return "ND4J ops (" + type + ")";
    }

    /** Elements {@code [first, first + count)} of an array as a flat view, or the array for the whole range. */
    private static INDArray ranged(INDArray all, TensorRange range, boolean positions) {
        if (all == null || range.whole()) {
            return all;
        }
        long first = positions ? range.firstPosition() : range.firstElement();
        long count = positions ? range.positions() : range.elements();
        return all.reshape(all.length()).get(NDArrayIndex.interval(first, first + count));
    }

    private INDArray x(KernelInput in) {
        return ranged(HostArrays.dense(in.x(), type), in.range(), false);
    }

    private static INDArray mask(KernelInput in) {
        return ranged(in.mask(), in.range(), true);
    }

    @Override
    public long validPositions(KernelInput in) {
        return passes.validPositions(mask(in));
    }

    @Override
    public long batchStatistics(KernelInput in, ChannelView view, double[] mean, double[] var) {
        return steps.batchStatistics(x(in), mask(in), view, mean, var);
    }

    @Override
    public void normalize(KernelInput in, ChannelView view, double[] mean, double[] invStd, double[] gamma,
                          double[] beta, INDArray out) {
        steps.normalize(x(in), mask(in), view, mean, invStd, gamma, beta, ranged(out, in.range(), false));
    }

    @Override
    public void backward(KernelInput in, INDArray dy, ChannelView view, long m, double[] mean, double[] invStd,
                         double[] gamma, boolean through, INDArray dx, double[] dgamma, double[] dbeta) {
        steps.backward(x(in), ranged(HostArrays.dense(dy, type), in.range(), false), mask(in), view, m, mean, invStd,
                gamma, through, ranged(dx, in.range(), false), dgamma, dbeta);
    }

    @Override
    public long countNonFinite(KernelInput in, ChannelView view) {
        INDArray values = validOnly(view, mask(in), wide(x(in), DataType.DOUBLE, view));
        return values.isNaN().castTo(DataType.DOUBLE).sumNumber().longValue()
                + values.isInfinite().castTo(DataType.DOUBLE).sumNumber().longValue();
    }

    @Override
    public boolean hostMemory() {
        return false;
    }

    /** The two passes as ND4J ops: sums in DOUBLE, the affine in the network's type (FLOAT for 16-bit ones). */
    static final class Passes implements TensorPasses<INDArray> {

        private final DataType type;
        /** The affine's arithmetic type: DOUBLE for DOUBLE networks, FLOAT otherwise. */
        private final DataType affineType;

        Passes(DataType type) {
            this.type = type;
            this.affineType = type == DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
        }

        @Override
        public String name() {
            return "ND4J ops (" + type + ")";
        }

        @Override
        public boolean twoPassStatistics() {
            return true;
        }

        /** The affine's type's value: {@code x - k} is then taken around a value of that type. */
        @Override
        public double representable(double value) {
            return affineType == DataType.DOUBLE ? value : (float) value;
        }

        @Override
        public long validPositions(INDArray mask) {
            return mask.neq(0.0).castTo(DataType.DOUBLE).sumNumber().longValue();
        }

        @Override
        public void firstValidValues(INDArray x, INDArray mask, ChannelView view, double[] centre) {
            long position = mask == null ? 0 : mask.reshape(mask.length()).neq(0.0).castTo(DataType.DOUBLE).argMax().getLong(0);
            INDArray three = x.reshape('c', view.outer(), view.channels(), view.inner());
            INDArray values = three.get(NDArrayIndex.point(position / view.inner()), NDArrayIndex.all(),
                    NDArrayIndex.point(position % view.inner()));
            copy(values, centre);
        }

        /**
         * Per channel, over the valid values: {@code sum(x - k)} and {@code sum((x - k)^2)} without {@code g}, else
         * {@code sum(g)} and {@code sum(g * (x - k))}; in DOUBLE.
         */
        @Override
        public void sums(ChannelView view, INDArray x, INDArray g, INDArray mask, double[] centre, double[] s1,
                         double[] s2) {
            INDArray centred = wide(x, DataType.DOUBLE, view);
            Nd4j.getExecutioner().exec(new BroadcastSubOp(centred, Nd4j.createFromArray(centre), centred, 1));
            centred = validOnly(view, mask, centred);
            INDArray weights = g == null ? centred : validOnly(view, mask, wide(g, DataType.DOUBLE, view));
            copy(weights.sum(0, 2), s1);
            copy(weights.mul(centred).sum(0, 2), s2);
        }

        /** {@code out = a * g + b * (x - k) + d} per channel ({@code a * g} left out without g), 0 where padded. */
        @Override
        public void affine(ChannelView view, INDArray x, INDArray g, INDArray mask, double[] a, double[] b, double[] k,
                           double[] d, INDArray out) {
            INDArray y = wide(x, affineType, view);
            Nd4j.getExecutioner().exec(new BroadcastSubOp(y, coefficients(k), y, 1));
            Nd4j.getExecutioner().exec(new BroadcastMulOp(y, coefficients(b), y, 1));
            Nd4j.getExecutioner().exec(new BroadcastAddOp(y, coefficients(d), y, 1));
            if (g != null) {
                INDArray scaled = wide(g, affineType, view);
                Nd4j.getExecutioner().exec(new BroadcastMulOp(scaled, coefficients(a), scaled, 1));
                y.addi(scaled);
            }
            out.assign(validOnly(view, mask, y).reshape(out.shape()));
        }

        private INDArray coefficients(double[] values) {
            return Nd4j.createFromArray(values).castTo(affineType);
        }
    }

    /** A fresh {@code [outer, C, inner]} copy of an array, of the given type. */
    private static INDArray wide(INDArray array, DataType to, ChannelView view) {
        INDArray three = array.reshape('c', view.outer(), view.channels(), view.inner());
        return three.dataType() == to ? three.dup('c') : three.castTo(to);
    }

    /** The array with its padded positions set to 0 (whatever they held, NaN included); itself without a mask. */
    private static INDArray validOnly(ChannelView view, INDArray mask, INDArray values) {
        if (mask == null) {
            return values;
        }
        // made per call, never kept: an array kept from the forward may sit in a workspace closed since
        INDArray padded = mask.eq(0.0).reshape('c', view.outer(), 1, view.inner()).repeat(1, view.channels());
        return values.putWhereWithMask(padded, 0.0);                // 0 where padded is true
    }

    private static void copy(INDArray from, double[] to) {
        double[] values = from.castTo(DataType.DOUBLE).toDoubleVector();
        System.arraycopy(values, 0, to, 0, to.length);
    }
}
