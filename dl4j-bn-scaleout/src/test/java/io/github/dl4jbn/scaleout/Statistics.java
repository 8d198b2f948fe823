package io.github.dl4jbn.scaleout;

import io.github.dl4jbn.PopulationStatistics;
import io.github.dl4jbn.layers.BatchNormLayer;
import io.github.dl4jbn.params.BatchNormParamInitializer;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.List;

/**
 * Running statistics of a network's normalization layers and how far they are from a reference, in units a reader
 * can judge: mean error in standard deviations of the feature, variance error as a ratio.
 */
final class Statistics {

    /** Per normalization layer (in network order): running mean and variance. */
    final List<double[]> means = new ArrayList<>();
    final List<double[]> vars = new ArrayList<>();

    private Statistics() {
    }

    /** The running statistics of every layer of ours ("mean"/"var") or of DL4J's (useLogStd(false)). */
    static Statistics of(MultiLayerNetwork net) {
        Statistics s = new Statistics();
        for (Layer l : net.getLayers()) {
            boolean ours = l instanceof BatchNormLayer;
            boolean builtIn = l instanceof org.deeplearning4j.nn.layers.normalization.BatchNormalization;
            if (ours || builtIn) {
                s.means.add(l.getParam(BatchNormParamInitializer.MEAN).dup().data().asDouble());
                s.vars.add(l.getParam(BatchNormParamInitializer.VAR).dup().data().asDouble());
            }
        }
        return s;
    }

    /**
     * Algorithm 2's population statistics of the trained network itself, computed on a copy with
     * {@link PopulationStatistics#estimate} over every training batch: the reference running statistics should
     * approach.
     */
    static Statistics population(MultiLayerNetwork net, List<DataSet> training) {
        MultiLayerNetwork copy = net.clone();
        PopulationStatistics.estimate(copy, new ExistingDataSetIterator(training));
        return of(copy);
    }

    /**
     * The training data's own per-feature mean and unbiased variance, in double, by hand: the population
     * statistics of an input BatchNorm, whatever the training did.
     */
    static Statistics ofData(List<DataSet> training) {
        double[] sum = new double[Blobs.FEATURES];
        double[] sumSq = new double[Blobs.FEATURES];
        long n = 0;
        for (DataSet d : training) {
            double[] x = d.getFeatures().dup().data().asDouble();
            for (int i = 0; i < x.length; i++) {
                sum[i % Blobs.FEATURES] += x[i];
            }
            n += d.numExamples();
        }
        double[] mean = new double[Blobs.FEATURES];
        for (int f = 0; f < mean.length; f++) {
            mean[f] = sum[f] / n;
        }
        for (DataSet d : training) {
            double[] x = d.getFeatures().dup().data().asDouble();
            for (int i = 0; i < x.length; i++) {
                double centred = x[i] - mean[i % Blobs.FEATURES];
                sumSq[i % Blobs.FEATURES] += centred * centred;
            }
        }
        Statistics s = new Statistics();
        double[] var = new double[Blobs.FEATURES];
        for (int f = 0; f < var.length; f++) {
            var[f] = sumSq[f] / (n - 1);
        }
        s.means.add(mean);
        s.vars.add(var);
        return s;
    }

    /** Largest |mean - reference mean| / reference std over the channels of layer {@code layer}. */
    double meanError(Statistics reference, int layer) {
        double worst = 0;
        double[] m = means.get(layer);
        for (int c = 0; c < m.length; c++) {
            double sd = Math.sqrt(reference.vars.get(layer)[c]);
            worst = Math.max(worst, Math.abs(m[c] - reference.means.get(layer)[c]) / sd);
        }
        return worst;
    }

    /** Largest |var / reference var - 1| over the channels of layer {@code layer}. */
    double varError(Statistics reference, int layer) {
        double worst = 0;
        double[] v = vars.get(layer);
        for (int c = 0; c < v.length; c++) {
            worst = Math.max(worst, Math.abs(v[c] / reference.vars.get(layer)[c] - 1));
        }
        return worst;
    }

    int layers() {
        return means.size();
    }
}
