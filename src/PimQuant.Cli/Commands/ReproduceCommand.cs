using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Methods.ReDy;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq reproduce METHOD</c>: a method's published comparison on PimQuant's substrate, as result rows
/// (docs/results.md) with the published figures beside them, a trade-off plot, and the rows appended to the results database.</summary>
public static class ReproduceCommand
{
    /// <summary>The command and its methods.</summary>
    public static Command Create()
    {
        var command = new Command("reproduce", "A method's published comparison, measured on PimQuant's simulator and cost model");
        command.Subcommands.Add(Redy());
        return command;
    }

    private static Command Redy()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var model = new Option<string>("--model") { Description = "The ONNX model (default: the embedded ResNet-20 on Fashion-MNIST)" };
        var hw = new Option<string>("--hw") { Description = $"Hardware preset ({string.Join(", ", PresetCatalog.Names)}) or spec YAML file; the paper's is isaac", DefaultValueFactory = _ => "isaac" };
        var group = new Option<string>("--redy-group") { Description = "ReDy's group: array (the rows one crossbar holds) or ou (one OU row group)", DefaultValueFactory = _ => "array" };
        group.AcceptOnlyFromAmong("array", "ou");
        var data = new DataFlags();
        var batch = CommonOptions.BatchSize(256);
        var calibrationImages = CommonOptions.CalibrationImages();
        var checkpoint = new Option<string>("--checkpoint") { Description = "Save the rows done to FILE (atomically) after each scheme" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the --checkpoint file if it exists" };
        var plot = new Option<string>("--plot") { Description = "Write the energy-saving against accuracy-loss plot to FILE (PNG; default redy-HW.png)" };
        var db = ResultsCommand.DbOption();
        var command = new Command("redy", "ReDy: static 8-bit activations against run-time dynamic precision (lossless rule and heuristic sweeps); docs/methods/redy.md")
        {
            model, hw, group,
        };
        data.AddTo(command);
        foreach (var option in new Option[] { batch, calibrationImages, checkpoint, resume, plot, db, seed, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            if (parse.GetValue(resume) && parse.GetValue(checkpoint) is null)
                throw new UserError("--resume continues from a checkpoint: give --checkpoint FILE", ExitCodes.Usage);
            var spec = HardwareSpecLoader.Load(parse.GetValue(hw)!);
            string modelPath = parse.GetValue(model) ?? Workspace.DefaultModel;
            string plotPath = parse.GetValue(plot) ?? $"redy-{spec.Name}.png";
            // Outputs written after the run are checked before it, so a mistyped folder never costs the run.
            foreach (var (flag, file) in new[] { ("--plot", plotPath), ("--checkpoint", parse.GetValue(checkpoint)) })
                if (file is not null && Path.GetDirectoryName(Path.GetFullPath(file)) is { } folder && !Directory.Exists(folder))
                    throw new UserError($"{flag} {file}: no folder {folder}", ExitCodes.Usage);
            string dbPath = parse.GetValue(db)!;
            ResultsStore.CheckWritable(dbPath);
            var request = new ReDyReproductionRequest(modelPath, spec, data.Read(parse), parse.GetValue(data.Images), parse.GetValue(calibrationImages),
                parse.GetValue(seed), parse.GetValue(batch), parse.GetValue(threads), ReDyReproduction.DefaultSweep,
                parse.GetValue(group) == "ou" ? ReDyGroupScope.OuRows : ReDyGroupScope.ArrayRows, parse.GetValue(checkpoint), parse.GetValue(resume));
            var report = ReDyReproduction.Run(request, new ConsoleProgress(output), cancel);
            TradeOffPlot.Save(report, ReDyReproduction.Family, plotPath, $"ReDy on {spec.Name}: {Path.GetFileName(modelPath)}, {report.Context.TestImages:N0} images");

            var table = new Table().Title($"ReDy on {spec.Name}, {report.Context.TestImages:N0} {report.Context.Dataset} test images")
                .AddColumns("scheme", "accuracy", "OU reads", "energy per image", "energy saving");
            foreach (var row in report.Rows)
                table.AddRow(Markup.Escape(row.Scheme), $"{row.Accuracy:P2}", $"{row.OuReads:N0}", row.EnergyJ is { } e ? $"{e * 1e6:F2} µJ" : "n/a",
                    row.EnergySaving is { } s ? $"{TradeOffPlot.SavingPercent(s):F1} %" : "n/a");
            output.Err.Write(table);
            (long runId, IReadOnlyList<long> ids) stored;
            using (var store = ResultsStore.OpenOrCreate(dbPath))
                stored = store.Append(report, RunProvenance.Now(ReDyReproduction.RunKey(request), ["pimq", .. parse.Tokens.Select(t => t.Value)]));
            var result = ResultJson.Report(report);
            result["ok"] = true;
            result["plot"] = Path.GetFullPath(plotPath);
            result["stored"] = new JsonObject
            {
                ["db"] = Path.GetFullPath(dbPath), ["run_id"] = stored.runId, ["ids"] = new JsonArray([.. stored.ids.Select(i => (JsonNode)i)]),
            };
            output.Result(result, string.Join("; ", report.Context.Notes.Take(1)) + $"; plot {plotPath}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
