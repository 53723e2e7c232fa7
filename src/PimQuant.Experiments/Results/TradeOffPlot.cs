using PimQuant.Engine.Runtime;
using ScottPlot;

namespace PimQuant.Experiments.Results;

/// <summary>
/// The plot every comparison of schemes draws (docs/results.md): energy saving against accuracy loss, both relative to the
/// report's baseline row, one series per family of rows (e.g. a heuristic over its threshold sweep), the baseline at the
/// origin and a published saving, if any, as a horizontal line. PNG, written atomically.
/// </summary>
public static class TradeOffPlot
{
    /// <summary>Energy saving in percent of the baseline's energy: 100·(1 − 1/<paramref name="energySaving"/>).</summary>
    public static double SavingPercent(double energySaving) => 100 * (1 - 1 / energySaving);

    /// <summary>Draws <paramref name="report"/>'s rows with ratios (every row but the baseline, grouped by <paramref name="series"/>)
    /// and writes the PNG to <paramref name="path"/>.</summary>
    /// <exception cref="ArgumentException">The report names no baseline row, or it has no accuracy.</exception>
    public static void Save(ResultReport report, Func<ResultRow, string> series, string path, string title, int width = 900, int height = 600)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(series);
        var baseline = report.Rows.FirstOrDefault(r => r.Scheme == report.Context.Baseline)
            ?? throw new ArgumentException($"the report's baseline '{report.Context.Baseline}' is not one of its rows", nameof(report));
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel($"accuracy loss against {baseline.Scheme} (points)");
        plot.YLabel($"energy saving against {baseline.Scheme} (%)");
        var origin = plot.Add.Scatter(new[] { 0.0 }, new[] { 0.0 });
        origin.LegendText = baseline.Scheme;
        origin.MarkerSize = 10;
        foreach (var family in report.Rows.Where(r => r != baseline && r.EnergySaving is not null).GroupBy(series))
        {
            var rows = family.OrderBy(r => baseline.Accuracy - r.Accuracy).ToArray();
            var points = plot.Add.Scatter(
                rows.Select(r => 100 * (baseline.Accuracy - r.Accuracy)).ToArray(),
                rows.Select(r => SavingPercent(r.EnergySaving!.Value)).ToArray());
            points.LegendText = family.Key;
            points.MarkerSize = 7;
            points.LineWidth = 0; // markers only: a sweep's losses need not fall in its threshold's order
        }
        if (report.Context.Paper?.EnergySaving is { } paper)
        {
            var line = plot.Add.HorizontalLine(SavingPercent(paper));
            line.LegendText = $"published saving ({SavingPercent(paper):0.#} %)";
            line.LinePattern = LinePattern.Dashed;
        }
        plot.ShowLegend(Alignment.LowerRight);
        byte[] png = plot.GetImageBytes(width, height, ImageFormat.Png);
        AtomicFile.Write(path, stream => stream.Write(png));
    }
}
