using PimQuant.Experiments.Results;
using ScottPlot;

namespace PimQuant.Experiments.Report;

/// <summary>One plot of a report: its title, the PNG file it is written to, and the image.</summary>
/// <param name="Title">A caption for the report.</param>
/// <param name="File">The PNG's file name in the run folder.</param>
/// <param name="Png">The image.</param>
public sealed record ReportPlot(string Title, string File, byte[] Png);

/// <summary>
/// The plots of a comparison (docs/report.md), PNG, drawn with ScottPlot from the rows and their details only: accuracy against
/// energy per image with the Pareto front, energy by component per scheme (stacked bars), weight bits per layer, and
/// utilisation and OU reads per layer. A plot whose figures no row has (an unpriced spec) is left out.
/// </summary>
public static class ReportPlots
{
    private const int Width = 1000, Height = 560;

    /// <summary>Colours of schemes: ten distinct ones.</summary>
    private static readonly IPalette Palette = new ScottPlot.Palettes.Category10();

    /// <summary>Colours of components: twenty, as a spec has more components than ten.</summary>
    private static readonly IPalette ComponentPalette = new ScottPlot.Palettes.Category20();

    /// <summary>Every plot the report can draw, in the report's order.</summary>
    public static IReadOnlyList<ReportPlot> All(ComparisonReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var plots = new List<ReportPlot>();
        if (AccuracyEnergy(report) is { } pareto) plots.Add(pareto);
        if (EnergyBreakdown(report) is { } breakdown) plots.Add(breakdown);
        plots.Add(PerLayer(report, "layer-weight-bits.png", "Weight bits per layer", "weight bits (mean over the layer's weights)", l => l.WeightBits));
        plots.Add(PerLayer(report, "layer-utilisation.png", "Utilisation per layer", "utilisation (programmed / allocated cells, %)", l => 100 * l.Utilisation));
        plots.Add(PerLayer(report, "layer-ou-reads.png", "OU reads per layer and image", "OU reads per image", l => l.OuReads));
        for (int s = 0, n = 0; s < report.Details.Count; s++)
            if (report.Details[s].Layers.Any(l => l.Precision is not null))
                plots.Add(PrecisionHeatmap(report.Results.Rows[s].Scheme, report.Details[s], $"block-precision-{++n}.png"));
        return plots;
    }

