using System.Globalization;
using System.Net;
using System.Text;
using PimQuant.Experiments.Results;

namespace PimQuant.Experiments.Report;

/// <summary>
/// report.html of a comparison (docs/report.md): one self-contained page (styles inline, plots as base64 PNG) with the result
/// rows, the published figures beside the measured ones, the plots, each scheme's layers, the notes, and the exact command,
/// version and machine. A pure function of its arguments: no clock, no file, no culture (numbers are invariant), so the same
/// report gives the same bytes.
/// </summary>
public static class ReportBuilder
{
    private const string Style = """
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
        h1 { font-size: 1.6em; margin-bottom: 0.2em; }
        h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
        p.lead { color: #555; margin-top: 0; }
        table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
        th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
        th { background: #f3f3f3; }
        td.text, th.text { text-align: left; }
        tr.baseline td { background: #f7f9ff; }
        figure { margin: 1em 0; }
        figure img { max-width: 100%; border: 1px solid #eee; }
        figcaption { color: #555; font-size: 0.9em; }
        pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
        details { margin: 0.4em 0; }
        div.wide { overflow-x: auto; }
        td.text:last-child { white-space: normal; }
        """;

    /// <summary>The page of <paramref name="report"/> with <paramref name="plots"/> inline.</summary>
    public static string Html(ComparisonReport report, IReadOnlyList<ReportPlot> plots)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(plots);
        var c = report.Results.Context;
        var rows = report.Results.Rows;
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<title>PimQuant ").Append(E(c.Command)).Append(": ").Append(E(Path.GetFileName(c.Model))).Append("</title>\n")
            .Append("<style>\n").Append(Style).Append("</style>\n</head>\n<body>\n");
        html.Append("<h1>PimQuant ").Append(E(c.Command)).Append(": ").Append(E(Path.GetFileName(c.Model))).Append("</h1>\n")
            .Append("<p class=\"lead\">").Append(rows.Count).Append(" schemes on the same model, ")
            .Append(E(c.TestImages.ToString("N0", CultureInfo.InvariantCulture))).Append(' ').Append(E(c.Dataset))
            .Append(" test images and simulator, seed ").Append(c.Seed.ToString(CultureInfo.InvariantCulture))
            .Append("; ratios against <b>").Append(E(c.Baseline ?? "none")).Append("</b>.</p>\n");

        html.Append("<h2>Results</h2>\n");
        Table(html, ["scheme", "method", "hw", "accuracy", "weight bits", "OU reads", "energy/image", "latency", "energy saving", "speedup"],
            rows.Select(r => (r.Scheme == c.Baseline, new[]
            {
                r.Scheme, r.Method, r.Hw ?? "", Percent(r.Accuracy), Num(r.AvgWeightBits, "0.00"), Count(r.OuReads), Scaled(r.EnergyJ, 1e6, "0.000", " µJ"),
                Scaled(r.LatencyS, 1e6, "0.0", " µs"), Saving(r.EnergySaving), Num(r.Speedup, "0.000", "×"),
            })), textColumns: 3);
        html.Append("<details><summary>Every field of the result rows (docs/results.md)</summary>\n<div class=\"wide\">\n");
        Table(html, ["scheme", "method", "hw", "ADC bits", "accuracy", "ideal integer", "FP32", "weight bits", "activation bits", "arrays",
                "utilisation", "OU reads", "ADC conversions", "energy/image", "latency", "FPS", "TOPS/W", "area", "speedup", "energy saving"],
            rows.Select(r => (r.Scheme == c.Baseline, new[]
            {
                r.Scheme, r.Method, r.Hw ?? "", Int(r.AdcBits), Percent(r.Accuracy), Percent(r.IdealAccuracy), Percent(r.Fp32Accuracy),
                Num(r.AvgWeightBits, "0.00"), Num(r.AvgActivationBits, "0.00"), Int(r.Arrays), Percent(r.Utilisation), Count(r.OuReads),
                Count(r.AdcConversions), Scaled(r.EnergyJ, 1e6, "0.000", " µJ"), Scaled(r.LatencyS, 1e6, "0.0", " µs"), Num(r.Fps, "N0"),
                Num(r.TopsPerW, "0.00"), Scaled(r.AreaMm2, 1, "0.00", " mm²"), Num(r.Speedup, "0.000", "×"), Saving(r.EnergySaving),
            })), textColumns: 3);
        html.Append("</div>\n</details>\n");

