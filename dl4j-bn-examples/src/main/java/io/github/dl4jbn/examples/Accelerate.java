package io.github.dl4jbn.examples;

import io.github.dl4jbn.examples.mnist.MnistData;
import io.github.dl4jbn.examples.mnist.MnistIterator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Section 4.2.1, "accelerating BN networks", on the paper's MNIST network: BatchNorm at the base learning rate
 * times 1, 5 and 30 against no normalization at times 1 and 5.
 */
@Command(name = "accelerate", mixinStandardHelpOptions = true,
        description = "Section 4.2.1: higher learning rates with BatchNorm (x1, x5, x30) against none (x1, x5).")
public class Accelerate extends ExperimentCommand {

    @Option(names = "--steps", defaultValue = "5000", description = "Steps per run. Default: ${DEFAULT-VALUE} (about 3 minutes for the five runs on 2 cores).")
    int steps;

    @Option(names = "--eval-every", defaultValue = "100", description = "Measure test accuracy every N steps. Default: ${DEFAULT-VALUE}.")
    int every;

    @Option(names = "--base-lr", defaultValue = "0.1", description = "Base SGD learning rate. Default: ${DEFAULT-VALUE}.")
    double baseLr;

    @Option(names = "--init-std", defaultValue = "1.0", description = "Standard deviation of the Gaussian weights. Default: ${DEFAULT-VALUE}.")
    double initStd;




    /** One run: variant and learning-rate multiple. */
    record Setting(Variant variant, int multiple) {
        String name() {
            return (variant == Variant.NONE ? "no BN" : "BN") + " lr x" + multiple;
        }
    }

    static final List<Setting> SETTINGS = List.of(new Setting(Variant.BATCHNORM, 1), new Setting(Variant.BATCHNORM, 5),
            new Setting(Variant.BATCHNORM, 30), new Setting(Variant.NONE, 1), new Setting(Variant.NONE, 5));

    @Override
    Integer run() throws IOException {
        Files.createDirectories(out);
        MnistData train = data.loader().train();
        Map<String, org.nd4j.linalg.dataset.DataSet> test = Map.of("test", MnistIterator.all(data.loader().test()));
        List<Training.Curve> curves = new ArrayList<>();
        for (Setting s : SETTINGS) {
            curves.add(Training.train(s.name(), PaperNetwork.build(s.variant(), baseLr * s.multiple(), initStd, seed),
                    train, 60, seed, steps, every, test));
        }
        Training.writeCsv(out.resolve("accelerate.csv"), curves);
        Training.chart(out.resolve("accelerate.png"), "Section 4.2.1: learning rate multiples, base " + baseLr, curves,
                List.of("test"), 0.8);
        StringBuilder md = new StringBuilder("# accelerate report\n\n");
        md.append(String.format(Locale.ROOT, "The paper's MNIST network (784-100-100-100-10 sigmoid, weights N(0, %s), batch 60, "
                + "plain SGD), base learning rate %s, %d steps per run, test accuracy every %d steps. %s%n%n",
                initStd, baseLr, steps, every, Training.machine()));
        md.append("| run | learning rate | steps to 95% | steps to 97% | final test accuracy |\n|---|---:|---:|---:|---:|\n");
        for (int i = 0; i < SETTINGS.size(); i++) {
            Training.Curve c = curves.get(i);
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %.4f |%n", c.name(), baseLr * SETTINGS.get(i).multiple(),
                    Training.reached(c.stepsTo("test", 0.95)), Training.reached(c.stepsTo("test", 0.97)), c.last("test")));
        }
        md.append("\n![curves](accelerate.png)\n\n");
        md.append(OTHER_TRICKS);
        Files.writeString(out.resolve("report.md"), md.toString());
        System.out.println("accelerate: wrote " + out.toAbsolutePath() + "/{accelerate.csv, accelerate.png, report.md}");
        return 0;
    }

    static final String OTHER_TRICKS = """
            ## The other changes of Section 4.2.1

            Raising the learning rate is the first of seven changes the paper makes to exploit BN on ImageNet:

            - **Remove dropout.** BN already regularizes (each example is normalized with a random set of
              companions), and without dropout the network trains faster.
            - **Reduce the L2 weight regularization** by a factor of 5: it improved validation accuracy.
            - **Accelerate the learning-rate decay** 6 times: a BN network trains faster, so it should reach the
              small learning rates sooner.
            - **Remove Local Response Normalization**, which BN makes unnecessary.
            - **Shuffle training examples more thoroughly**, within shards, so the same examples do not keep
              appearing in a mini-batch together (about 1% better validation accuracy): the noise of the batch
              statistics acts as regularization only if the companions vary.
            - **Reduce the photometric distortions**: the ImageNet colour and brightness augmentation is cut back,
              because a BN network trains in fewer passes over the data and should see the real images more.
            """;
}
