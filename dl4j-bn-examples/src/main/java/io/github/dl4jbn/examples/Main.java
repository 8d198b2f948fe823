package io.github.dl4jbn.examples;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the examples: {@code paper-mnist}, {@code cnn-mnist}, {@code batch-noise}, {@code regularization}, {@code accelerate}. */
@Command(name = "dl4j-bn", mixinStandardHelpOptions = true, version = "dl4j-bn 0.1.0",
        description = "Batch Normalization experiments on MNIST with DL4J.",
        subcommands = {PaperMnist.class, CnnMnist.class, BatchNoise.class, Regularization.class, Accelerate.class})
public class Main implements Runnable {

    /**
     * Runs a subcommand and exits with its code.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        System.exit(new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).execute(args));
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
