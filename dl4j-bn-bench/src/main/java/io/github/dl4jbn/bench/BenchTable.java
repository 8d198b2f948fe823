package io.github.dl4jbn.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns JMH's CSV output into Markdown tables, every ratio from one run.
 *
 * <ul>
 *   <li>{@code BenchTable jdk17.csv [jdk25.csv]}: {@link BatchNormBenchmark}, each contender's time and the
 *       ratios that matter; with a second run on JDK 25 (ours and the copy only), its column and the ratio to
 *       JDK 17's beside them. The memory bound of a mode is the bytes an ideal fused kernel moves per element
 *       (inference 8, training forward 12, forward+backward 32) at the bandwidth of the copy, which moves 8.</li>
 *   <li>{@code BenchTable --interleaved jdk17.csv [jdk25.csv]}: {@link InterleavedBenchmark}, the layer's
 *       forward+backward between ND4J's ops, default threads against one.</li>
 *   <li>{@code BenchTable --renorm renorm.csv}: {@link RenormBenchmark}, Batch Renormalization and ghost batches
 *       against plain BatchNorm.</li>
 * </ul>
 */
public final class BenchTable {

    private BenchTable() {
    }

    /**
     * @param args the CSV files, after {@code --interleaved} for the interleaved table
     * @throws IOException when a file cannot be read
     */
    public static void main(String[] args) throws IOException {
        if (args[0].equals("--renorm")) {
            renorm(JmhCsv.read(Path.of(args[1])));
        } else if (args[0].equals("--interleaved")) {
            interleaved(JmhCsv.read(Path.of(args[1])), args.length > 2 ? JmhCsv.read(Path.of(args[2])) : List.of());
        } else {
            perLayer(JmhCsv.read(Path.of(args[0])), args.length > 1 ? JmhCsv.read(Path.of(args[1])) : List.of());
        }
    }

    private static Map<String, Map<String, Double>> byCase(List<JmhCsv.Row> rows) {
        Map<String, Map<String, Double>> cases = new TreeMap<>();
        for (JmhCsv.Row r : rows) {
            cases.computeIfAbsent(r.param("shape") + " " + r.method(), k -> new LinkedHashMap<>())
                    .put(r.param("contender"), r.score());
        }
        return cases;
    }

    private static void perLayer(List<JmhCsv.Row> jdk17, List<JmhCsv.Row> jdk25) {
        Map<String, Map<String, Double>> cases = byCase(jdk17);
        Map<String, Map<String, Double>> later = byCase(jdk25);
        System.out.println("| shape | mode | ours, JDK 17 (us) | ours, JDK 25 (us) | JDK 25 / JDK 17 | ours, plain Java (us) "
                + "| built-in (us) | ND4J ops (us) | PyTorch (us) | copy (us) | API floor (us) | built-in / ours "
                + "| ND4J / ours | ours / PyTorch | ours / memory bound |");
        System.out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (Map.Entry<String, Map<String, Double>> e : cases.entrySet()) {
            String[] key = e.getKey().split(" ");
            Map<String, Double> t = e.getValue();
            double bytes = key[1].equals("inference") ? 8 : key[1].equals("trainingForward") ? 12 : 32;
            double bound = t.getOrDefault("copy", Double.NaN) * bytes / 8;
            double ours = t.getOrDefault("ours", Double.NaN);
            Double ours25 = later.getOrDefault(e.getKey(), Map.of()).get("ours");
            Double torch = t.get("pytorch");
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n",
                    key[0], key[1], num(ours), num(ours25), ours25 == null ? "n/a" : fixed(ours25 / ours),
                    num(t.get("ours-heap")), num(t.get("builtin")), num(t.get("nd4j")), num(torch), num(t.get("copy")),
                    num(t.get("api-floor")), times(t.get("builtin"), ours), times(t.get("nd4j"), ours),
                    torch == null ? "n/a" : fixed(ours / torch), fixed(ours / bound));
        }
    }

    private static void interleaved(List<JmhCsv.Row> jdk17, List<JmhCsv.Row> jdk25) {
        System.out.println("| shape | JDK | default threads (us) | 1 thread (us) | default / 1 thread |");
        System.out.println("|---|---|---:|---:|---:|");
        Map<String, List<JmhCsv.Row>> runs = new LinkedHashMap<>();
        runs.put("17", jdk17);
        runs.put("25", jdk25);
        Map<String, double[]> lines = new TreeMap<>();
        runs.forEach((jdk, rows) -> {
            Map<String, double[]> perCase = new TreeMap<>();       // nanos, calls
            for (JmhCsv.Row r : rows) {
                double[] nc = perCase.computeIfAbsent(r.param("shape") + " " + r.param("threads"), k -> new double[2]);
                if (r.method().endsWith(":layerNanos")) {
                    nc[0] = r.score();
                } else if (r.method().endsWith(":layerCalls")) {
                    nc[1] = r.score();
                }
            }
            perCase.forEach((k, nc) -> {
                String[] key = k.split(" ");
                double[] both = lines.computeIfAbsent(key[0] + " " + jdk, x -> new double[]{Double.NaN, Double.NaN});
                both[key[1].equals("1") ? 1 : 0] = nc[0] / nc[1] / 1e3;
            });
        });
        lines.forEach((k, both) -> {
            String[] key = k.split(" ");
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s |%n", key[0], key[1], num(both[0]), num(both[1]),
                    fixed(both[0] / both[1]));
        });
    }

    private static void renorm(List<JmhCsv.Row> rows) {
        Map<String, Map<String, Double>> byShape = new TreeMap<>();
        for (JmhCsv.Row r : rows) {
            byShape.computeIfAbsent(r.param("shape"), k -> new LinkedHashMap<>()).put(r.param("variant"), r.score());
        }
        System.out.println("| shape | BatchNorm (us) | Batch Renorm (us) | ghost batches (us) | renorm / BatchNorm | ghost / BatchNorm |");
        System.out.println("|---|---:|---:|---:|---:|---:|");
        byShape.forEach((shape, t) -> {
            double plain = t.getOrDefault("plain", Double.NaN);
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s |%n", shape, num(plain), num(t.get("renorm")),
                    num(t.get("ghost")), fixed(t.getOrDefault("renorm", Double.NaN) / plain),
                    fixed(t.getOrDefault("ghost", Double.NaN) / plain));
        });
    }

    /** A time, or "n/a" where the contender failed or did not run. */
    static String num(Double v) {
        return v == null || v.isNaN() ? "n/a" : String.format(Locale.ROOT, "%.1f", v);
    }

    private static String fixed(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.2f", v);
    }

    private static String times(Double other, double ours) {
        return other == null || other.isNaN() ? "n/a" : String.format(Locale.ROOT, "%.1fx", other / ours);
    }
}
