package io.github.dl4jbn.bench;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;

/** One FLOAT layer alone, called through DL4J's layer API inside workspaces, as a network calls it in training. */
final class BenchLayer {

    private static final WorkspaceConfiguration WS = WorkspaceConfiguration.builder()
            .policyAllocation(AllocationPolicy.STRICT).policyLearning(LearningPolicy.FIRST_LOOP).build();

    private BenchLayer() {
    }

    /** @return a workspace manager with a workspace for every array type a layer call uses */
    static LayerWorkspaceMgr workspaces() {
        return LayerWorkspaceMgr.builder()
                .with(ArrayType.INPUT, "BENCH_ACT", WS)
                .with(ArrayType.ACTIVATIONS, "BENCH_ACT", WS)
                .with(ArrayType.FF_WORKING_MEM, "BENCH_FF", WS)
                .with(ArrayType.BP_WORKING_MEM, "BENCH_BP", WS)
                .with(ArrayType.ACTIVATION_GRAD, "BENCH_GRAD", WS)
                .with(ArrayType.RNN_FF_LOOP_WORKING_MEM, "BENCH_RNN", WS)
                .with(ArrayType.RNN_BP_LOOP_WORKING_MEM, "BENCH_RNN_BP", WS)
                .with(ArrayType.UPDATER_WORKING_MEM, "BENCH_UPD", WS)
                .build();
    }

    /**
     * @param conf      the layer's configuration
     * @param inputType its input type
     * @return the layer of a one-layer FLOAT network, with its gradient views
     */
    static Layer single(org.deeplearning4j.nn.conf.layers.Layer conf, InputType inputType) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT)
                .list().layer(conf).setInputType(inputType).build());
        net.init();
        net.initGradientsView();
        return net.getLayer(0);
    }

    /** Training forward then backward, in the activation and gradient workspaces; returns a value of dx. */
    static double trainingForwardBackward(Layer layer, INDArray x, INDArray dy, LayerWorkspaceMgr mgr) {
        try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS);
             MemoryWorkspace grad = mgr.notifyScopeEntered(ArrayType.ACTIVATION_GRAD)) {
            layer.setInput(x, mgr);
            layer.activate(true, mgr);
            return layer.backpropGradient(dy, mgr).getSecond().getDouble(0);
        }
    }
}
