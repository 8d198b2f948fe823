package io.github.dl4jbn.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A short paper-mnist run writes every output, and BatchNorm is ahead of the unnormalized network. */
class PaperMnistTest {

    @Test
    void shortRunWritesEveryFileAndBatchNormIsAhead(@TempDir Path out) throws IOException {
        int code = new CommandLine(new PaperMnist()).setCaseInsensitiveEnumValuesAllowed(true).execute(
                "--steps", "300", "--eval-every", "100", "--variants", "none,batchnorm", "--population-examples", "6000",
                "--out", out.toString(),
                "--data", "data/mnist");
        assertEquals(0, code);
        for (String f : List.of("measurements.csv", "fig1a-test-accuracy.png", "fig1-percentiles-none.png",
                "fig1-percentiles-batchnorm.png", "report.md")) {
            assertTrue(Files.size(out.resolve(f)) > 100, f);
        }
        List<String> csv = Files.readAllLines(out.resolve("measurements.csv"));
        assertEquals(1 + 2 * 4, csv.size(), "header + steps 0, 100, 200, 300 per variant");
        double none = accuracyAt(csv, "NONE", 300);
        double bn = accuracyAt(csv, "BATCHNORM", 300);
        assertTrue(bn > none, "after 300 steps BatchNorm " + bn + " should be above no normalization " + none);
        String report = Files.readString(out.resolve("report.md"));
        assertTrue(report.contains("| dl4j-bn BatchNorm |"), report);
        assertTrue(report.contains("population statistics of one pass over the first 6,000 training images"), report);
    }

    private static double accuracyAt(List<String> csv, String variant, int step) {
        for (String line : csv) {
            String[] f = line.split(",");
            if (f[0].equals(variant) && f[1].equals(String.valueOf(step))) {
                return Double.parseDouble(f[2]);
            }
        }
        throw new AssertionError("no row for " + variant + " at step " + step);
    }
}
