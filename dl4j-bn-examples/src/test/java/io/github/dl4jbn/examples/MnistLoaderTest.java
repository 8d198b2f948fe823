package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistFormatException;
import io.github.dl4jbn.examples.mnist.MnistIterator;
import io.github.dl4jbn.examples.mnist.MnistLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.DataSet;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The MNIST loader on the shipped files and on every kind of broken file. */
class MnistLoaderTest {

    @Test
    void shippedFilesAreTheOfficialMnist() throws IOException {
        MnistLoader loader = new MnistLoader(Path.of("data/mnist"), true);
        MnistData train = loader.train();
        MnistData test = loader.test();
        assertEquals(60_000, train.count());
        assertEquals(10_000, test.count());
        assertEquals(28, train.rows());
        assertEquals(5, train.labels()[0], "the first training digit is a 5");
        assertEquals(7, test.labels()[0], "the first test digit is a 7");
        int[] counts = new int[10];
        for (byte label : test.labels()) {
            counts[label]++;
        }
        assertArrayEquals(new int[]{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, counts, "test digits per class");
        float max = 0;
        for (float p : train.pixels()) {
            max = Math.max(max, p);
        }
        assertEquals(1f, max, "pixels scaled to [0, 1]");
    }

    @Test
    void iteratorGivesTheSameOrderForTheSameSeedAndReshufflesPerEpoch() throws IOException {
        MnistData test = new MnistLoader(Path.of("data/mnist"), true).test().head(600);
        MnistIterator a = new MnistIterator(test, 60, 7, true);
        MnistIterator b = new MnistIterator(test, 60, 7, true);
        DataSet first = a.next();
        assertEquals(first.getFeatures(), b.next().getFeatures());
        assertArrayEquals(new long[]{60, 784}, first.getFeatures().shape());
        assertEquals(60.0, first.getLabels().sumNumber().doubleValue(), "one-hot labels");
        int batches = 1;
        while (a.hasNext()) {
            a.next();
            batches++;
        }
        assertEquals(10, batches);
        a.reset();
        assertNotEquals(first.getFeatures(), a.next().getFeatures(), "a new epoch has a new order");
        assertArrayEquals(new long[]{5, 28, 28, 1}, new MnistIterator(test, 5, 1, false, 28, 28, 1).next().getFeatures().shape());
    }

    private static byte[] images(int magic, int count, int rows, int cols, int pixelBytes) {
        ByteBuffer b = ByteBuffer.allocate(16 + pixelBytes);
        b.putInt(magic).putInt(count).putInt(rows).putInt(cols);
        return b.array();
    }

    private static byte[] labels(int magic, int count, int labelBytes) {
        ByteBuffer b = ByteBuffer.allocate(8 + labelBytes);
        b.putInt(magic).putInt(count);
        return b.array();
    }

    private static Path write(Path dir, byte[] images, byte[] labels) throws IOException {
        Files.write(dir.resolve("t10k-images-idx3-ubyte"), images);
        Files.write(dir.resolve("t10k-labels-idx1-ubyte"), labels);
        return dir;
    }

    private static String failure(Path dir, boolean verify) {
        MnistFormatException e = assertThrows(MnistFormatException.class, () -> new MnistLoader(dir, verify).test());
        return e.getMessage();
    }

    @Test
    void validSmallFilesLoadWithoutChecksum(@TempDir Path dir) throws IOException {
        write(dir, images(0x803, 3, 2, 2, 12), labels(0x801, 3, 3));
        MnistData d = new MnistLoader(dir, false).test();
        assertEquals(3, d.count());
        String msg = failure(dir, true);
        assertTrue(msg.contains("t10k-images-idx3-ubyte") && msg.contains("checksum mismatch"), msg);
    }

    @Test
    void missingFileIsNamed(@TempDir Path dir) {
        String msg = failure(dir, false);
        assertTrue(msg.contains("t10k-images-idx3-ubyte") && msg.contains("missing"), msg);
    }

    @Test
    void wrongMagicNumber(@TempDir Path dir) throws IOException {
        write(dir, images(0x801, 3, 2, 2, 12), labels(0x801, 3, 3));
        String msg = failure(dir, false);
        assertTrue(msg.contains("t10k-images-idx3-ubyte") && msg.contains("wrong magic number 0x801"), msg);
    }

    @Test
    void truncatedImages(@TempDir Path dir) throws IOException {
        write(dir, images(0x803, 3, 2, 2, 11), labels(0x801, 3, 3));
        String msg = failure(dir, false);
        assertTrue(msg.contains("t10k-images-idx3-ubyte") && msg.contains("truncated") && msg.contains("3 images"), msg);
    }

    @Test
    void headerClaimingMoreImagesThanTheFileHoldsIsRejectedBeforeAllocating(@TempDir Path dir) throws IOException {
        write(dir, images(0x803, 1 << 30, 28, 28, 784), labels(0x801, 1, 1));   // would be 842 GB
        String msg = failure(dir, false);
        assertTrue(msg.contains("truncated") && msg.contains("1073741824 images"), msg);
    }

    @Test
    void shortHeader(@TempDir Path dir) throws IOException {
        write(dir, new byte[]{0, 0, 8}, labels(0x801, 1, 1));
        String msg = failure(dir, false);
        assertTrue(msg.contains("shorter than the 16-byte idx header"), msg);
    }

    @Test
    void labelImageCountMismatch(@TempDir Path dir) throws IOException {
        write(dir, images(0x803, 3, 2, 2, 12), labels(0x801, 2, 2));
        String msg = failure(dir, false);
        assertTrue(msg.contains("t10k-labels-idx1-ubyte") && msg.contains("2 labels for 3 images"), msg);
    }

    @Test
    void truncatedLabels(@TempDir Path dir) throws IOException {
        write(dir, images(0x803, 3, 2, 2, 12), labels(0x801, 3, 2));
        String msg = failure(dir, false);
        assertTrue(msg.contains("t10k-labels-idx1-ubyte") && msg.contains("truncated"), msg);
    }

    @Test
    void corruptGzip(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve("t10k-images-idx3-ubyte.gz"), new byte[]{0x1f, (byte) 0x8b, 8, 0, 1, 2, 3});
        Files.write(dir.resolve("t10k-labels-idx1-ubyte"), labels(0x801, 1, 1));
        String msg = failure(dir, false);
        assertTrue(msg.contains("t10k-images-idx3-ubyte.gz") && msg.contains("corrupt gzip"), msg);
    }

    @Test
    void gzipAndPlainFilesAreEquivalent(@TempDir Path dir) throws IOException {
        byte[] img = images(0x803, 2, 1, 2, 4);
        img[16] = (byte) 255;
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(dir.resolve("t10k-images-idx3-ubyte.gz")))) {
            out.write(img);
        }
        Files.write(dir.resolve("t10k-labels-idx1-ubyte"), labels(0x801, 2, 2));
        MnistData d = new MnistLoader(dir, false).test();
        assertEquals(1f, d.pixels()[0]);
        assertEquals(0f, d.pixels()[1]);
    }
}
