package io.github.dl4jbn.layers;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.internal.kernels.ChannelView;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * Reduces an input shape and the configured data format to the kernels' {@link ChannelView}, once, and checks
 * rank (against the configured input type, where one was set), channel count and mask on the way.
 */
final class InputLayout {

    private InputLayout() {
    }

    /**
     * The canonical view of a row-major input of this shape.
     *
     * @param shape   the input's shape
     * @param conf    the layer configuration (channel count and data formats)
     * @param layerId the layer's name and index, for error messages
     * @return the view
     * @throws DL4JInvalidInputException on a rank other than 2-5 or a channel count that does not match
     */
    static ChannelView of(long[] shape, BatchNorm conf, String layerId) {
        int rank = shape.length;
        if (rank < 2 || rank > 5) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId + ": expected input of rank 2 [mb, C], "
                    + "3 (NCW/NWC), 4 (NCHW/NHWC) or 5 (NCDHW/NDHWC), got rank " + rank + " with shape "
                    + Arrays.toString(shape));
        }
        int configured = rankOf(conf.getInputKind());
        if (configured != 0 && rank != configured) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId + ": configured for " + conf.getInputKind()
                    + " input of " + conf.getNOut() + " channels, which has rank " + configured + " "
                    + formatName(configured, conf) + ", got rank " + rank + " input of shape " + Arrays.toString(shape));
        }
        boolean channelsLast = isChannelsLast(rank, conf);
        int channelAxis = rank == 2 || !channelsLast ? 1 : rank - 1;
        long channels = conf.getNOut();
        if (shape[channelAxis] != channels) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId + ": expected " + channels + " channels on axis "
                    + channelAxis + " of " + formatName(rank, conf) + " input, got shape " + Arrays.toString(shape)
                    + mismatchHint(shape, rank, channelsLast, channels));
        }
        long positions = 1;
        for (int axis = 1; axis < rank; axis++) {
            if (axis != channelAxis) {
                positions *= shape[axis];
            }
        }
        long outer = channelsLast ? shape[0] * positions : shape[0];
        long inner = channelsLast ? 1 : positions;
        if (outer < 1 || inner < 1 || channels > ChannelView.MAX_CHANNELS) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId + ": unsupported input shape "
                    + Arrays.toString(shape) + (channels > ChannelView.MAX_CHANNELS
                    ? " (at most " + ChannelView.MAX_CHANNELS + " channels)" : " (an empty axis)"));
        }
        return new ChannelView(outer, (int) channels, inner);
    }

    /** The rank of an input type's arrays (a flattened CNN input reaches the layer as rank 4), or 0 for any. */
    private static int rankOf(InputType.Type kind) {
        if (kind == null) {
            return 0;
        }
        switch (kind) {
            case FF:
                return 2;
            case RNN:
                return 3;
            case CNN3D:
                return 5;
            default:
                return 4;                                          // CNN, and CNNFlat through its preprocessor
        }
    }

    /**
     * The features mask as the kernels take it: one value per {@code (outer, inner)} position of the view, 0
     * where the position is padding. DL4J gives a recurrent input ({@code [mb, C, T]} or {@code [mb, T, C]}) a
     * {@code [mb, T]} mask, and a feed-forward input after an RNN-to-FF preprocessor ({@code [mb * T, C]}) a
     * {@code [mb * T, 1]} one; both are read row-major, which is the view's position order.
     *
     * @param mask    the mask DL4J set on the layer, or null
     * @param shape   the input's shape
     * @param view    the input's view
     * @param layerId the layer's name and index, for messages
     * @return the mask, or null without one
     * @throws DL4JInvalidInputException on a mask of an input of rank 4 or 5, or of the wrong shape
     */
    static INDArray mask(INDArray mask, long[] shape, ChannelView view, String layerId) {
        if (mask == null) {
            return null;
        }
        int rank = shape.length;
        long positions = view.outer() * view.inner();
        boolean fits = rank == 3 ? mask.rank() == 2 && mask.size(0) == shape[0] && mask.length() == positions
                : rank == 2 && mask.length() == shape[0] && (mask.rank() == 1 || mask.size(1) == 1);
        if (rank > 3) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId + ": a mask is supported on recurrent (rank 3) and"
                    + " feed-forward (rank 2) input, got a mask of shape " + Arrays.toString(mask.shape())
                    + " on rank " + rank + " input of shape " + Arrays.toString(shape));
        }
        if (!fits) {
            throw new DL4JInvalidInputException("BatchNorm " + layerId + ": expected a features mask of shape "
                    + (rank == 3 ? "[" + shape[0] + ", " + positions / shape[0] + "]" : "[" + shape[0] + ", 1]")
                    + " (one value per " + (rank == 3 ? "example and time step" : "row") + ") for input of shape "
                    + Arrays.toString(shape) + ", got " + Arrays.toString(mask.shape()));
        }
        return mask.reshape(new long[]{positions});
    }

    /**
     * The layout name the layer expects for a given rank, for messages.
     *
     * @param rank input rank
     * @param conf the layer configuration
     * @return for example "NHWC [mb, H, W, C]"
     */
    static String formatName(int rank, BatchNorm conf) {
        switch (rank) {
            case 2:
                return "[mb, C]";
            case 3:
                return conf.getRnnFormat() == RNNFormat.NWC ? "NWC [mb, T, C]" : "NCW [mb, C, T]";
            case 4:
                return conf.getCnn2dFormat() == CNN2DFormat.NHWC ? "NHWC [mb, H, W, C]" : "NCHW [mb, C, H, W]";
            default:
                return conf.getCnn3dFormat() == Convolution3D.DataFormat.NDHWC
                        ? "NDHWC [mb, D, H, W, C]" : "NCDHW [mb, C, D, H, W]";
        }
    }

    private static boolean isChannelsLast(int rank, BatchNorm conf) {
        switch (rank) {
            case 3:
                return conf.getRnnFormat() == RNNFormat.NWC;
            case 4:
                return conf.getCnn2dFormat() == CNN2DFormat.NHWC;
            case 5:
                return conf.getCnn3dFormat() == Convolution3D.DataFormat.NDHWC;
            default:
                return false;
        }
    }

    /** Names the likely cause when the channel count sits on the other format's channel axis. */
    private static String mismatchHint(long[] shape, int rank, boolean channelsLast, long channels) {
        if (rank == 2) {
            return "";
        }
        int otherAxis = channelsLast ? 1 : rank - 1;
        if (shape[otherAxis] == channels) {
            String other = channelsLast ? "channels-first (NCW/NCHW/NCDHW)" : "channels-last (NWC/NHWC/NDHWC)";
            return "; the channel count is on axis " + otherAxis + ", so the input looks " + other
                    + ": set the layer's dataFormat or the InputType to match";
        }
        return "";
    }
}
