package io.github.dl4jbn.scaleout;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.spark.impl.repartitioner.DefaultRepartitioner;
import org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;
import org.nd4j.parameterserver.distributed.v2.ModelParameterServer;

/** Spark in local[2] and DL4J's parameter server, both bound to loopback only. */
final class LocalSpark {

    private LocalSpark() {
    }

    /** A local[2] context on 127.0.0.1 with no web UI; close it to stop everything it started. */
    static JavaSparkContext context() {
        SparkConf conf = new SparkConf().setMaster("local[2]").setAppName("dl4j-bn-scaleout")
                .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
                .set("spark.ui.enabled", "false");
        return new JavaSparkContext(conf);
    }

    /**
     * Gradient sharing on loopback, two training workers (so there is someone to share with), mini-batches of
     * {@link Blobs#BATCH}, one partition per core. DL4J's default repartitioner makes one Spark task per
     * mini-batch (750 here), and its shared training wrapper has been seen to hang when a late task finds the
     * master task already finished (a thread parked in BlockingObserver.waitTillDone); two long tasks avoid it.
     */
    static SharedTrainingMaster sharedTrainingMaster() {
        VoidConfiguration loopback = VoidConfiguration.builder().unicastPort(40123).networkMask("127.0.0.0/8")
                .controllerAddress("127.0.0.1").build();
        return new SharedTrainingMaster.Builder(loopback, Blobs.BATCH).batchSizePerWorker(Blobs.BATCH)
                .workersPerNode(2).repartitioner(new DefaultRepartitioner(2)).build();
    }

    /**
     * Stops DL4J's parameter server and with it the embedded Aeron media driver, whose directory in /dev/shm
     * goes with it (-Daeron.dir.delete.on.shutdown); left to the JVM's shutdown hooks it was sometimes left behind.
     */
    static void stopParameterServer() {
        ModelParameterServer.getInstance().shutdown();
    }
}
