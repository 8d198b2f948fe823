package io.github.dl4jbn.scaleout;

import io.github.dl4jbn.Compare;
import io.github.dl4jbn.Nets;
import io.github.dl4jbn.PopulationStatistics;
import io.github.dl4jbn.conf.BatchNorm;
import io.github.dl4jbn.spark.SparkPopulationStatistics;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;

/**
 * Algorithm 2's population pass over masked sequences on Spark local[2] gives what the local pass gives (to
 * 1e-12): padded steps left out on the executors as in one process, for a MultiLayerNetwork and a
 * ComputationGraph (whose replicas pass the features mask too). The local pass itself is checked against a
 * hand computation in core's MaskedSequenceTest.
 */
class SparkMaskedPopulationTest {

    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(7)
                .list()
                .layer(new BatchNorm.Builder().build())
                .layer(new LSTM.Builder().nOut(4).build())
                .layer(new BatchNorm.Builder().build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(3, 6, RNNFormat.NCW)).build());
        net.init();
        return net;
    }

    private static ComputationGraph graph() {
        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(7)
                .graphBuilder().addInputs("in")
                .addLayer("bn0", new BatchNorm.Builder().build(), "in")
                .addLayer("lstm", new LSTM.Builder().nOut(4).build(), "bn0")
                .addLayer("bn1", new BatchNorm.Builder().build(), "lstm")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2)
                        .activation(Activation.IDENTITY).build(), "bn1")
                .setOutputs("out").setInputTypes(InputType.recurrent(3, 6, RNNFormat.NCW)).build());
        graph.init();
        return graph;
    }

    @Test
    void theDistributedPassLeavesOutPaddedStepsAsTheLocalOneDoes() {
        List<DataSet> data = Nets.maskedSequences(8, 60);
        MultiLayerNetwork local = network();
        PopulationStatistics.estimate(local, new ExistingDataSetIterator(data));
        ComputationGraph localGraph = graph();
        PopulationStatistics.estimate(localGraph, new ExistingDataSetIterator(data));
        try (JavaSparkContext sc = LocalSpark.context()) {
            ParameterAveragingTrainingMaster tm = new ParameterAveragingTrainingMaster.Builder(4).build();
            SparkDl4jMultiLayer spark = new SparkDl4jMultiLayer(sc, network(), tm);
            SparkPopulationStatistics.estimate(spark, sc.parallelize(data, 2));
            SparkComputationGraph sparkGraph = new SparkComputationGraph(sc, graph(), tm);
            SparkPopulationStatistics.estimate(sparkGraph, sc.parallelize(data, 2));
            for (int l : new int[]{0, 2}) {
                for (String key : new String[]{"mean", "var"}) {
                    Compare.assertClose(local.getLayer(l).getParam(key).data().asDouble(),
                            spark.getNetwork().getLayer(l).getParam(key).data().asDouble(), 1e-12, 1e-12,
                            "MultiLayerNetwork layer " + l + " " + key);
                    Compare.assertClose(localGraph.getLayer(l == 0 ? "bn0" : "bn1").getParam(key).data().asDouble(),
                            sparkGraph.getNetwork().getLayer(l == 0 ? "bn0" : "bn1").getParam(key).data().asDouble(),
                            1e-12, 1e-12, "ComputationGraph bn" + (l / 2) + " " + key);
                }
            }
        }
    }
}
