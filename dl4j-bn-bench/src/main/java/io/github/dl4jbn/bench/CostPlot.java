package io.github.dl4jbn.bench;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@link CostPerElementBenchmark}'s CSV as time per element against tensor size: a Markdown table on standard
 * output and a PNG with ours, the copy and the memory bound (4x the copy: forward+backward moves 32 bytes per
 * element, the copy 8) on the same axes.
 */
public final class CostPlot {

    private CostPlot() {
    }

    /** One size of one format: elements, and microseconds per call of ours and of the copy. */
    private record Point(long elements, double ours, double copy) {
        double bytes() {
            return 4.0 * elements;
        }
    }

    /**
     * @param args the JMH CSV file and the PNG to write
     * @throws IOException when a file cannot be read or written
     */
    public static void main(String[] args) throws IOException {
        Map<String, Map<Long, double[]>> byFormat = new TreeMap<>();
        for (JmhCsv.Row r : JmhCsv.read(Path.of(args[0]))) {
            long elements = 1;
            for (long d : CostPerElementBenchmark.shape(r.param("nchw"), r.param("format"))) {
                elements *= d;
            }
            double[] t = byFormat.computeIfAbsent(r.param("format"), k -> new TreeMap<>())
                    .computeIfAbsent(elements, k -> new double[]{Double.NaN, Double.NaN});
            t[r.param("contender").equals("copy") ? 1 : 0] = r.score();
        }
        XYChart chart = new XYChartBuilder().width(900).height(520)
                .title("Training forward+backward, FLOAT: time per element as the tensor grows")
                .xAxisTitle("tensor size (MB)").yAxisTitle("ns per element").build();
        chart.getStyler().setXAxisLogarithmic(true);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setYAxisMin(0.0);
        System.out.println("| format | tensor | ours (ns/element) | copy (ns/element) | memory bound (ns/element) | ours / memory bound |");
        System.out.println("|---|---:|---:|---:|---:|---:|");
        boolean boundDrawn = false;
        for (Map.Entry<String, Map<Long, double[]>> e : byFormat.entrySet()) {
            List<Point> points = new ArrayList<>();
            e.getValue().forEach((n, t) -> points.add(new Point(n, t[0], t[1])));
            for (Point p : points) {
                double ours = p.ours() * 1e3 / p.elements();
                double copy = p.copy() * 1e3 / p.elements();
                System.out.printf(Locale.ROOT, "| %s | %s | %.3f | %.3f | %.3f | %.2f |%n", e.getKey(), size(p.bytes()),
                        ours, copy, 4 * copy, ours / (4 * copy));
            }
            double[] mb = points.stream().mapToDouble(p -> p.bytes() / 1e6).toArray();
            chart.addSeries("ours, " + e.getKey(), mb, points.stream().mapToDouble(p -> p.ours() * 1e3 / p.elements()).toArray())
                    .setMarker(SeriesMarkers.CIRCLE);
            if (!boundDrawn) {
                chart.addSeries("copy (8 bytes per element)", mb, points.stream().mapToDouble(p -> p.copy() * 1e3 / p.elements()).toArray())
                        .setMarker(SeriesMarkers.DIAMOND);
                chart.addSeries("memory bound (4x copy, 32 bytes)", mb, points.stream().mapToDouble(p -> 4 * p.copy() * 1e3 / p.elements()).toArray())
                        .setMarker(SeriesMarkers.NONE);
                boundDrawn = true;
            }
        }
        BitmapEncoder.saveBitmap(chart, args[1], BitmapEncoder.BitmapFormat.PNG);
    }

    private static String size(double bytes) {
        return bytes >= 1e9 ? String.format(Locale.ROOT, "%.2f GB", bytes / 1e9)
                : bytes >= 1 << 20 ? String.format(Locale.ROOT, "%.0f MiB", bytes / (1 << 20))
                : String.format(Locale.ROOT, "%.0f KiB", bytes / 1024);
    }
}
