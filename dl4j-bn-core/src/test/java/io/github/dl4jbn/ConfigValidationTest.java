package io.github.dl4jbn;

import io.github.dl4jbn.conf.BatchNorm;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.constraint.MaxNormConstraint;
import org.deeplearning4j.nn.conf.constraint.NonNegativeConstraint;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Invalid configurations are refused on every path, with the same message: the builder ({@code build()}
 * throws), the setters and a JSON or YAML text edited by hand (the network's {@code init()} throws, naming the
 * layer's index and name). Conflicting options too, and constraints that cannot act on a per-channel vector.
 * And an input of another rank than the configured input type's is an error naming both.
 */
@org.junit.jupiter.api.Tag("once")   // kernel-agnostic: the default run only (docs/design.md, which tests run where)
class ConfigValidationTest {

    /**
     * One invalid option: how the builder sets it, how a setter sets it, the JSON field and value as Jackson
     * writes them and the invalid value to write instead, and what the message must say.
     */
    record Invalid(String name, Consumer<BatchNorm.Builder> base, Consumer<BatchNorm.Builder> builder,
                   Consumer<BatchNorm> setter, String jsonField, String jsonValue, String message) {
        /** One option invalid on its own, on a layer with every default. */
        Invalid(String name, Consumer<BatchNorm.Builder> builder, Consumer<BatchNorm> setter, String jsonField,
                String jsonValue, String message) {
            this(name, b -> { }, builder, setter, jsonField, jsonValue, message);
        }

        /** @return the valid layer the option is set on */
        BatchNorm valid() {
            BatchNorm.Builder b = new BatchNorm.Builder().name("bn");
            base.accept(b);
            return b.build();
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                new Invalid("eps NaN", b -> b.eps(Double.NaN), c -> c.setEps(Double.NaN), "eps", "\"NaN\"", "eps must be finite and >= 0, got NaN"),
                new Invalid("eps -1", b -> b.eps(-1), c -> c.setEps(-1), "eps", "-1.0", "eps must be finite and >= 0, got -1.0"),
                new Invalid("eps infinite", b -> b.eps(Double.POSITIVE_INFINITY), c -> c.setEps(Double.POSITIVE_INFINITY), "eps", "\"Infinity\"",
                        "eps must be finite and >= 0, got Infinity"),
                new Invalid("decay -3", b -> b.decay(-3), c -> c.setDecay(-3), "decay", "-3.0", "decay must be in [0, 1) (running = decay * running + (1 - decay) * batch), got -3.0"),
                new Invalid("decay 1", b -> b.decay(1), c -> c.setDecay(1), "decay", "1.0", "decay must be in [0, 1)"),
                new Invalid("decay 5", b -> b.decay(5), c -> c.setDecay(5), "decay", "5.0", "decay must be in [0, 1) (running = decay * running + (1 - decay) * batch), got 5.0"),
                new Invalid("gamma infinite", b -> b.gamma(Double.NEGATIVE_INFINITY), c -> c.setGamma(Double.NEGATIVE_INFINITY), "gamma", "\"-Infinity\"",
                        "gamma and beta must be finite, got gamma -Infinity"),
                new Invalid("beta NaN", b -> b.beta(Double.NaN), c -> c.setBeta(Double.NaN), "beta", "\"NaN\"", "gamma and beta must be finite, got gamma 1.0, beta NaN"),
                new Invalid("no variance estimate", null, c -> c.setVarianceEstimate(null), "varianceEstimate", "null",
                        "varianceEstimate, the data formats and nonFiniteBatches must be set"),
                new Invalid("no non-finite policy", null, c -> c.setNonFiniteBatches(null), "nonFiniteBatches", "null",
                        "nonFiniteBatches null"),
                new Invalid("virtualBatchSize 1", b -> b.virtualBatchSize(1), c -> c.setVirtualBatchSize(1), "virtualBatchSize", "1",
                        "virtualBatchSize must be 0 (off) or at least 2 examples per ghost batch, got 1"),
                new Invalid("virtualBatchSize -4", b -> b.virtualBatchSize(-4), c -> c.setVirtualBatchSize(-4), "virtualBatchSize", "-4",
                        "virtualBatchSize must be 0 (off) or at least 2 examples per ghost batch, got -4"),
                new Invalid("no NCHW/NHWC format", null, c -> c.setCnn2dFormat(null), "cnn2dFormat", "null",
                        "formats null/NCW/NCDHW"),
                new Invalid("freezeStatistics with renorm", b -> b.renorm(io.github.dl4jbn.conf.Renorm.constant(2, 1)),
                        b -> b.freezeStatistics(true), c -> c.setFreezeStatistics(true), "freezeStatistics", "true",
                        "freezeStatistics normalizes with the running statistics, got renorm Renorm(rMax=2.0, dMax=1.0) too"),
                new Invalid("freezeStatistics without running statistics", b -> b.trackRunningStatistics(false),
                        b -> b.freezeStatistics(true), c -> c.setFreezeStatistics(true), "freezeStatistics", "true",
                        "freezeStatistics needs running statistics, got trackRunningStatistics(false)"),
                new Invalid("cumulativeAverage without running statistics", b -> b.trackRunningStatistics(false),
                        b -> b.cumulativeAverage(), c -> c.setCumulativeAverage(true), "cumulativeAverage", "true",
                        "cumulativeAverage needs running statistics, got trackRunningStatistics(false)")
        ).map(Arguments::of);
    }

    private static BatchNorm valid() {
        return new BatchNorm.Builder().name("bn").build();
    }

    private static MultiLayerConfiguration conf(BatchNorm bn) {
        return new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).list().layer(bn)
                .setInputType(InputType.feedForward(3)).build();
    }

    private static void assertRefused(MultiLayerConfiguration conf, String message) {
        DL4JInvalidConfigException e = assertThrows(DL4JInvalidConfigException.class, () -> new MultiLayerNetwork(conf).init());
        assertTrue(e.getMessage().startsWith("BatchNorm (layer 0, name \"bn\"): ") && e.getMessage().contains(message),
                e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalid")
    void theBuilderRefusesIt(Invalid invalid) {
        if (invalid.builder() == null) {
            return;                                                 // the builder takes no null for it at all
        }
        BatchNorm.Builder b = new BatchNorm.Builder().name("bn");
        invalid.base().accept(b);
        invalid.builder().accept(b);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
        assertEquals("BatchNorm \"bn\": " + invalid.message(), e.getMessage().substring(0, Math.min(e.getMessage().length(),
                ("BatchNorm \"bn\": " + invalid.message()).length())), e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalid")
    void aSetterIsCaughtWhenTheNetworkIsBuilt(Invalid invalid) {
        BatchNorm bn = invalid.valid();
        MultiLayerConfiguration conf = conf(bn);
        invalid.setter().accept((BatchNorm) conf.getConf(0).getLayer());
        assertRefused(conf, invalid.message());
    }

    /** A setter on a live, trained network's configuration: the next fit and output refuse it and change nothing. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("invalid")
    void aSetterOnALiveNetworkIsRefusedAtItsNextCall(Invalid invalid) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .updater(new org.nd4j.linalg.learning.config.Sgd(0.1)).list()
                .layer(invalid.valid())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder(
                        org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction.MSE).nOut(2)
                        .activation(org.nd4j.linalg.activations.Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(3)).build());
        net.init();
        INDArray x = Nets.random(new long[]{8, 3}, DataType.DOUBLE, 1, 2, 1);
        INDArray y = Nets.random(new long[]{8, 2}, DataType.DOUBLE, 0, 1, 2);
        net.fit(x, y);
        INDArray before = net.params().dup();
        invalid.setter().accept((BatchNorm) net.getLayer(0).conf().getLayer());
        for (Runnable call : new Runnable[]{() -> net.fit(x, y), () -> net.output(x)}) {
            DL4JInvalidConfigException e = assertThrows(DL4JInvalidConfigException.class, call::run);
            assertTrue(e.getMessage().startsWith("BatchNorm (layer name: bn") && e.getMessage().contains(invalid.message()),
                    e.getMessage());
        }
        assertEquals(before, net.params(), "nothing written");
    }

    @Test
    void renormWithTheCumulativeAverageIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BatchNorm.Builder().name("bn")
                .renorm(io.github.dl4jbn.conf.Renorm.warmUp(3, 5, 10, 10)).cumulativeAverage().build());
        assertTrue(e.getMessage().contains("renorm needs the moving average") && e.getMessage().contains("use decay"),
                e.getMessage());
        BatchNorm bn = new BatchNorm.Builder().name("bn").renorm(io.github.dl4jbn.conf.Renorm.constant(2, 1)).build();
        MultiLayerConfiguration conf = conf(bn);
        ((BatchNorm) conf.getConf(0).getLayer()).setCumulativeAverage(true);
        assertRefused(conf, "renorm needs the moving average");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalid")
    void jsonAndYamlAreCheckedToo(Invalid invalid) {
        MultiLayerConfiguration conf = conf(invalid.valid());
        String json = conf.toJson();
        String field = "\"" + invalid.jsonField() + "\" : ";
        assertTrue(json.contains(field), json);
        String edited = json.replaceFirst(java.util.regex.Pattern.quote(field) + "[^,\\n}]*", field.replace("$", "\\$")
                + invalid.jsonValue());
        assertRefused(MultiLayerConfiguration.fromJson(edited), invalid.message());

        String yaml = conf.toYaml();
        String yamlField = invalid.jsonField() + ": ";
        String editedYaml = yaml.replaceFirst("(?m)^(\\s*)" + java.util.regex.Pattern.quote(yamlField) + ".*$",
                "$1" + yamlField + invalid.jsonValue().replace("\"", "\\\""));      // ND4J's YAML reads "NaN" as JSON does
        assertTrue(!editedYaml.equals(yaml), "the YAML has " + yamlField);
        assertRefused(MultiLayerConfiguration.fromYaml(editedYaml), invalid.message());
    }

    @Test
    void lockedGammaAndBetaWithTheirOwnConstraintsAreAConflict() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BatchNorm.Builder()
                .name("bn").lockGammaBeta(true).constrainGamma(new NonNegativeConstraint()).build());
        assertTrue(e.getMessage().contains("[gamma] not learned (lockGammaBeta)") && e.getMessage().contains("would never apply"),
                e.getMessage());
        BatchNorm bn = new BatchNorm.Builder().name("bn").constrainBeta(new NonNegativeConstraint()).build();
        MultiLayerConfiguration conf = conf(bn);
        ((BatchNorm) conf.getConf(0).getLayer()).setLockGammaBeta(true);
        assertRefused(conf, "[beta] not learned (lockGammaBeta), so the constraint");
    }

    @Test
    void aConstraintAlongAnotherDimensionThanTheVectorsOwnIsRefusedAndDimensionZeroWorks() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BatchNorm.Builder()
                .name("bn").constrainGamma(new MaxNormConstraint(0.5, 1)).build());
        assertTrue(e.getMessage().contains("acts along dimensions [1]") && e.getMessage().contains("use dimension 0"),
                e.getMessage());
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().constrainGamma(new MaxNormConstraint(0.5, 0)).build(),
                InputType.feedForward(2), DataType.DOUBLE);
        net.getLayer(0).setParam("gamma", Nd4j.createFromArray(3.0, -4.0));
        net.getLayer(0).conf().getLayer().getConstraints().forEach(c -> c.applyConstraint(net.getLayer(0), 0, 0));
        assertEquals(0.3, net.getLayer(0).getParam("gamma").getDouble(0), 1e-6);   // the whole vector's norm is 0.5
        assertEquals(-0.4, net.getLayer(0).getParam("gamma").getDouble(1), 1e-6);
    }

    @Test
    void anInputOfAnotherRankThanTheConfiguredTypeIsAnError() {
        MultiLayerNetwork net = Nets.single(new BatchNorm.Builder().name("bn").build(), InputType.feedForward(4), DataType.FLOAT);
        net.getLayer(0).setInput(Nd4j.rand(DataType.FLOAT, 16, 4, 3), LayerWorkspaceMgr.noWorkspaces());
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class,
                () -> net.getLayer(0).activate(true, LayerWorkspaceMgr.noWorkspaces()));
        assertTrue(e.getMessage().contains("layer name: bn") && e.getMessage().contains("configured for FF input of 4 channels")
                && e.getMessage().contains("rank 2") && e.getMessage().contains("[16, 4, 3]"), e.getMessage());
        // the configured type survives JSON
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(net.getLayerWiseConfigurations().toJson());
        assertEquals(InputType.Type.FF, ((BatchNorm) back.getConf(0).getLayer()).getInputKind());
    }
}
