package io.github.dl4jbn;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.longer.MatchCondition;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.conditions.Conditions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Skips a whole training step whose score or gradient is not finite, as PyTorch's AMP {@code GradScaler} skips
 * the optimizer step: the network's parameters (this project's running statistics included), the updater's
 * state (Adam's moments and the like) and the iteration count stay exactly as they were before the step, so
 * training goes on as if the batch had never come. A {@code TrainingListener} for {@code MultiLayerNetwork}
 * and {@code ComputationGraph} trained by {@code fit} with DL4J's stochastic gradient descent:
 *
 * <pre>{@code
 * net.addListeners(new NonFiniteStepGuard());
 * }</pre>
 *
 * <p>It checks the forward pass's output in {@code onForwardPass} (before the backward pass, where BatchNorm
 * layers move their running statistics), and the score and gradient in {@code onGradientCalculation} (before
 * the updater uses them), with one reduction each (a sum; an exact count only when that sum is not finite). On
 * a bad step it copies the parameters and the updater state, lets DL4J finish the step, and puts both back in
 * {@code iterationDone}; the iteration count is moved back one, so DL4J's increment leaves it where it was. The
 * epoch count is DL4J's. Skipped steps are counted ({@link #skippedSteps()}) and logged at most once a minute.
 * Listeners after this one in the list see the step's own non-finite values in their {@code iterationDone}.
 *
 * <p>Why a network-level guard: a NaN in a batch reaches every layer's gradient, not only a BatchNorm layer's
 * statistics; {@code nonFiniteBatches(SKIP)} alone keeps a layer's running statistics finite, but gamma, beta
 * and every other parameter would still take the NaN update.
 */
public final class NonFiniteStepGuard extends BaseTrainingListener {

    private static final Logger log = LoggerFactory.getLogger(NonFiniteStepGuard.class);
    private static final long WARN_EVERY_NANOS = 60_000_000_000L;

    private INDArray savedParams;
    private INDArray savedUpdaterState;
    private boolean restorePending;
    private long skipped;
    private long reported;
    private long lastWarning = System.nanoTime() - WARN_EVERY_NANOS;

    /** A guard with nothing skipped yet; one per network. */
    public NonFiniteStepGuard() {
    }

    /** @return how many training steps this guard skipped */
    public long skippedSteps() {
        return skipped;
    }

    /**
     * Checks the forward pass's last activation (every activation of a graph): if it is not finite, saves the
     * parameters and updater state now, before the backward pass moves any BatchNorm layer's running
     * statistics.
     *
     * @param model       the network being trained
     * @param activations the input and each layer's output
     */
    @Override
    public void onForwardPass(Model model, java.util.List<INDArray> activations) {
        if (!restorePending && !activations.isEmpty() && !finite(activations.get(activations.size() - 1))) {
            save(model);
        }
    }

    /**
     * As {@link #onForwardPass(Model, java.util.List)}, for a {@code ComputationGraph}.
     *
     * @param model       the graph being trained
     * @param activations every vertex's output
     */
    @Override
    public void onForwardPass(Model model, java.util.Map<String, INDArray> activations) {
        for (INDArray a : activations.values()) {
            if (!restorePending && !finite(a)) {
                save(model);
            }
        }
    }

    /**
     * Checks the step's score and gradient; if either is not finite and the forward was, saves the parameters
     * and updater state that {@link #iterationDone} puts back (a BatchNorm layer's running statistics have then
     * already taken this step's finite batch statistics).
     *
     * @param model the network being trained
     */
    @Override
    public void onGradientCalculation(Model model) {
        if (restorePending) {
            return;
        }
        Gradient gradient = model.gradient();
        if (!Double.isFinite(model.score()) || (gradient != null && !finite(gradient.gradient()))) {
            save(model);
        }
    }

    private void save(Model model) {
        try (MemoryWorkspace outside = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {    // kept past this step
            savedParams = model.params().dup();
            INDArray state = updaterState(model);
            savedUpdaterState = state == null ? null : state.dup();
        }
        restorePending = true;
    }

    /**
     * After a skipped step: puts the parameters and updater state back, and the iteration count one back so that
     * DL4J's increment after this call leaves it unchanged.
     *
     * @param model     the network
     * @param iteration the step's iteration
     * @param epoch     the epoch
     */
    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        if (!restorePending) {
            return;
        }
        restorePending = false;
        model.params().assign(savedParams);
        INDArray state = updaterState(model);
        if (state != null && savedUpdaterState != null) {
            state.assign(savedUpdaterState);
        }
        savedParams = null;
        savedUpdaterState = null;
        if (model instanceof MultiLayerNetwork) {
            ((MultiLayerNetwork) model).setIterationCount(iteration - 1);
        } else if (model instanceof ComputationGraph) {
            ((ComputationGraph) model).getConfiguration().setIterationCount(iteration - 1);
        }
        skipped++;
        long now = System.nanoTime();
        if (now - lastWarning >= WARN_EVERY_NANOS) {
            log.warn("NonFiniteStepGuard: skipped {} training step(s) with a non-finite score or gradient since the"
                    + " last warning ({} in all), last at iteration {}: parameters, updater state and iteration count"
                    + " left as they were", skipped - reported, skipped, iteration);
            reported = skipped;
            lastWarning = now;
        }
    }

    private static boolean finite(INDArray values) {
        if (values == null || values.isEmpty()) {
            return true;
        }
        if (Double.isFinite(values.sumNumber().doubleValue())) {
            return true;                                    // a finite sum has only finite terms
        }
        long nan = Nd4j.getExecutioner().exec(new MatchCondition(values, Conditions.isNan())).getInt(0);
        long infinite = Nd4j.getExecutioner().exec(new MatchCondition(values, Conditions.isInfinite())).getInt(0);
        return nan + infinite == 0;                         // finite terms whose sum overflowed
    }

    private static INDArray updaterState(Model model) {
        if (model instanceof MultiLayerNetwork) {
            Updater updater = ((MultiLayerNetwork) model).getUpdater(true);     // fit makes it anyway
            return updater == null ? null : updater.getStateViewArray();
        }
        if (model instanceof ComputationGraph) {
            var updater = ((ComputationGraph) model).getUpdater(true);
            return updater == null ? null : updater.getStateViewArray();
        }
        return null;
    }
}