        var papers = rows.Zip(report.Details).Where(p => p.Second.Paper is not null).ToList();
        html.Append("<h2>Published figures beside ours</h2>\n");
        if (papers.Count == 0) html.Append("<p>No scheme here reproduces a published figure.</p>\n");
        else
            Table(html, ["scheme", "energy saving, published", "energy saving, here", "speedup, published", "speedup, here", "source"],
                papers.Select(p => (false, new[]
                {
                    p.First.Scheme, Saving(p.Second.Paper!.EnergySaving), Saving(p.First.EnergySaving), Num(p.Second.Paper.Speedup, "0.00", "×"),
                    Num(p.First.Speedup, "0.000", "×"), p.Second.Paper.Source,
                })), textColumns: 1, lastIsText: true);

        html.Append("<h2>Plots</h2>\n");
        foreach (var plot in plots)
            html.Append("<figure><img alt=\"").Append(E(plot.Title)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(plot.Png))
                .Append("\"><figcaption>").Append(E(plot.Title)).Append(" (").Append(E(plot.File)).Append(")</figcaption></figure>\n");

        html.Append("<h2>Layers</h2>\n");
        foreach (var (row, detail) in rows.Zip(report.Details))
        {
            html.Append("<details><summary>").Append(E(row.Scheme)).Append(": ").Append(detail.Layers.Count).Append(" crossbar layers</summary>\n");
            Table(html, ["layer", "weight bits", "arrays", "utilisation", "OU reads", "ADC conversions", "energy/image", "precision map"],
                detail.Layers.Select(l => (false, new[]
                {
                    l.Name, Num(l.WeightBits, "0.00"), Int(l.Arrays), Percent(l.Utilisation), Count(l.OuReads), Count(l.AdcConversions),
                    Scaled(l.EnergyJ, 1e6, "0.0000", " µJ"),
                    l.Precision is { } p ? $"{p.Granularity}: {p.ConvolutionGroups}×{p.RowBlocks}×{p.ColumnBlocks} groups, {p.Bits.Min()}–{p.Bits.Max()} bits" : "",
                })), textColumns: 1, lastIsText: true);
            if (detail.EnergyByComponent.Count > 0)
                Table(html, ["component", "energy/image", "share"], detail.EnergyByComponent.Select(e => (false, new[]
                {
                    e.Component, Scaled(e.EnergyJ, 1e6, "0.0000", " µJ"), Percent(row.EnergyJ is { } total && total > 0 ? e.EnergyJ / total : null),
                })), textColumns: 1);
            html.Append("</details>\n");
        }

        html.Append("<h2>Notes</h2>\n<ul>\n");
        foreach (var note in c.Notes) html.Append("<li>").Append(E(note)).Append("</li>\n");
        html.Append("</ul>\n");

        html.Append("<h2>Run</h2>\n");
        if (report.Provenance is { } run)
            html.Append("<pre>").Append(E(run.CommandLine)).Append("</pre>\n<p>PimQuant ").Append(E(run.Version)).Append(" on ").Append(E(run.Machine)).Append(".</p>\n");
        html.Append("<p>Model <code>").Append(E(c.Model)).Append("</code>. Field meanings: docs/results.md; this page: docs/report.md.</p>\n");
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>A table: the first <paramref name="textColumns"/> columns (and the last with <paramref name="lastIsText"/>) left-aligned.</summary>
    private static void Table(StringBuilder html, string[] header, IEnumerable<(bool Baseline, string[] Cells)> rows, int textColumns, bool lastIsText = false)
    {
        bool IsText(int i) => i < textColumns || (lastIsText && i == header.Length - 1);
        html.Append("<table>\n<tr>");
        for (int i = 0; i < header.Length; i++) html.Append(IsText(i) ? "<th class=\"text\">" : "<th>").Append(E(header[i])).Append("</th>");
        html.Append("</tr>\n");
        foreach (var (baseline, cells) in rows)
        {
            html.Append(baseline ? "<tr class=\"baseline\">" : "<tr>");
            for (int i = 0; i < cells.Length; i++) html.Append(IsText(i) ? "<td class=\"text\">" : "<td>").Append(E(cells[i])).Append("</td>");
            html.Append("</tr>\n");
        }
        html.Append("</table>\n");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private static string Num(double? value, string format, string unit = "") => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) + unit : "–";

    private static string Scaled(double? value, double scale, string format, string unit) => Num(value * scale, format, unit);

    private static string Int(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "–";

    private static string Count(long? value) => value?.ToString("N0", CultureInfo.InvariantCulture) ?? "–";

    private static string Percent(double? fraction) => Num(fraction * 100, "0.00", " %");

    /// <summary>An energy-saving ratio as percent less energy (docs/results.md), with the ratio.</summary>
    private static string Saving(double? ratio) =>
        ratio is { } r ? $"{TradeOffPlot.SavingPercent(r).ToString("0.0", CultureInfo.InvariantCulture)} % ({r.ToString("0.000", CultureInfo.InvariantCulture)}×)" : "–";
}