    /// <summary>
    /// A scheme's precision maps as one heatmap (BWQ's block precisions): each layer a strip of its lowered matrix's groups, block
    /// rows down and block columns across (convolution groups side by side), the layers left to right in execution order with a
    /// blank column between them; a layer of one width is drawn at that width, a pruned group at 0.
    /// </summary>
    private static ReportPlot PrecisionHeatmap(string scheme, SchemeDetail detail, string file)
    {
        var strips = detail.Layers.Select(l => l.Precision is { } p
            ? (l.Name, Rows: p.RowBlocks, Columns: p.ConvolutionGroups * p.ColumnBlocks, Bits: (Func<int, int, double>)((r, c) =>
                p.Bits[((c / p.ColumnBlocks) * p.RowBlocks + r) * p.ColumnBlocks + c % p.ColumnBlocks]))
            : (l.Name, Rows: 1, Columns: 1, Bits: (Func<int, int, double>)((_, _) => l.WeightBits))).ToList();
        int height = strips.Max(s => s.Rows), width = strips.Sum(s => s.Columns + 1) - 1;
        var grid = new double[height, width];
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++) grid[r, c] = double.NaN;
        var ticks = new List<(double Position, string Label)>();
        int at = 0;
        foreach (var strip in strips)
        {
            for (int r = 0; r < strip.Rows; r++)
                for (int c = 0; c < strip.Columns; c++) grid[r, at + c] = strip.Bits(r, c);
            ticks.Add((at + strip.Columns / 2.0, (ticks.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            at += strip.Columns + 1;
        }
        var plot = new Plot();
        plot.Title($"Block precision of {scheme} (bits per weight block, sign included; 0: pruned)");
        var map = plot.Add.Heatmap(grid);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        map.NaNCellColor = Colors.White;
        plot.Add.ColorBar(map);
        // Layers are numbered as in the other per-layer plots (their names do not fit under strips a few blocks wide).
        plot.Axes.Bottom.SetTicks([.. ticks.Select(t => t.Position)], [.. ticks.Select(t => t.Label)]);
        plot.XLabel("crossbar layer (execution order), its blocks across");
        // Row 0 of the grid is drawn at the top: block rows run down each strip, so a row number on the axis would read upside down.
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.EmptyTickGenerator();
        plot.YLabel("block rows, from the top");
        return new ReportPlot($"Block precision of {scheme}, layer by layer", file, plot.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    /// <summary>
    /// The rows that no other row beats: sorted by energy, each with a higher accuracy than every cheaper row. These are the
    /// schemes worth choosing among; the others cost more for no more accuracy.
    /// </summary>
    public static IReadOnlyList<ResultRow> ParetoFront(IEnumerable<ResultRow> rows)
    {
        var front = new List<ResultRow>();
        foreach (var row in rows.Where(r => r.EnergyJ is not null).OrderBy(r => r.EnergyJ).ThenByDescending(r => r.Accuracy))
            if (front.Count == 0 || row.Accuracy > front[^1].Accuracy) front.Add(row);
        return front;
    }

    /// <summary>Accuracy (%) against energy per image (µJ), one labelled point per priced row, the Pareto front joined.</summary>
    private static ReportPlot? AccuracyEnergy(ComparisonReport report)
    {
        var rows = report.Results.Rows.Where(r => r.EnergyJ is not null).ToList();
        if (rows.Count == 0) return null;
        var plot = new Plot();
        plot.Title("Accuracy against energy per image");
        plot.XLabel("energy per image (µJ)");
        plot.YLabel("top-1 accuracy on the simulated hardware (%)");
        var front = ParetoFront(rows);
        var line = plot.Add.Scatter(front.Select(r => r.EnergyJ!.Value * 1e6).ToArray(), front.Select(r => 100 * r.Accuracy).ToArray());
        line.LegendText = "Pareto front";
        line.Color = Colors.Gray;
        line.LinePattern = LinePattern.Dashed;
        line.MarkerSize = 0;
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            var point = plot.Add.Scatter(new[] { r.EnergyJ!.Value * 1e6 }, new[] { 100 * r.Accuracy });
            point.LegendText = r.Scheme;
            point.MarkerSize = front.Contains(r) ? 12 : 8;
            point.Color = Palette.GetColor(i);
        }
        plot.Axes.Margins(0.15, 0.15);
        plot.ShowLegend(Edge.Right); // outside the data: a legend inside hides points
        return new ReportPlot("Accuracy against energy per image (the Pareto front dashed: no other scheme is both cheaper and more accurate)",
            "accuracy-energy.png", plot.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    /// <summary>Energy per image by component, one stacked bar per priced scheme.</summary>
    private static ReportPlot? EnergyBreakdown(ComparisonReport report)
    {
        var priced = report.Results.Rows.Zip(report.Details).Where(p => p.Second.EnergyByComponent.Count > 0).ToList();
        if (priced.Count == 0) return null;
        var components = priced.SelectMany(p => p.Second.EnergyByComponent.Select(c => c.Component)).Distinct().ToList();
        var plot = new Plot();
        plot.Title("Energy per image by component");
        plot.YLabel("energy per image (µJ)");
        var bars = new List<Bar>();
        for (int s = 0; s < priced.Count; s++)
        {
            double bottom = 0;
            foreach (var c in priced[s].Second.EnergyByComponent)
            {
                double top = bottom + c.EnergyJ * 1e6;
                bars.Add(new Bar { Position = s, ValueBase = bottom, Value = top, FillColor = ComponentPalette.GetColor(components.IndexOf(c.Component)) });
                bottom = top;
            }
        }
        plot.Add.Bars(bars);
        for (int c = 0; c < components.Count; c++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = components[c], FillColor = ComponentPalette.GetColor(c) });
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, priced.Count).Select(i => (double)i)], [.. priced.Select(p => p.First.Scheme)]);
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Edge.Right);
        return new ReportPlot("Energy per image by component (dynamic and static), per scheme", "energy-breakdown.png", plot.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    /// <summary>One figure per crossbar layer, a line per scheme, the layers in execution order.</summary>
    private static ReportPlot PerLayer(ComparisonReport report, string file, string title, string axis, Func<LayerDetail, double> value)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.YLabel(axis);
        plot.XLabel("crossbar layer (execution order)");
        for (int s = 0; s < report.Details.Count; s++)
        {
            var layers = report.Details[s].Layers;
            var line = plot.Add.Scatter(Enumerable.Range(1, layers.Count).Select(i => (double)i).ToArray(), layers.Select(value).ToArray());
            line.LegendText = report.Results.Rows[s].Scheme;
            line.Color = Palette.GetColor(s);
            line.MarkerSize = 6;
        }
        plot.ShowLegend(Edge.Right);
        return new ReportPlot(title, file, plot.GetImageBytes(Width, Height, ImageFormat.Png));
    }
}
