package io.github.dl4jbn.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line as a user meets it: a user error is one clear line and a non-zero exit, never a stack trace. */
class CommandLineTest {

    private record Run(int code, String err) {
    }

    private static Run run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cmd = Main.commandLine();
        cmd.setErr(new PrintWriter(err));
        cmd.setOut(new PrintWriter(new StringWriter()));
        int code = cmd.execute(args);
        return new Run(code, err.toString());
    }

    private static void assertOneLine(Run run, String expected) {
        assertTrue(run.code() != 0, "non-zero exit");
        assertTrue(run.err().contains(expected), run.err());
        assertFalse(run.err().contains("\tat "), "no stack trace: " + run.err());
        assertTrue(run.err().strip().lines().count() <= 2, "one line (and a hint): " + run.err());
    }

    @Test
    void missingDataDirectory(@TempDir Path dir) {
        Run run = run("paper-mnist", "--data", dir.resolve("nonexistent").toString(), "--out", dir.toString());
        assertEquals(Main.USER_ERROR, run.code());
        assertOneLine(run, "nonexistent");
        assertTrue(run.err().startsWith("paper-mnist: "), run.err());
    }

    @Test
    void corruptDataFile(@TempDir Path dir) throws IOException {
        Path data = Files.createDirectories(dir.resolve("data"));
        for (String name : new String[]{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte"}) {
            Files.write(data.resolve(name), new byte[]{0, 0, 8, 3, 0, 0});
        }
        Run run = run("cnn-mnist", "--data", data.toString(), "--no-verify", "--out", dir.resolve("out").toString());
        assertEquals(Main.USER_ERROR, run.code());
        assertOneLine(run, "train-images-idx3-ubyte");
    }

    @Test
    void badOptionValue() {
        Run run = run("paper-mnist", "--steps", "many");
        assertEquals(2, run.code());
        assertOneLine(run, "'many'");
        assertTrue(run.err().contains("Try 'dl4j-bn paper-mnist --help'"), run.err());
    }

    /** Every numeric option of every subcommand, out of range: exit 2, one line naming it, nothing started. */
    @Test
    void everyNumericOptionOutOfRangeIsRefusedBeforeAnyWork(@TempDir Path dir) {
        Map<String, List<String>> bad = Map.ofEntries(
                Map.entry("--steps", List.of("0", "-5")), Map.entry("--eval-every", List.of("0")),
                Map.entry("--batch", List.of("0")), Map.entry("--epochs", List.of("0")),
                Map.entry("--train-limit", List.of("-1")), Map.entry("--train-size", List.of("0")),
                Map.entry("--examples", List.of("-5", "0")), Map.entry("--draws", List.of("0")),
                Map.entry("--train-steps", List.of("0")), Map.entry("--probe", List.of("0")),
                Map.entry("--test-limit", List.of("0")), Map.entry("--population-examples", List.of("0")), Map.entry("--batch-sizes", List.of("0", "4,1")),
                Map.entry("--ghost", List.of("0", "1", "7")), Map.entry("--lr", List.of("-1", "0")),
                Map.entry("--base-lr", List.of("0")), Map.entry("--init-std", List.of("-2")),
                Map.entry("--retain", List.of("0", "1.5")), Map.entry("--unit", List.of("-1", "100")));
        int checked = 0;
        for (CommandLine sub : Main.commandLine().getSubcommands().values()) {
            for (CommandLine.Model.OptionSpec option : sub.getCommandSpec().options()) {
                for (String value : bad.getOrDefault(option.longestName(), List.of())) {
                    Path out = dir.resolve("out" + checked++);
                    long t0 = System.nanoTime();
                    Run run = run(sub.getCommandName(), option.longestName() + "=" + value, "--out", out.toString());
                    String what = sub.getCommandName() + " " + option.longestName() + "=" + value;
                    assertEquals(2, run.code(), what + ": " + run.err());
                    assertOneLine(run, option.longestName() + " must be");
                    assertTrue(run.err().contains("got " + (value.contains(",") ? "1" : value)), what + ": " + run.err());
                    assertFalse(Files.exists(out), what + ": no work started");
                    assertTrue(System.nanoTime() - t0 < 5e9, what + ": refused at once");
                }
            }
        }
        assertTrue(checked >= 30, "options checked: " + checked);
    }

    @Test
    void versionComesFromTheBuild() {
        StringWriter out = new StringWriter();
        CommandLine cmd = Main.commandLine();
        cmd.setOut(new PrintWriter(out));
        assertEquals(0, cmd.execute("--version"));
        assertTrue(out.toString().matches("dl4j-bn \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\\s*"), out.toString());
    }
}
