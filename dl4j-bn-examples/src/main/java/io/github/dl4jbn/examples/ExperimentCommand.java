package io.github.dl4jbn.examples;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * What every experiment subcommand shares: {@code --seed}, {@code --out} (by default {@code <subcommand>-out}),
 * the data options, and the range check of its numeric options before any work ({@link OptionChecks}).
 * A subcommand implements {@link #run()}.
 */
abstract class ExperimentCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of initialization and data order. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--out", description = "Output directory. Default: ${COMMAND-NAME}-out.")
    Path out;

    @Mixin
    DataOptions data;

    /**
     * Checks the options, then runs the experiment.
     *
     * @return the exit code
     * @throws Exception what the experiment throws
     */
    @Override
    public final Integer call() throws Exception {
        OptionChecks.check(spec);
        if (out == null) {
            out = Path.of(spec.name() + "-out");
        }
        return run();
    }

    /**
     * The experiment, its options checked and {@link #out} set.
     *
     * @return the exit code
     * @throws Exception on bad data or an unwritable output
     */
    abstract Integer run() throws Exception;
}
