package io.github.dl4jbn.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns JMH's CSV output of {@link BatchNormBenchmark} into a Markdown table: the time of each contender and
 * the ratios that matter (for "ours", the Vector API kernels), all from the same run. The memory bound of a mode is the bytes an ideal fused kernel
 * moves per element (inference 8, training forward 12, forward+backward 32) at the bandwidth of the copy,
 * which moves 8 bytes per element (read and write). The API floor is what any layer call costs through DL4J's
 * API with no math at all (see {@link BatchNormBenchmark}).
 */
public final class BenchTable {

    private BenchTable() {
    }

    /**
     * @param args the JMH CSV file
     */
    public static void main(String[] args) throws IOException {
        List<String> lines = Files.readAllLines(Path.of(args[0]));
        List<String> header = parse(lines.get(0));
        int bench = header.indexOf("Benchmark");
        int score = header.indexOf("Score");
        int contender = header.indexOf("Param: contender");
        int shape = header.indexOf("Param: shape");
        Map<String, Map<String, Double>> rows = new TreeMap<>();
        for (String line : lines.subList(1, lines.size())) {
            List<String> f = parse(line);
            String mode = f.get(bench).substring(f.get(bench).lastIndexOf('.') + 1);
            rows.computeIfAbsent(f.get(shape) + " " + mode, k -> new LinkedHashMap<>())
                    .put(f.get(contender), Double.parseDouble(f.get(score)));
        }
        System.out.println("| shape | mode | ours (us) | ours, plain Java (us) | built-in (us) | ND4J ops (us) | PyTorch (us) | copy (us) | API floor (us) | built-in / ours | ND4J / ours | ours / PyTorch | ours / memory bound |");
        System.out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (Map.Entry<String, Map<String, Double>> e : rows.entrySet()) {
            String[] key = e.getKey().split(" ");
            Map<String, Double> t = e.getValue();
            double bytes = key[1].equals("inference") ? 8 : key[1].equals("trainingForward") ? 12 : 32;
            double bound = t.getOrDefault("copy", Double.NaN) * bytes / 8;
            double ours = t.getOrDefault("ours", Double.NaN);
            Double torch = t.get("pytorch");
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", key[0], key[1],
                    num(ours, "%.1f"), num(t.get("ours-heap"), "%.1f"), num(t.get("builtin"), "%.1f"), num(t.get("nd4j"), "%.1f"), num(torch, "%.1f"),
                    num(t.get("copy"), "%.1f"), num(t.get("api-floor"), "%.1f"), ratio(t.get("builtin"), ours), ratio(t.get("nd4j"), ours),
                    torch == null ? "n/a" : num(ours / torch, "%.2f"), num(ours / bound, "%.2f"));
        }
    }

    /** A number, or "n/a" where the contender failed or did not run. */
    private static String num(Double v, String format) {
        return v == null || v.isNaN() ? "n/a" : String.format(Locale.ROOT, format, v);
    }

    private static String ratio(Double other, double ours) {
        return other == null || other.isNaN() ? "n/a" : String.format(Locale.ROOT, "%.1fx", other / ours);
    }

    private static List<String> parse(String line) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (char ch : line.toCharArray()) {
            if (ch == '"') {
                quoted = !quoted;
            } else if (ch == ',' && !quoted) {
                out.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(ch);
            }
        }
        out.add(cur.toString());
        return out;
    }
}
