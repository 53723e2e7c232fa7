using System.Text.Json.Nodes;
using PimQuant.Experiments.Report;
using PimQuant.Experiments.Results;

namespace PimQuant.Tests.Experiments.Report;

/// <summary>report.html is a pure function of the rows, details and plots (snapshot), results.json reads back to them, and the plots
/// are drawn from the same report.</summary>
public class ReportBuilderTests
{
    [Fact]
    public void The_page_is_a_pure_function_of_the_report()
    {
        string html = ReportBuilder.Html(ReportFixture.Report, ReportFixture.Plots);
        Assert.Equal(html, ReportBuilder.Html(ReportFixture.Report with { }, [.. ReportFixture.Plots]));
        Assert.Contains("data:image/png;base64,iVBORw==", html);
        Assert.Contains("a note with &lt;markup&gt; &amp; &quot;quotes&quot;", html);
        Snapshot.Matches("report.html", html);
    }

    [Fact]
    public void Results_json_reads_back_to_the_rows_and_their_details()
    {
        var json = ReportJson.Of(ReportFixture.Report);
        Assert.Equal("pimq compare models/resnet20-fmnist.onnx --schemes baseline,redy", (string)json["command_line"]!);
        var (rows, details) = ReportJson.Read(JsonNode.Parse(json.ToJsonString())!.AsObject());
        Assert.Equal(ReportFixture.Report.Results.Rows, rows);
        Assert.Equal(ReportFixture.Report.Details.Select(d => ReportJson.Detail(d).ToJsonString()), details.Select(d => ReportJson.Detail(d).ToJsonString()));
        // The row objects hold the result row's fields first, in docs/results.md's order, then the detail.
        Assert.Equal([.. ResultJson.RowFields.Select(f => f.Name), "detail"], json["rows"]![0]!.AsObject().Select(kv => kv.Key));
    }

    [Fact]
    public void The_pareto_front_keeps_the_rows_no_other_beats()
    {
        var rows = ReportFixture.Report.Results.Rows;
        var worse = rows[0] with { Scheme = "worse", EnergyJ = 4e-5, Accuracy = 0.9 };
        var cheaper = rows[0] with { Scheme = "cheap", EnergyJ = 1e-5, Accuracy = 0.5 };
        Assert.Equal(["cheap", "isaac w8a8 redy lossless array"], ReportPlots.ParetoFront([.. rows, worse, cheaper]).Select(r => r.Scheme));
        var plots = ReportPlots.All(ReportFixture.Report);
        // Both of the fixture's schemes have a precision map (a BWQ-like fc layer): a heatmap each, last.
        Assert.Equal(["accuracy-energy.png", "energy-breakdown.png", "layer-weight-bits.png", "layer-utilisation.png", "layer-ou-reads.png", "block-precision-1.png", "block-precision-2.png"], plots.Select(p => p.File));
        Assert.All(plots, p => Assert.Equal([137, 80, 78, 71], p.Png.Take(4)));
    }
}
