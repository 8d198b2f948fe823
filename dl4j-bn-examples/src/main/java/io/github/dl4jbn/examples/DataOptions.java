package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistLoader;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** Where the MNIST files come from; shared by every subcommand. */
public class DataOptions {

    @Option(names = "--data", paramLabel = "DIR",
            description = "Directory with the four MNIST idx files (plain or .gz). Default: DL4J's resources directory "
                    + "if it holds them, otherwise the copy shipped with this project.")
    Path dataDirectory;

    @Option(names = "--no-verify", description = "Skip the MD5 check (for other data sets in MNIST's idx format).")
    boolean noVerify;

    /** @return a loader for the chosen source */
    public MnistLoader loader() {
        return new MnistLoader(dataDirectory, !noVerify);
    }
}
