package io.github.dl4jbn.examples.mnist;

import org.deeplearning4j.common.resources.DL4JResources;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Finds, reads and verifies the four MNIST idx files. Sources, in order: an explicit directory, DL4J's own
 * resources directory ({@code DL4JResources.getBaseDirectory()}, where DL4J's MnistDataSetIterator keeps them),
 * then the copy shipped on the classpath under {@code /mnist}. Each file may be plain or gzip-compressed
 * ({@code .gz}). Every header is checked against the bytes actually present before anything is allocated from
 * it, and the MD5 of the uncompressed bytes against the official files.
 */
public final class MnistLoader {

    private static final Logger log = LoggerFactory.getLogger(MnistLoader.class);
    private static final int IMAGES_MAGIC = 0x00000803;
    private static final int LABELS_MAGIC = 0x00000801;

    /** MD5 of the official uncompressed files. */
    static final Map<String, String> MD5 = Map.of(
            "train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637");

    private final Path explicitDirectory;
    private final boolean verifyChecksums;

    /**
     * @param explicitDirectory a directory holding the four files, or null to search DL4J's directory and the
     *                          shipped copy
     * @param verifyChecksums   compare each file's MD5 with the official one (turn off for other idx data sets)
     */
    public MnistLoader(Path explicitDirectory, boolean verifyChecksums) {
        this.explicitDirectory = explicitDirectory;
        this.verifyChecksums = verifyChecksums;
    }

    /** A loader of the official files from the usual places, with checksums verified. */
    public static MnistLoader standard() {
        return new MnistLoader(null, true);
    }

    /** @return the 60,000 training images */
    public MnistData train() throws IOException {
        return load("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
    }

    /** @return the 10,000 test images */
    public MnistData test() throws IOException {
        return load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
    }

    private MnistData load(String imagesName, String labelsName) throws IOException {
        Source images = open(imagesName);
        Source labels = open(labelsName);
        ByteBuffer img = header(images, IMAGES_MAGIC, 16);
        int count = img.getInt(4);
        int rows = img.getInt(8);
        int cols = img.getInt(12);
        if (count < 0 || rows <= 0 || cols <= 0) {
            throw new MnistFormatException(images.name + ": header claims " + count + " images of " + rows + "x" + cols);
        }
        long expected = 16L + (long) count * rows * cols;
        if (images.bytes.length < expected) {
            throw new MnistFormatException(images.name + ": truncated, header claims " + count + " images of " + rows
                    + "x" + cols + " (" + expected + " bytes) but the file holds " + images.bytes.length + " bytes");
        }
        ByteBuffer lab = header(labels, LABELS_MAGIC, 8);
        int labelCount = lab.getInt(4);
        if (labelCount < 0 || labels.bytes.length < 8L + labelCount) {
            throw new MnistFormatException(labels.name + ": truncated, header claims " + labelCount
                    + " labels but the file holds " + (labels.bytes.length - 8) + " bytes of labels");
        }
        if (labelCount != count) {
            throw new MnistFormatException(labels.name + ": " + labelCount + " labels for " + count + " images in " + images.name);
        }
        float[] pixels = new float[count * rows * cols];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (images.bytes[16 + i] & 0xff) / 255f;
        }
        byte[] digits = new byte[count];
        for (int i = 0; i < count; i++) {
            digits[i] = labels.bytes[8 + i];
            if (digits[i] < 0 || digits[i] > 9) {
                throw new MnistFormatException(labels.name + ": label " + digits[i] + " at index " + i + " is not a digit");
            }
        }
        log.debug("loaded {} images of {}x{} from {}", count, rows, cols, images.name);
        return new MnistData(pixels, digits, rows, cols);
    }

    private static ByteBuffer header(Source s, int magic, int headerBytes) throws MnistFormatException {
        if (s.bytes.length < headerBytes) {
            throw new MnistFormatException(s.name + ": truncated, " + s.bytes.length + " bytes is shorter than the "
                    + headerBytes + "-byte idx header");
        }
        ByteBuffer b = ByteBuffer.wrap(s.bytes);                    // idx is big-endian, ByteBuffer's default
        if (b.getInt(0) != magic) {
            throw new MnistFormatException(s.name + ": wrong magic number 0x" + Integer.toHexString(b.getInt(0))
                    + ", expected 0x" + String.format("%08x", magic) + " (" + (magic == IMAGES_MAGIC ? "images" : "labels") + ")");
        }
        return b;
    }

    /** One file's uncompressed bytes and where they came from. */
    private record Source(String name, byte[] bytes) {
    }

    private Source open(String name) throws IOException {
        Source s;
        if (explicitDirectory != null) {
            s = fromDirectory(explicitDirectory, name);
            if (s == null) {
                throw new MnistFormatException(explicitDirectory.resolve(name) + ": missing (neither " + name + " nor "
                        + name + ".gz exists in " + explicitDirectory + ")");
            }
        } else {
            s = fromDirectory(DL4JResources.getBaseDirectory().toPath(), name);
            if (s == null) {
                s = fromClasspath(name);
            }
            if (s == null) {
                throw new MnistFormatException(name + ": missing from " + DL4JResources.getBaseDirectory()
                        + " and from the shipped copy (classpath /mnist/" + name + ".gz)");
            }
        }
        if (verifyChecksums && MD5.containsKey(name)) {
            String actual = md5(s.bytes);
            if (!MD5.get(name).equals(actual)) {
                throw new MnistFormatException(s.name + ": checksum mismatch, MD5 of the uncompressed file is " + actual
                        + ", the official " + name + " has " + MD5.get(name));
            }
        }
        return s;
    }

    private static Source fromDirectory(Path dir, String name) throws IOException {
        Path plain = dir.resolve(name);
        if (Files.isRegularFile(plain)) {
            return new Source(plain.toString(), Files.readAllBytes(plain));
        }
        Path gz = dir.resolve(name + ".gz");
        if (Files.isRegularFile(gz)) {
            try (InputStream in = Files.newInputStream(gz)) {
                return new Source(gz.toString(), gunzip(in, gz.toString()));
            }
        }
        return null;
    }

    private static Source fromClasspath(String name) throws IOException {
        String resource = "/mnist/" + name + ".gz";
        try (InputStream in = MnistLoader.class.getResourceAsStream(resource)) {
            return in == null ? null : new Source("classpath:" + resource, gunzip(in, "classpath:" + resource));
        }
    }

    private static byte[] gunzip(InputStream in, String name) throws MnistFormatException {
        try (GZIPInputStream gz = new GZIPInputStream(in, 1 << 16)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream(1 << 20);
            gz.transferTo(out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new MnistFormatException(name + ": corrupt gzip data (" + e.getMessage() + ")");
        }
    }

    private static String md5(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
