package io.github.dl4jbn.examples;

import io.github.dl4jbn.CovariateShiftMonitor;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Line charts written as PNG with XChart, headless. */
final class Charts {

    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Charts() {
    }

    /** One named line. */
    record Line(String name, double[] x, double[] y) {
    }

    /**
     * Draws lines on one chart and saves it as PNG.
     *
     * @param file   the PNG file to write (".png" is appended by XChart if missing)
     * @param title  chart title
     * @param xTitle x-axis title
     * @param yTitle y-axis title
     * @param lines  the lines
     * @param yMin   lower y bound, or NaN for automatic
     * @param yMax   upper y bound, or NaN for automatic
     */
    static void save(Path file, String title, String xTitle, String yTitle, List<Line> lines, double yMin, double yMax)
            throws IOException {
        XYChart chart = new XYChartBuilder().width(800).height(500).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        chart.getStyler().setMarkerSize(0);
        chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        if (!Double.isNaN(yMin)) {
            chart.getStyler().setYAxisMin(yMin);
        }
        if (!Double.isNaN(yMax)) {
            chart.getStyler().setYAxisMax(yMax);
        }
        for (Line l : lines) {
            chart.addSeries(l.name(), l.x(), l.y()).setMarker(SeriesMarkers.NONE);
        }
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    /**
     * Grouped bars: one group per category, one bar per series, saved as PNG.
     *
     * @param file       the PNG file
     * @param title      chart title
     * @param yTitle     y-axis title
     * @param categories the groups' names
     * @param series     each series' name and one value per category
     * @param yMin       lower y bound
     */
    static void bars(Path file, String title, String yTitle, List<String> categories,
                     java.util.Map<String, List<Double>> series, double yMin) throws IOException {
        org.knowm.xchart.CategoryChart chart = new org.knowm.xchart.CategoryChartBuilder().width(1000).height(500)
                .title(title).yAxisTitle(yTitle).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        chart.getStyler().setYAxisMin(yMin);
        chart.getStyler().setYAxisMax(1.0);
        series.forEach((name, values) -> chart.addSeries(name, categories, values));
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    /** A series of points in one colour: joined by a line, or markers alone. */
    record Points(String name, double[] x, double[] y, java.awt.Color color, boolean joined) {
    }

    /**
     * Points over sizes that double (mini-batch sizes 2 to 60): x on a base-2 logarithmic scale, labelled with the
     * sizes, and a marker at every point, so a series of one point still shows. Saved as PNG.
     *
     * @param file   the PNG file
     * @param title  chart title
     * @param xTitle x-axis title
     * @param yTitle y-axis title
     * @param series the series
     */
    static void saveBySize(Path file, String title, String xTitle, String yTitle, List<Points> series) throws IOException {
        XYChart chart = new XYChartBuilder().width(1000).height(500).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);     // clear of the points at batch 60
        chart.getStyler().setXAxisTickMarkSpacingHint(30);
        chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        chart.getStyler().setMarkerSize(10);
        chart.getStyler().setXAxisMin(0.8);
        chart.getStyler().setXAxisMax(6.2);
        chart.getStyler().setxAxisTickLabelsFormattingFunction(v -> String.valueOf(Math.round(Math.pow(2, v))));
        for (Points p : series) {
            XYSeries s = chart.addSeries(p.name(), java.util.Arrays.stream(p.x()).map(v -> Math.log(v) / Math.log(2)).toArray(), p.y());
            s.setLineColor(p.color());
            s.setMarkerColor(p.color());
            s.setXYSeriesRenderStyle(p.joined() ? XYSeries.XYSeriesRenderStyle.Line : XYSeries.XYSeriesRenderStyle.Scatter);
            s.setMarker(p.joined() ? SeriesMarkers.CIRCLE : SeriesMarkers.DIAMOND);
        }
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    /**
     * Figure 1(b, c): the 15th, 50th and 85th percentiles of one monitored layer's input over training.
     *
     * @param file    the PNG file
     * @param records the monitor's records of that layer
     * @param layer   the layer, for the axis title
     * @param title   the chart title
     */
    static void percentiles(Path file, List<CovariateShiftMonitor.Record> records, String layer, String title)
            throws IOException {
        double[] x = records.stream().mapToDouble(CovariateShiftMonitor.Record::iteration).toArray();
        save(file, title, "training steps", "input of " + layer, List.of(
                new Line("85th percentile", x, records.stream().mapToDouble(CovariateShiftMonitor.Record::p85).toArray()),
                new Line("50th percentile", x, records.stream().mapToDouble(CovariateShiftMonitor.Record::p50).toArray()),
                new Line("15th percentile", x, records.stream().mapToDouble(CovariateShiftMonitor.Record::p15).toArray())),
                Double.NaN, Double.NaN);
    }
}
