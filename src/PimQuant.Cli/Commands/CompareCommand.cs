using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Engine.Runtime;
using PimQuant.Experiments;
using PimQuant.Experiments.Report;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Spec;
using PimQuant.Methods;
using PimQuant.Training;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary>
/// <c>pimq compare MODEL --schemes baseline,redy,...</c>: every scheme on the same model, data and simulator, the baseline first and
/// the ratios against it (docs/report.md). Writes a run folder (report.html, the plots as PNG, results.json), appends a row per
/// scheme to the results database, and checkpoints the rows done so a stopped run resumes.
/// </summary>
public static class CompareCommand
{
    /// <summary>The folder run folders go in, under the working folder, unless <c>-o</c> names one.</summary>
    public const string RunsFolder = "runs";

    /// <summary>The checkpoint file in a run folder, deleted when the run completes.</summary>
    public const string CheckpointFile = "checkpoint.json";

    /// <summary>The flags <c>compare</c> and <c>demo</c> share: where the run goes and how it runs.</summary>
    internal sealed class RunFlags
    {
        public Option<string> Output { get; } = new("--output", "-o")
        {
            Description = $"The run folder (default {RunsFolder}/<UTC time>-<name>/); a folder holding a checkpoint of the same run is resumed",
        };
        public Option<int> Batch { get; } = CommonOptions.BatchSize(256);
        public Option<int> CalibrationImages { get; } = CommonOptions.CalibrationImages();
        public Option<string> Db { get; } = ResultsCommand.DbOption();
        public Option<long> Seed { get; } = CommonOptions.Seed();
        public Option<int> Threads { get; } = CommonOptions.Threads();
        public Option<bool> Json { get; } = CommonOptions.Json();

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { Output, Batch, CalibrationImages, Db, Seed, Threads, Json }) command.Options.Add(option);
        }
    }

    /// <summary>The command.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "The ONNX model (a float model, quantized per scheme; e.g. models/resnet20-fmnist.onnx)" };
        var schemes = new Option<string>("--schemes")
        {
            Description = $"Comma-separated schemes ({string.Join(", ", SchemeCatalog.Names)}); a+b combines two methods, NAME@HW runs one on another " +
                          $"preset or spec file; the baseline runs first even when not listed (default: {string.Join(",", SchemeCatalog.DefaultNames)}, " +
                          "bwq only where the model's BWQ model, MODEL-bwq.onnx, is beside it)",
        };
        var hw = new Option<string>("--hw") { Description = "Run every scheme on this preset or spec file instead of the hardware each was designed for" };
        var data = new DataFlags();
        var flags = new RunFlags();
        var command = new Command("compare", """
            Every scheme on the same model, data and simulator, against the baseline: a table, report.html, plots, results.json and the results database (docs/report.md).

            Examples:
              pimq compare models/resnet20-fmnist.onnx
              pimq compare my.onnx --dataset cifar10 --data ~/cifar10 --schemes baseline,redy --images 1000
              pimq compare my.onnx --schemes redy,baseline@neurosim-rram -o runs/rram
              pimq compare my.onnx --hw my-chip.yaml
            """)
        {
            model, schemes, hw,
        };
        data.AddTo(command);
        flags.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(parse, flags.Json, flags.Threads, flags.Seed, (output, cancel) =>
        {
            string path = parse.GetValue(model)!;
            string list = parse.GetValue(schemes) ?? string.Join(",", SchemeCatalog.DefaultNamesFor(path, note => output.Err.WriteLine(note)));
            var parsed = ParseSchemes(list, parse.GetValue(hw), path);
            return Execute(parse, flags, output, cancel, path, Path.GetFileNameWithoutExtension(path), parsed, data.Read(parse), parse.GetValue(data.Images));
        }));
        return command;
    }

    /// <summary>The schemes of a <c>--schemes</c> list; a name the catalogue does not know, or a conflicting combination, is a usage error.</summary>
    internal static IReadOnlyList<ComparedScheme> ParseSchemes(string list, string? hw, string model)
    {
        try { return SchemeCatalog.Parse(list, hw, HardwareSpecLoader.Load, model); }
        catch (ArgumentException e) { throw new UserError($"--schemes: {e.Message}", ExitCodes.Usage); }
    }

    /// <summary>Runs the comparison into its run folder, prints the table and names the files written.</summary>
    internal static int Execute(ParseResult parse, RunFlags flags, Output output, CancellationToken cancel, string model, string name,
        IReadOnlyList<ComparedScheme> schemes, DataOptions data, int? images, string command = "compare")
    {
        string dbPath = parse.GetValue(flags.Db)!;
        ResultsStore.CheckWritable(dbPath);
        var request = new ComparisonRequest(model, schemes, data, images, parse.GetValue(flags.CalibrationImages), parse.GetValue(flags.Seed),
            parse.GetValue(flags.Batch), parse.GetValue(flags.Threads), Command: command);
        var key = Comparison.RunKey(request);
        string folder = parse.GetValue(flags.Output) ?? UnfinishedRun(name, key) ?? Path.Combine(RunsFolder,
            DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + name);
        string checkpoint = Path.Combine(folder, CheckpointFile);
        var progress = new ConsoleProgress(output);
        progress.Log($"run folder {folder}");
        // The run makes the folder (its checkpoint's) once the request has passed its checks.
        var report = Comparison.Run(request with { Checkpoint = checkpoint }, progress, cancel);

        var provenance = RunProvenance.Now(key, ["pimq", .. parse.Tokens.Select(t => t.Value)]);
        report = report with { Provenance = new ReportProvenance(provenance.CommandLine, provenance.Version, Machine()) };
        var plots = ReportPlots.All(report);
        var files = new List<string>();
        foreach (var plot in plots)
        {
            string file = Path.Combine(folder, plot.File);
            AtomicFile.Write(file, stream => stream.Write(plot.Png));
            files.Add(file);
        }
        string resultsFile = Path.Combine(folder, "results.json"), htmlFile = Path.Combine(folder, "report.html");
        AtomicFile.WriteAllText(resultsFile, ReportJson.Of(report).ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        AtomicFile.WriteAllText(htmlFile, ReportBuilder.Html(report, plots));
        files.InsertRange(0, [htmlFile, resultsFile]);
        (long runId, IReadOnlyList<long> ids) stored;
        using (var store = ResultsStore.OpenOrCreate(dbPath)) stored = store.Append(report.Results, provenance);
        File.Delete(checkpoint);
        File.Delete(Comparison.DetailsPath(checkpoint));

        // Redirected stderr has no width; Spectre assumes 80 columns, which wraps every cell of this table.
        if (!output.Interactive) output.Err.Profile.Width = Math.Max(output.Err.Profile.Width, TableWidth);
        output.Err.Write(Table(report.Results));
        foreach (var note in report.Results.Context.Notes) output.Log(note);
        var json = ReportJson.Of(report);
        json["ok"] = true;
        json["run_folder"] = Path.GetFullPath(folder);
        json["files"] = new JsonArray([.. files.Select(f => (JsonNode)Path.GetFullPath(f))]);
        json["stored"] = new JsonObject
        {
            ["db"] = Path.GetFullPath(dbPath), ["run_id"] = stored.runId, ["ids"] = new JsonArray([.. stored.ids.Select(i => (JsonNode)i)]),
        };
        output.Result(json, [.. files.Select(f => $"wrote {f}"), $"stored {stored.ids.Count} rows in {dbPath} (run {stored.runId})"]);
        return ExitCodes.Ok;
    }

    /// <summary>The newest run folder of <paramref name="name"/> under <see cref="RunsFolder"/> holding a checkpoint of this run; null when none.</summary>
    private static string? UnfinishedRun(string name, IReadOnlyList<KeyValuePair<string, string>> key)
    {
        if (!Directory.Exists(RunsFolder)) return null;
        foreach (var folder in Directory.GetDirectories(RunsFolder, "*-" + name).OrderDescending(StringComparer.Ordinal))
        {
            string checkpoint = Path.Combine(folder, CheckpointFile);
            if (!File.Exists(checkpoint)) continue;
            try
            {
                RowCheckpoint.Load(checkpoint, key);
                return folder;
            }
            catch (CheckpointException) { } // another run's checkpoint: not this run's to resume
        }
        return null;
    }

    /// <summary>The width the table is laid out in when stderr is not a terminal.</summary>
    internal const int TableWidth = 150;

    /// <summary>The table of a comparison: one line per scheme, the baseline first, with the accuracy on the hardware and of the ideal
    /// integer model; the float model's accuracy (the same model for every row) in the title.</summary>
    internal static Table Table(ResultReport report)
    {
        var c = report.Context;
        string fp32 = report.Rows.Count > 0 && report.Rows[0].Fp32Accuracy is { } f ? Invariant($", FP32 {100 * f:0.00} %") : "";
        var table = new Table().Title(Markup.Escape(Invariant($"{Path.GetFileName(c.Model)}: {c.TestImages:N0} {c.Dataset} test images{fp32}, against {c.Baseline}")))
            .AddColumns("scheme", "hw", "accuracy", "ideal int.", "W bits", "OU reads", "µJ/image", "µs/image", "saving", "speedup");
        table.Columns[0].NoWrap();
        // Numbers never wrap: a BWQ row on OU-read hardware counts tens of millions of reads and saves "-1534.9 %".
        foreach (var column in table.Columns.Skip(2)) column.RightAligned().NoWrap();
        foreach (var r in report.Rows)
            table.AddRow(Markup.Escape(r.Scheme), Markup.Escape(r.Hw ?? "-"), Invariant($"{100 * r.Accuracy:0.00} %"),
                r.IdealAccuracy is { } ideal ? Invariant($"{100 * ideal:0.00} %") : "-",
                r.AvgWeightBits is { } w ? Invariant($"{w:0.00}") : "-", r.OuReads is { } o ? Invariant($"{o:N0}") : "-",
                r.EnergyJ is { } e ? Invariant($"{e * 1e6:0.000}") : "-", r.LatencyS is { } l ? Invariant($"{l * 1e6:0.0}") : "-",
                r.EnergySaving is { } s ? Invariant($"{TradeOffPlot.SavingPercent(s):0.0} %") : "-", r.Speedup is { } x ? Invariant($"{x:0.000}×") : "-");
        return table;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>The machine a report was produced on: CPU model, cores, OS and .NET runtime.</summary>
    private static string Machine()
    {
        string? cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return $"{cpu ?? RuntimeInformation.ProcessArchitecture.ToString()}, {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}";
    }
}
