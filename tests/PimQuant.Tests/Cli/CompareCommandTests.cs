using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PimQuant.Cli.Commands;
using PimQuant.Experiments;
using PimQuant.Hardware.Spec;
using PimQuant.Methods;
using PimQuant.Experiments.Report;
using PimQuant.Experiments.Results;
using PimQuant.Tests.Experiments;
using PimQuant.Tests.Experiments.Report;
using Spectre.Console;

namespace PimQuant.Tests.Cli;

/// <summary>
/// <c>pimq compare</c> and <c>pimq demo</c>: their help and the table (snapshots), a compare run on a few images writing its run
/// folder and database rows, <c>pimq results export --csv</c> holding what its results.json holds, the same command line resuming a
/// stopped run in its folder, and a scheme list mistake as a usage error.
/// </summary>
public partial class CompareCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-compare-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string Model = Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx");

    [GeneratedRegex(@"(--threads <threads>.*)\[default: \d+\]")]
    private static partial Regex ThreadsDefault();

    [Theory]
    [InlineData("compare")]
    [InlineData("demo")]
    public void Help_text(string command)
    {
        var run = PimqProcess.Run(command, "--help");
        Assert.Equal(0, run.ExitCode);
        // The default thread count is the machine's core count.
        Snapshot.Matches($"{command}-help.txt", ThreadsDefault().Replace(run.Stdout, "$1[default: cores]"));
    }

    [Fact]
    public void Table_layout()
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        console.Profile.Width = CompareCommand.TableWidth;
        console.Write(CompareCommand.Table(ReportFixture.Report.Results));
        Snapshot.Matches("compare-table.txt", text.ToString());
    }

    [Fact]
    public void A_scheme_the_catalogue_does_not_know_is_a_usage_error_listing_the_known_ones()
    {
        CliTests.AssertUserError(PimqProcess.RunIn(_dir, "compare", Model, "--schemes", "baseline,nope"), 2, "--schemes: unknown scheme 'nope'; known schemes: baseline, redy");
        Assert.False(Directory.Exists(Path.Combine(_dir, CompareCommand.RunsFolder)));
    }

    // Two schemes keep it short (the default list adds bwq, which the demo's test runs).
    private static readonly string[] Line = ["compare", Model, "--schemes", "baseline,redy", "--images", "16", "--batch-size", "16", "--calibration-images", "32", "--threads", "1", "--json"];

    [Fact]
    public void Compare_writes_its_run_folder_and_rows_and_the_csv_export_holds_what_results_json_holds()
    {
        var run = PimqProcess.RunIn(_dir, Line);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = run.Json();
        string folder = (string)json["run_folder"]!;
        Assert.StartsWith(Path.Combine(_dir, CompareCommand.RunsFolder) + Path.DirectorySeparatorChar, folder);
        Assert.EndsWith("-resnet20-fmnist", folder);
        string[] written = ["report.html", "results.json", "accuracy-energy.png", "energy-breakdown.png", "layer-weight-bits.png", "layer-utilisation.png", "layer-ou-reads.png"];
        Assert.Equal(written.Select(f => Path.Combine(folder, f)), json["files"]!.AsArray().Select(f => (string)f!));
        Assert.Equal(written.Order(), Directory.GetFiles(folder).Select(Path.GetFileName).Order()); // the checkpoint is gone
        Assert.Contains("<table>", File.ReadAllText(Path.Combine(folder, "report.html")));

        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "results.json")))!.AsObject();
        var (rows, details) = ReportJson.Read(results);
        Assert.Equal(["isaac w8a8", "isaac w8a8 redy lossless array"], rows.Select(r => r.Scheme));
        Assert.Equal((1.0, "baseline"), (rows[0].EnergySaving!.Value, rows[0].Method));
        Assert.True(rows[1].OuReads < rows[0].OuReads, $"{rows[1].OuReads} reads with ReDy, {rows[0].OuReads} without");
        Assert.Equal(rows[0].OuReads, details[0].Layers.Sum(l => l.OuReads));
        Assert.NotEmpty(details[0].EnergyByComponent);

        var csv = PimqProcess.RunIn(_dir, "results", "export", "--csv");
        Assert.Equal(0, csv.ExitCode);
        var cells = ResultsStoreTests.ParseCsv(csv.Stdout);
        var columns = cells[0].Select(c => c.Text).ToList();
        Assert.Equal(rows.Count + 1, cells.Count);
        foreach (var (row, line) in results["rows"]!.AsArray().Zip(cells.Skip(1)))
        {
            var stored = columns.Zip(line).ToDictionary(p => p.First, p => p.Second);
            foreach (var (field, value) in row!.AsObject().Where(kv => kv.Key != "detail"))
            {
                string expected = value switch { null => "", JsonValue v when v.TryGetValue<string>(out var s) => s, _ => value.ToJsonString() };
                Assert.True(expected == stored[field].Text, $"{field}: {expected} in results.json, {stored[field].Text} in the CSV");
            }
            foreach (var field in new[] { "command", "model", "dataset", "test_images", "seed", "baseline" })
                Assert.Equal(results[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : results[field]!.ToJsonString(), stored[field].Text);
            Assert.Equal(results["notes"]!.ToJsonString(), stored["notes"].Text);
            Assert.Equal((string)results["command_line"]!, stored["command_line"].Text);
        }

        // Stopped after the baseline: the same command line finds the unfinished folder, runs ReDy only, and ends with the same report.
        var request = new ComparisonRequest(Model, SchemeCatalog.Parse("baseline,redy", null, HardwareSpecLoader.Load, Model), new DataOptions(), 16, 32, 0, 16, 1);
        string checkpoint = Path.Combine(folder, CompareCommand.CheckpointFile);
        File.WriteAllText(Comparison.DetailsPath(checkpoint), ReportJson.Details([details[0]]).ToJsonString());
        RowCheckpoint.Save(checkpoint, Comparison.RunKey(request), [rows[0]]);
        var resumed = PimqProcess.RunIn(_dir, Line);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("resuming: 1 of 2 schemes done", resumed.Stderr);
        Assert.Equal(folder, (string)resumed.Json()["run_folder"]!);
        var again = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "results.json")))!.AsObject();
        Assert.Equal(results["rows"]!.ToJsonString(), again["rows"]!.ToJsonString());
        Assert.False(File.Exists(checkpoint));
    }
}
