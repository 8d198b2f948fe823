package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistFormatException;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.Properties;

/** Entry point of the examples: {@code paper-mnist}, {@code cnn-mnist}, {@code batch-noise}, {@code regularization}, {@code accelerate}, {@code small-batch}, {@code adapt}. */
@Command(name = "dl4j-bn", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Batch Normalization experiments on MNIST with DL4J.",
        subcommands = {PaperMnist.class, CnnMnist.class, BatchNoise.class, Regularization.class, Accelerate.class,
                SmallBatch.class, Adapt.class})
public class Main implements Runnable {

    /** Exit code of a run that failed on the user's input: bad data, a file that cannot be written. */
    static final int USER_ERROR = 1;

    /**
     * Runs a subcommand and exits with its code.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        System.exit(commandLine().execute(args));
    }

    /** @return the command line, with user errors reported in one line and no stack trace */
    static CommandLine commandLine() {
        return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true)
                .setParameterExceptionHandler(Main::badOption)
                .setExecutionExceptionHandler(Main::failed);
    }

    // a bad option value: the message and where to look, not the whole usage text
    private static int badOption(CommandLine.ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        err.println(cmd.getCommandName() + ": " + e.getMessage());
        err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help'.");
        err.flush();
        return cmd.getCommandSpec().exitCodeOnInvalidInput();
    }

    // missing or corrupt data, an unwritable output, an input the layers reject: one line; anything else is a bug
    private static int failed(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) throws Exception {
        if (!(e instanceof IOException || e instanceof UncheckedIOException || e instanceof DL4JInvalidInputException
                || e instanceof DL4JInvalidConfigException)) {
            throw e;
        }
        String what = e instanceof MnistFormatException || e.getMessage() == null ? "" : e.getClass().getSimpleName() + ": ";
        cmd.getErr().println(cmd.getCommandName() + ": " + what + (e.getMessage() == null ? e.toString() : e.getMessage()));
        cmd.getErr().flush();
        return USER_ERROR;
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /** The version Maven built, from the filtered {@code dl4j-bn-version.properties}. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws IOException {
            Properties p = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("/dl4j-bn-version.properties")) {
                if (in != null) {
                    p.load(in);
                }
            }
            return new String[]{"dl4j-bn " + p.getProperty("version", "(unknown version)")};
        }
    }
}
