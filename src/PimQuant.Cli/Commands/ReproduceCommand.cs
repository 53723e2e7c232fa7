using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using System.Globalization;
using PimQuant.Experiments.Report;
using PimQuant.Methods.Bwq;
using PimQuant.Methods.Cimq;
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
        command.Subcommands.Add(Cimq());
        command.Subcommands.Add(Bwq());
        return command;
    }

    private static Command Bwq()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var model = new Option<string>("--model") { Description = "The trained ONNX model (default: the embedded ResNet-20 on Fashion-MNIST)" };
        var output = new Option<string>("--output", "-o") { Description = "Where BWQ-A writes its model (ONNX QDQ; default MODEL-bwq.onnx in the current folder)" };
        var trained = new Option<bool>("--trained") { Description = "Skip BWQ-A: simulate the BWQ model --output names (e.g. models/resnet20-fmnist-bwq.onnx)" };
        var bwq = new BwqFlags();
        var data = new DataFlags();
        var calibrationImages = CommonOptions.CalibrationImages();
        var db = ResultsCommand.DbOption();
        var command = new Command("bwq", CommonOptions.Help("BWQ: BWQ-A (bit planes, block group lasso, alpha and activation-bit search) on the model, then FP32, isaac and isaac-ou " +
            "W8A8 and BWQ on bwq-h, against isaac-ou; docs/methods/bwq.md. --epochs is per step; the weight decay defaults to 0 (the lasso regularises)",
            "pimq reproduce bwq", "pimq reproduce bwq --model vgg8-fmnist.onnx --epochs 2 --images 2000 --json", "pimq reproduce bwq --trained -o models/resnet20-fmnist-bwq.onnx"))
        {
            model, output, trained,
        };
        bwq.AddTo(command);
        data.AddTo(command);
        foreach (var option in new Option[] { calibrationImages, db, seed, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output2, cancel) =>
        {
            string modelPath = parse.GetValue(model) ?? Workspace.DefaultModel;
            string outPath = parse.GetValue(output) ?? Path.GetFileNameWithoutExtension(modelPath) + "-bwq.onnx";
            BwqFlags.CheckOutputFolder(outPath);
            string dbPath = parse.GetValue(db)!;
            ResultsStore.CheckWritable(dbPath);
            var (options, trainingOptions) = bwq.Read(parse, parse.GetValue(seed));
            var request = new BwqReproductionRequest(modelPath, data.Read(parse), parse.GetValue(data.Images), parse.GetValue(calibrationImages),
                parse.GetValue(seed), 256, parse.GetValue(threads), options, trainingOptions, outPath, bwq.StepsPath(parse, outPath),
                parse.GetValue(bwq.TrainingFlags.Resume), parse.GetValue(trained), string.Join(' ', ["pimq", .. parse.Tokens.Select(t => t.Value)]));
            var result = BwqReproduction.Run(request, new ConsoleProgress(output2), null, cancel);
            var report = result.Report;

            var table = new Table().Title($"BWQ, {report.Context.TestImages:N0} {report.Context.Dataset} test images")
                .AddColumns("scheme", "accuracy", "weight bits", "act bits", "OU reads", "ADC conv.", "energy per image", "latency", "speedup", "energy saving");
            foreach (var row in report.Rows)
                table.AddRow(Markup.Escape(row.Scheme), $"{row.Accuracy:P2}", $"{row.AvgWeightBits:F2}", $"{row.AvgActivationBits:F2}", row.OuReads is { } r ? $"{r:N0}" : "",
                    row.AdcConversions is { } c ? $"{c:N0}" : "", row.EnergyJ is { } e ? $"{e * 1e6:F2} µJ" : "", row.LatencyS is { } l ? $"{l * 1e6:F1} µs" : "",
                    row.Speedup is { } x ? $"{x:F2}×" : "", row.EnergySaving is { } es ? $"{es:F2}×" : "");
            output2.Err.Write(table);
            foreach (var note in report.Context.Notes) output2.Err.WriteLine(note);
            var json2 = Stored(report, BwqReproduction.RunKey(request), dbPath, null, parse);
            json2["bwq_model"] = Path.GetFullPath(outPath);
            if (result.Training is { } t) json2["bwq_a"] = BwqFlags.Log(t);
            output2.Result(json2, string.Join("; ", report.Context.Notes.Skip(1).Take(2)));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Cimq()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var model = new Option<string>("--model") { Description = "The ONNX model (default: the embedded ResNet-20 on Fashion-MNIST)" };
        var hw = new Option<string>("--hw") { Description = "Comma-separated presets or spec files, the first the baseline's (e.g. isaac,neurosim-rram)", DefaultValueFactory = _ => "isaac" };
        var adcBits = new Option<string>("--adc-bits") { Description = "Comma-separated ADC resolutions", DefaultValueFactory = _ => string.Join(",", CimqReproduction.DefaultAdcBits) };
        var widths = new Option<string>("--widths") { Description = "Comma-separated weight/activation widths as wWaA, the first the baseline's", DefaultValueFactory = _ => "w8a8,w4a4" };
        var variants = new Option<string>("--variants")
        {
            Description = $"Comma-separated rows per resolution: {string.Join(", ", CimqReproduction.VariantNames)} (cimq: every part but array; all-parts: all four; the others: conventional, or one part alone)",
            DefaultValueFactory = _ => string.Join(",", CimqReproduction.DefaultVariants),
        };
        var data = new DataFlags($"the first {CimqReproduction.DefaultImages:N0}");
        var batch = CommonOptions.BatchSize(256);
        var calibrationImages = CommonOptions.CalibrationImages();
        var checkpoint = new Option<string>("--checkpoint") { Description = "Save the rows done to FILE (atomically) after each scheme; an existing checkpoint of the same run is resumed" };
        var plot = new Option<string>("--plot") { Description = "Write the accuracy against ADC bits plot to FILE (PNG)", DefaultValueFactory = _ => "cimq.png" };
        var db = ResultsCommand.DbOption();
        var command = new Command("cimq", CommonOptions.Help("CIMQ: conventional quantization against CIMQ and each of its parts across ADC resolutions, widths and hardware; docs/methods/cimq.md",
            "pimq reproduce cimq", "pimq reproduce cimq --hw isaac --adc-bits 4,5,8 --widths w8a8 --variants conventional,clip,cimq --images 1000 --checkpoint cimq.rows"))
        {
            model, hw, adcBits, widths, variants,
        };
        data.AddTo(command);
        foreach (var option in new Option[] { batch, calibrationImages, checkpoint, plot, db, seed, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            var specs = parse.GetValue(hw)!.Split(',', StringSplitOptions.TrimEntries).Select(HardwareSpecLoader.Load).ToList();
            var bits = parse.GetValue(adcBits)!.Split(',', StringSplitOptions.TrimEntries)
                .Select(b => int.TryParse(b, CultureInfo.InvariantCulture, out int v) && v is >= 1 and <= 16 ? v : throw new UserError($"--adc-bits: '{b}' is not a resolution of 1..16 bits", ExitCodes.Usage)).ToList();
            var pairs = parse.GetValue(widths)!.Split(',', StringSplitOptions.TrimEntries).Select(Widths).ToList();
            string modelPath = parse.GetValue(model) ?? Workspace.DefaultModel;
            string plotPath = parse.GetValue(plot)!;
            foreach (var (flag, file) in new[] { ("--plot", plotPath), ("--checkpoint", parse.GetValue(checkpoint)) })
                if (file is not null && Path.GetDirectoryName(Path.GetFullPath(file)) is { } folder && !Directory.Exists(folder))
                    throw new UserError($"{flag} {file}: no folder {folder}", ExitCodes.Usage);
            string dbPath = parse.GetValue(db)!;
            ResultsStore.CheckWritable(dbPath);
            var request = new CimqReproductionRequest(modelPath, data.Read(parse), parse.GetValue(data.Images) ?? CimqReproduction.DefaultImages, parse.GetValue(calibrationImages),
                parse.GetValue(seed), parse.GetValue(batch), parse.GetValue(threads), specs, bits, pairs,
                parse.GetValue(variants)!.Split(',', StringSplitOptions.TrimEntries), parse.GetValue(checkpoint));
            ComparisonReport comparison;
            try { comparison = CimqReproduction.Run(request, new ConsoleProgress(output), cancel); }
            catch (ArgumentException e) { throw new UserError(e.Message, ExitCodes.Usage); }
            var report = comparison.Results;
            CimqReproduction.SavePlot(report, plotPath, $"CIMQ: {Path.GetFileName(modelPath)}, {report.Context.TestImages:N0} images");

            var table = new Table().Title($"CIMQ, {report.Context.TestImages:N0} {report.Context.Dataset} test images")
                .AddColumns("scheme", "ADC", "accuracy", "OU reads", "energy per image", "TOPS/W", "area mm²", "TOPS/W/mm² ×");
            double? reference = CimqReproduction.Efficiency(report.Rows[0]);
            foreach (var row in report.Rows)
                table.AddRow(Markup.Escape(row.Scheme), $"{row.AdcBits}", $"{row.Accuracy:P2}", $"{row.OuReads:N0}", row.EnergyJ is { } e ? $"{e * 1e6:F2} µJ" : "n/a",
                    row.TopsPerW is { } t ? $"{t:F2}" : "n/a", row.AreaMm2 is { } a ? $"{a:F1}" : "n/a",
                    CimqReproduction.Efficiency(row) is { } x && reference is { } r ? $"{x / r:F2}" : "n/a");
            output.Err.Write(table);
            foreach (var note in report.Context.Notes) output.Err.WriteLine(note);
            var key = Comparison.RunKey(new ComparisonRequest(modelPath, CimqReproduction.Schemes(request), request.Data,
                request.Images, request.CalibrationImages, request.Seed, request.BatchSize, request.Threads, Command: CimqReproduction.Command));
            output.Result(Stored(report, key, dbPath, plotPath, parse), string.Join("; ", report.Context.Notes.Take(2)) + $"; plot {plotPath}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Appends <paramref name="report"/>'s rows to the results database under <paramref name="key"/> and returns the
    /// command's JSON: the report, the plot written (when there is one) and where the rows were stored.</summary>
    private static JsonObject Stored(ResultReport report, IReadOnlyList<KeyValuePair<string, string>> key, string dbPath, string? plotPath, ParseResult parse)
    {
        (long runId, IReadOnlyList<long> ids) stored;
        using (var store = ResultsStore.OpenOrCreate(dbPath))
            stored = store.Append(report, RunProvenance.Now(key, ["pimq", .. parse.Tokens.Select(t => t.Value)]));
        var result = ResultJson.Report(report);
        result["ok"] = true;
        if (plotPath is not null) result["plot"] = Path.GetFullPath(plotPath);
        result["stored"] = new JsonObject
        {
            ["db"] = Path.GetFullPath(dbPath), ["run_id"] = stored.runId, ["ids"] = new JsonArray([.. stored.ids.Select(i => (JsonNode)i)]),
        };
        return result;
    }

    /// <summary>A width pair written as wWaA (w8a8).</summary>
    private static (int, int) Widths(string word)
    {
        var parts = word.TrimStart('w').Split('a');
        if (word.StartsWith('w') && parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int w) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int a)
            && w is >= 2 and <= 16 && a is >= 1 and <= 8)
            return (w, a);
        throw new UserError($"--widths: '{word}' is not a width pair such as w8a8 (weights 2..16, activations 1..8 bits)", ExitCodes.Usage);
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
        var command = new Command("redy", CommonOptions.Help("ReDy: static 8-bit activations against run-time dynamic precision (lossless rule and heuristic sweeps); docs/methods/redy.md",
            "pimq reproduce redy", "pimq reproduce redy --hw isaac-ou --redy-group ou --checkpoint redy.rows --resume --json"))
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
            output.Result(Stored(report, ReDyReproduction.RunKey(request), dbPath, plotPath, parse), string.Join("; ", report.Context.Notes.Take(1)) + $"; plot {plotPath}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
