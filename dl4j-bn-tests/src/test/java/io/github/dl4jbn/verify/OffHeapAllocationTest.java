package io.github.dl4jbn.verify;

import io.github.dl4jbn.Nets;
import io.github.dl4jbn.conf.BatchNorm;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Steady-state training allocates no new off-heap memory: over 2,000 training steps of the layer (forward with
 * batch statistics, backward, running-statistics update), inside workspaces as DL4J runs them, no step adds more
 * to JavaCPP's off-heap byte count than one step of DL4J's own simplest layer (an ActivationLayer, which like
 * ours returns one activation array and one gradient array from its workspaces): the 64-byte native handle ND4J
 * attaches to every array object, freed by the garbage collector. The tensor itself (128 KiB in FLOAT) never is.
 */
class OffHeapAllocationTest {

    private static final Logger log = LoggerFactory.getLogger(OffHeapAllocationTest.class);
    static final int ITERATIONS = 2_000;
    private static final long[] SHAPE = {32, 8, 8, 16};

    /** The largest number of off-heap bytes any single training step added (garbage collection only lowers it). */
    private static long largestStepAllocation(org.deeplearning4j.nn.conf.layers.Layer conf, DataType type) {
        MultiLayerNetwork net = Nets.single(conf, InputType.convolutional(8, 8, 16, CNN2DFormat.NHWC), type);
        Layer layer = net.getLayer(0);
        INDArray x = Nets.random(SHAPE, type, 1, 2, 1);
        INDArray dy = Nets.random(SHAPE, type, 0, 1, 2);
        WorkspaceConfiguration ws = WorkspaceConfiguration.builder().policyAllocation(AllocationPolicy.STRICT)
                .policyLearning(LearningPolicy.FIRST_LOOP).build();
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.builder()
                .with(ArrayType.INPUT, "TEST_ACT", ws).with(ArrayType.ACTIVATIONS, "TEST_ACT", ws)
                .with(ArrayType.FF_WORKING_MEM, "TEST_FF", ws).with(ArrayType.BP_WORKING_MEM, "TEST_BP", ws)
                .with(ArrayType.ACTIVATION_GRAD, "TEST_GRAD", ws)
                .with(ArrayType.RNN_FF_LOOP_WORKING_MEM, "TEST_RNN", ws).with(ArrayType.RNN_BP_LOOP_WORKING_MEM, "TEST_RNN_BP", ws)
                .with(ArrayType.UPDATER_WORKING_MEM, "TEST_UPD", ws).build();
        long largest = 0;
        for (int i = 0; i < ITERATIONS + 100; i++) {
            long before = Pointer.totalBytes();
            try (MemoryWorkspace act = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS);
                 MemoryWorkspace grad = mgr.notifyScopeEntered(ArrayType.ACTIVATION_GRAD)) {
                layer.setInput(x, mgr);
                layer.activate(true, mgr);
                layer.backpropGradient(dy, mgr);
            }
            if (i >= 100) {                                             // after the workspaces have learned their size
                largest = Math.max(largest, Pointer.totalBytes() - before);
            }
        }
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
        return largest;
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void trainingStepsAllocateNoOffHeapMemoryBeyondDl4jsArrayHandles(DataType type) {
        long ours = largestStepAllocation(new BatchNorm.Builder().build(), type);
        long reference = largestStepAllocation(new ActivationLayer(Activation.TANH), type);
        log.info("{}: largest off-heap allocation of one training step: {} bytes ours, {} bytes DL4J's ActivationLayer",
                type, ours, reference);
        assertTrue(ours <= reference, "a step of our layer allocated " + ours + " off-heap bytes, DL4J's ActivationLayer " + reference);
        assertTrue(ours < 1024, "a step allocated " + ours + " off-heap bytes: tensor data left the workspaces");
    }
}
