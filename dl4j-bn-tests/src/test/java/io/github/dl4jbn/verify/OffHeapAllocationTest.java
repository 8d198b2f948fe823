package io.github.dl4jbn.verify;

import io.github.dl4jbn.conf.BatchNorm;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Steady-state training allocates no new off-heap memory: after a warm-up, 10,000 fit steps of a network with
 * our layer leave JavaCPP's count of live off-heap bytes where it was (everything per step lives in DL4J's
 * workspaces or in the layer's reused heap buffers).
 */
class OffHeapAllocationTest {

    private static final Logger log = LoggerFactory.getLogger(OffHeapAllocationTest.class);
    static final int ITERATIONS = 10_000;

    private static long liveOffHeapBytesAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);                                          // let JavaCPP's deallocator thread run
        }
        return Pointer.totalBytes();
    }

    /** Live off-heap growth per fit step of a small CNN, with or without a BatchNorm layer. */
    private static double growthPerIteration(boolean withBatchNorm) throws InterruptedException {
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT)
                .seed(3).updater(new Sgd(0.01)).list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(8).activation(Activation.IDENTITY).hasBias(false).build());
        if (withBatchNorm) {
            list.layer(new BatchNorm.Builder().build());
        }
        MultiLayerNetwork net = new MultiLayerNetwork(list
                .layer(new ActivationLayer(Activation.RELU))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(4).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(8, 8, 3, CNN2DFormat.NHWC)).build());
        net.init();
        INDArray labels = Nd4j.zeros(DataType.FLOAT, 16, 4);
        for (int i = 0; i < 16; i++) {
            labels.putScalar(i, i % 4, 1);
        }
        DataSet batch = new DataSet(Nd4j.rand(DataType.FLOAT, 16, 8, 8, 3), labels);
        for (int i = 0; i < 500; i++) {
            net.fit(batch);
        }
        long before = liveOffHeapBytesAfterGc();
        for (int i = 0; i < ITERATIONS; i++) {
            net.fit(batch);
        }
        long after = liveOffHeapBytesAfterGc();
        double perIteration = (after - before) / (double) ITERATIONS;
        log.info("BatchNorm {}: live off-heap bytes before {} after {}: {} bytes per iteration", withBatchNorm, before,
                after, perIteration);
        return perIteration;
    }

    @Test
    void tenThousandTrainingStepsOfOurLayerAllocateNoOffHeapMemory() throws InterruptedException {
        double without = growthPerIteration(false);
        double with = growthPerIteration(true);
        assertTrue(with - without < 16, "the BatchNorm layer adds " + (with - without) + " bytes of live off-heap memory "
                + "per training iteration (" + with + " with it, " + without + " without)");
    }
}
