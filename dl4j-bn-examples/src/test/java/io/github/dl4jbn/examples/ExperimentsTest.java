package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistLoader;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Short runs of the batch-noise, regularization, accelerate and cnn-mnist experiments. */
class ExperimentsTest {

    private static void run(Object command, String... args) {
        assertEquals(0, new CommandLine(command).setCaseInsensitiveEnumValuesAllowed(true).execute(args));
    }

    private static void assertWritten(Path dir, String... files) throws IOException {
        for (String f : files) {
            assertTrue(Files.size(dir.resolve(f)) > 100, f);
        }
    }

    @Test
    void batchNoiseIsZeroInInferencePositiveInTrainingAndShrinksWithBatchSize() throws IOException {
        MnistLoader loader = new MnistLoader(Path.of("data/mnist"), true);
        MnistData train = loader.train();
        MultiLayerNetwork net = PaperNetwork.build(Variant.BATCHNORM, 1.0, 1.0, 42);
        Training.train("BatchNorm", net, train, 60, 42, 200, 200, Map.of());
        List<BatchNoise.Spread> spreads = BatchNoise.measure(net, train, loader.test().head(10), new int[]{2, 250}, 8, 42);
        assertEquals(0.0, spreads.get(0).preActivation(), "inference mode is deterministic");
        assertEquals(0.0, spreads.get(0).trueClassProbability());
        assertTrue(spreads.get(1).preActivation() > 0, "training mode depends on the companions");
        assertTrue(spreads.get(2).preActivation() < spreads.get(1).preActivation(),
                "batch 250 spread " + spreads.get(2).preActivation() + " < batch 2 spread " + spreads.get(1).preActivation());
    }

    @Test
    void batchNoiseCommandWritesItsFiles(@TempDir Path out) throws IOException {
        run(new BatchNoise(), "--train-steps", "50", "--examples", "3", "--draws", "3", "--batch-sizes", "2,10",
                "--data", "data/mnist", "--out", out.toString());
        assertWritten(out, "batch-noise.csv", "batch-noise.png", "report.md");
    }

    @Test
    void regularizationCommandWritesItsFiles(@TempDir Path out) throws IOException {
        run(new Regularization(), "--train-size", "600", "--steps", "40", "--eval-every", "20", "--data", "data/mnist",
                "--out", out.toString());
        assertWritten(out, "regularization.csv", "regularization.png", "report.md");
        assertTrue(Files.readString(out.resolve("report.md")).contains("| BatchNorm + dropout |"));
    }

    /** A short adapt run writes every file; the clean domain's AdaBN row is the population pass on clean images. */
    @Test
    void adaptCommandWritesItsFiles(@TempDir Path out) throws IOException {
        run(new Adapt(), "--steps", "20", "--test-limit", "60", "--data", "data/mnist", "--out", out.toString());
        assertWritten(out, "adapt.csv", "adapt.png", "report.md");
        String report = Files.readString(out.resolve("report.md"));
        for (DomainShift d : DomainShift.values()) {
            assertTrue(report.contains("| " + d.label() + " |"), d + " in " + report);
        }
        List<String> csv = Files.readAllLines(out.resolve("adapt.csv"));
        assertEquals(1 + 3 * DomainShift.values().length, csv.size(), String.join("\n", csv));
    }

    /** Rotating by 90 degrees turns a row into a column; the contrast shift is exactly 0.5 x + 0.3. */
    @Test
    void theDomainShiftsDoWhatTheySay() {
        float[] pixels = new float[9];
        pixels[1] = 1f;                                             // top middle of a 3x3 image
        io.github.dl4jbn.examples.mnist.MnistData one = new io.github.dl4jbn.examples.mnist.MnistData(pixels, new byte[]{7}, 3, 3);
        float[] turned = DomainShift.rotate(one, Math.PI / 2).pixels();
        assertEquals(1f, turned[3] + turned[5], 1e-5f, "a quarter turn moves the top middle to a side middle");
        assertEquals(0f, turned[1], 1e-5f);
        float[] contrast = DomainShift.CONTRAST.apply(one, 0).pixels();
        assertEquals(0.8f, contrast[1], 1e-6f);
        assertEquals(0.3f, contrast[0], 1e-6f);
        assertEquals(0f, DomainShift.INVERTED.apply(one, 0).pixels()[1], 1e-6f);
        assertEquals(7, DomainShift.NOISE.apply(one, 0).labels()[0], "labels stay");
    }

    @Test
    void accelerateCommandWritesItsFiles(@TempDir Path out) throws IOException {
        run(new Accelerate(), "--steps", "30", "--eval-every", "15", "--data", "data/mnist", "--out", out.toString());
        assertWritten(out, "accelerate.csv", "accelerate.png", "report.md");
        assertTrue(Files.readString(out.resolve("report.md")).contains("| BN lr x30 |"));
    }

    @Test
    void cnnMnistCommandWritesItsFiles(@TempDir Path out) throws IOException {
        run(new CnnMnist(), "--epochs", "1", "--train-limit", "256", "--test-limit", "500", "--data", "data/mnist", "--out", out.toString());
        assertWritten(out, "cnn-mnist.png", "report.md");
        List<String> csv = Files.readAllLines(out.resolve("cnn-mnist.csv"));
        assertEquals(List.of("variant", "epoch", "test_accuracy", "seconds"), List.of(csv.get(0).split(",")));
        assertEquals(3, csv.size(), "one row per variant and epoch");
        double accuracy = Double.parseDouble(csv.get(1).split(",")[2]);
        assertTrue(accuracy > 0.3 && accuracy <= 1, "256 images give better than chance: " + accuracy);
    }

    @Test
    void smallBatchCommandWritesItsFiles(@TempDir Path out) throws IOException {
        run(new SmallBatch(), "--examples", "240", "--batch-sizes", "4,60", "--probe", "120", "--data", "data/mnist", "--out", out.toString());
        assertWritten(out, "small-batch.csv", "small-batch.png", "report.md");
        List<String> csv = Files.readAllLines(out.resolve("small-batch.csv"));
        assertEquals(1 + 3 + 4 + 4, csv.size(), "batch 4: three variants (no ghost batches); batch 60 and 2 classes: four");
        String report = Files.readString(out.resolve("report.md"));
        assertTrue(report.contains("| 2 classes per batch | 60 | Batch Renorm |"), report);
        assertTrue(report.contains("## The Batch Renormalization paper's claims, checked"), report);
        for (String row : csv.subList(1, csv.size())) {
            String[] f = row.split(",");
            double test = Double.parseDouble(f[4]);
            assertTrue(test > 0.05 && test <= 1, row);
            if (f[1].equals("NONE")) {
                assertEquals(0.0, Double.parseDouble(f[7]), 1e-9, "no normalization: training and inference mode agree: " + row);
            }
        }
    }
}
