package io.github.dl4jbn.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** JMH's CSV result file, one row per benchmark and parameter set, read by column name. */
final class JmhCsv {

    /** One result: the benchmark method (after the last dot), its score, and its parameters by name. */
    record Row(String method, double score, Map<String, String> params) {
        String param(String name) {
            return params.get(name);
        }
    }

    private JmhCsv() {
    }

    static List<Row> read(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file);
        List<String> header = parse(lines.get(0));
        int bench = header.indexOf("Benchmark");
        int score = header.indexOf("Score");
        List<Row> rows = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) {
            if (line.isBlank()) {
                continue;
            }
            List<String> f = parse(line);
            Map<String, String> params = new HashMap<>();
            for (int i = 0; i < header.size(); i++) {
                if (header.get(i).startsWith("Param: ")) {
                    params.put(header.get(i).substring("Param: ".length()), f.get(i));
                }
            }
            String name = f.get(bench);
            rows.add(new Row(name.substring(name.lastIndexOf('.') + 1), Double.parseDouble(f.get(score)), params));
        }
        return rows;
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
