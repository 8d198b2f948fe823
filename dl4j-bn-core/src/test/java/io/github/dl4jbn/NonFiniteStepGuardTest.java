package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.conf.NonFinitePolicy;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A batch with a NaN inside {@code fit}: with SKIP alone the layer's running statistics stay finite but the
 * network's parameters do not (recorded here, so the difference is pinned); with {@link NonFiniteStepGuard}
 * the step is skipped whole, and after 20 clean batches every parameter, the updater state and the iteration
 * count equal those of a run that never saw the bad batch.
 */
@org.junit.jupiter.api.Tag("once")   // kernel-agnostic: the default run only (docs/design.md, which tests run where)
class NonFiniteStepGuardTest {

    private static MultiLayerNetwork net(boolean denseFirst, IUpdater updater) {
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder().seed(7).updater(updater)
                .dataType(DataType.DOUBLE).list();
        if (denseFirst) {
            list.layer(new DenseLayer.Builder().nOut(8).activation(Activation.IDENTITY).build());
        }
        MultiLayerNetwork net = new MultiLayerNetwork(list
                .layer(new BatchNorm.Builder().nonFiniteBatches(NonFinitePolicy.SKIP).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(4)).build());
        net.init();
        return net;
    }

    private static INDArray features(int batch) {
        return Nets.random(new long[]{16, 4}, DataType.DOUBLE, 1, 2, 1000 + batch);
    }

    private static INDArray labels(int batch) {
        return Nets.random(new long[]{16, 2}, DataType.DOUBLE, 0, 1, 2000 + batch);
    }

    private static boolean finite(INDArray a) {
        for (double v : Nets.values(a)) {
            if (!Double.isFinite(v)) {
                return false;
            }
        }
        return true;
    }

    @ParameterizedTest(name = "dense first={0}, {1}, bad batch at {2}")
    @CsvSource({"false, sgd, 0", "true, sgd, 3", "false, adam, 3", "true, adam, 0", "true, adam, 5"})
    void aNaNBatchIsSkippedWholeAndTrainingGoesOnAsIfItNeverCame(boolean denseFirst, String updater, int badAt) {
        IUpdater u = updater.equals("adam") ? new Adam(0.01) : new Sgd(0.1);
        MultiLayerNetwork guarded = net(denseFirst, u);
        NonFiniteStepGuard guard = new NonFiniteStepGuard();
        guarded.addListeners(guard);
        MultiLayerNetwork clean = net(denseFirst, u);
        MultiLayerNetwork unguarded = net(denseFirst, u);
        for (int b = 0; b < 20; b++) {
            if (b == badAt) {
                INDArray bad = features(99);
                bad.putScalar(5, 1, Double.NaN);
                guarded.fit(bad, labels(99));
                unguarded.fit(bad, labels(99));
            }
            guarded.fit(features(b), labels(b));
            clean.fit(features(b), labels(b));
            unguarded.fit(features(b), labels(b));
        }
        assertEquals(1, guard.skippedSteps());
        assertTrue(finite(guarded.params()));
        assertEquals(clean.params(), guarded.params(), "parameters, running statistics included");
        if (u instanceof Adam) {
            assertTrue(finite(guarded.getUpdater().getStateViewArray()));
            assertEquals(clean.getUpdater().getStateViewArray(), guarded.getUpdater().getStateViewArray(), "updater state");
        }
        assertEquals(clean.getIterationCount(), guarded.getIterationCount(), "iteration count");
        assertEquals(clean.output(features(50)), guarded.output(features(50)));
        // SKIP alone: the running statistics of the BatchNorm layer stay finite, the rest of the network does not
        int bn = denseFirst ? 1 : 0;
        assertTrue(finite(unguarded.getLayer(bn).getParam("mean")) && finite(unguarded.getLayer(bn).getParam("var")),
                "SKIP keeps the layer's running statistics finite");
        assertTrue(!finite(unguarded.params()), "without the guard the NaN update reaches the parameters");
    }
}
