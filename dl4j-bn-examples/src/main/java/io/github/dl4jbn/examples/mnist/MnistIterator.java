package io.github.dl4jbn.examples.mnist;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;

/**
 * A DL4J {@link DataSetIterator} over an in-memory {@link MnistData} split: features {@code [mb, 784]} (or any
 * shape of the same size, such as {@code [mb, 28, 28, 1]}), one-hot labels {@code [mb, 10]}. With shuffling,
 * each epoch visits the examples in a new order drawn from {@code seed} and the epoch number, so two iterators
 * with the same seed give the same data order. A final partial batch is dropped so every batch has {@code batch}
 * examples.
 */
public class MnistIterator implements DataSetIterator {

    private final MnistData data;
    private final int batch;
    private final long seed;
    private final boolean shuffle;
    private final long[] featureShape;
    private final int[] order;
    private int epoch;
    private int cursor;
    private DataSetPreProcessor preProcessor;

    /**
     * @param data         the split
     * @param batch        examples per mini-batch
     * @param seed         seed of the shuffling
     * @param shuffle      reshuffle at every epoch
     * @param featureShape per-example feature shape, for example {@code {784}} or {@code {28, 28, 1}}
     */
    public MnistIterator(MnistData data, int batch, long seed, boolean shuffle, long... featureShape) {
        this.data = data;
        this.batch = batch;
        this.seed = seed;
        this.shuffle = shuffle;
        this.featureShape = featureShape.length == 0 ? new long[]{data.imageSize()} : featureShape;
        this.order = new int[data.count()];
        shuffleOrder();
    }

    private void shuffleOrder() {
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        if (shuffle) {
            Random r = new Random(seed * 1_000_003L + epoch);
            for (int i = order.length - 1; i > 0; i--) {               // Fisher-Yates
                int j = r.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
    }

    @Override
    public DataSet next(int num) {
        if (cursor + num > order.length) {
            throw new NoSuchElementException("MNIST iterator: " + (order.length - cursor) + " examples left, asked for " + num);
        }
        DataSet ds = examples(data, java.util.Arrays.copyOfRange(order, cursor, cursor + num), featureShape);
        cursor += num;
        if (preProcessor != null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    @Override
    public boolean hasNext() {
        return cursor + batch <= order.length;
    }

    @Override
    public DataSet next() {
        return next(batch);
    }

    @Override
    public int inputColumns() {
        return data.imageSize();
    }

    @Override
    public int totalOutcomes() {
        return 10;
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    @Override
    public boolean asyncSupported() {
        return true;
    }

    /** Starts the next epoch, in a new order when shuffling. */
    @Override
    public void reset() {
        cursor = 0;
        epoch++;
        shuffleOrder();
    }

    @Override
    public int batch() {
        return batch;
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        return List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
    }

    /**
     * The whole split as one DataSet (for evaluation), in file order.
     *
     * @param data         the split
     * @param featureShape per-example feature shape
     * @return features and one-hot labels of every example
     */
    public static DataSet all(MnistData data, long... featureShape) {
        MnistIterator it = new MnistIterator(data, data.count(), 0, false, featureShape);
        return it.next();
    }

    /**
     * Chosen examples, in the given order.
     *
     * @param data         the split
     * @param indices      the examples
     * @param featureShape per-example feature shape (empty: {@code [784]})
     * @return their features and one-hot labels
     */
    public static DataSet examples(MnistData data, int[] indices, long... featureShape) {
        int size = data.imageSize();
        int num = indices.length;
        float[] x = new float[num * size];
        float[] y = new float[num * 10];
        for (int i = 0; i < num; i++) {
            System.arraycopy(data.pixels(), indices[i] * size, x, i * size, size);
            y[i * 10 + data.labels()[indices[i]]] = 1f;
        }
        long[] perExample = featureShape.length == 0 ? new long[]{size} : featureShape;
        long[] shape = new long[perExample.length + 1];
        shape[0] = num;
        System.arraycopy(perExample, 0, shape, 1, perExample.length);
        return new DataSet(Nd4j.createFromArray(x).reshape(shape), Nd4j.createFromArray(y).reshape(num, 10).castTo(DataType.FLOAT));
    }
}
