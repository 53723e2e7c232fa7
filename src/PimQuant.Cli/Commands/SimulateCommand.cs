using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Engine.Runtime;
using PimQuant.Experiments;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Sim;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary>
/// <c>pimq simulate</c>: the model's accuracy in FP32, as the ideal integer model, and on the simulated
/// crossbar accelerator (bit-serial inputs, weight slices, OU reads, ADCs, non-idealities), with the
/// accelerator's energy, latency, area and figures of merit from the counted events (<see cref="Simulation"/>).
/// </summary>
public static class SimulateCommand
{
    /// <summary>The command.</summary>
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var hw = new Option<string>("--hw") { Description = $"Hardware preset ({string.Join(", ", PresetCatalog.Names)}) or spec YAML file", DefaultValueFactory = _ => "isaac" };
        var (wbits, abits) = CommonOptions.Widths("the spec's defaults.weight_bits", "the spec's defaults.activation_bits");
        var config = new Option<string>("--config") { Description = "A quantization config (YAML) instead of --wbits/--abits" };
        var adcBits = CommonOptions.OptionalInteger("--adc-bits", "ADC resolution overriding the spec's (0 = ideal)", 0, 16);
        var adcStep = new Option<string>("--adc-step") { Description = "ADC step overriding the spec's: unit (count levels), full_range (the largest partial sum on the top code) or calibrated (from calibration data, or learned with --scheme cimq)" };
        adcStep.AcceptOnlyFromAmong("unit", "full_range", "calibrated");
        var adcCalibration = new Option<string>("--adc-calibration") { Description = "A calibrated ADC step per layer or per array (default: the spec's, else layer)" };
        adcCalibration.AcceptOnlyFromAmong("layer", "array");
        var variation = CommonOptions.OptionalReal("--variation", "Programming variation sigma (relative), overriding the spec's", 0, 10);
        var onOff = CommonOptions.OptionalReal("--on-off-ratio", "G_max/G_min overriding the spec's (above 1)", 1, double.MaxValue);
        var sa0 = CommonOptions.OptionalReal("--sa0", "Fraction of cells stuck at the lowest level", 0, 1);
        var sa1 = CommonOptions.OptionalReal("--sa1", "Fraction of cells stuck at the highest level", 0, 1);
        var readNoise = CommonOptions.OptionalReal("--read-noise", "Read noise sigma per partial sum, in levels", 0, 1e6);
        var calibrationImages = CommonOptions.CalibrationImages();
        var path = new Option<string>("--path") { Description = "Simulation path: auto (fastest exact-equivalent per layer), exact, ou-table, bit-count, conductance", DefaultValueFactory = _ => "auto" };
        path.AcceptOnlyFromAmong("auto", "exact", "ou-table", "bit-count", "conductance");
        var data = new DataFlags();
        var scheme = new SchemeFlags();
        var images = data.Images;
        var batch = CommonOptions.BatchSize(256);
        var checkpoint = new Option<string>("--checkpoint") { Description = "Save the progress over the test images to FILE (atomically) every --checkpoint-every batches" };
        var checkpointEvery = CommonOptions.Integer("--checkpoint-every", "Test batches between checkpoints", 1, fallback: 1);
        var resume = new Option<bool>("--resume") { Description = "Continue from the --checkpoint file if it exists" };
        var report = new Option<string>("--output", "-o") { Description = "Also write the JSON result to FILE (atomically)" };
        var db = ResultsCommand.DbOption();

        var command = new Command("simulate", CommonOptions.Help("Accuracy (FP32, ideal integer model, simulated crossbars) and cost (energy, latency, area) of a model on a crossbar accelerator",
            "pimq simulate models/resnet20-fmnist.onnx --hw isaac", "pimq simulate my.onnx --hw neurosim-rram --wbits 4 --abits 4 --adc-bits 5 --variation 0.05", "pimq simulate models/resnet20-fmnist.onnx --hw isaac --scheme redy --redy-heuristic max --redy-threshold 6", "pimq simulate models/resnet20-fmnist-bwq.onnx --hw bwq-h --json"))
        {
            modelPath, hw, wbits, abits, config, adcBits, adcStep, adcCalibration, variation, onOff, sa0, sa1, readNoise, calibrationImages, path,
        };
        data.AddTo(command);
        scheme.AddTo(command);
        foreach (var option in new Option[] { batch, checkpoint, checkpointEvery, resume, report, db, seed, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            if (parse.GetValue(config) is not null && (parse.GetValue(wbits) is not null || parse.GetValue(abits) is not null))
                throw new UserError("--config sets the bit-widths: give either --config or --wbits/--abits", ExitCodes.Usage);
            if (parse.GetValue(resume) && parse.GetValue(checkpoint) is null)
                throw new UserError("--resume continues from a checkpoint: give --checkpoint FILE", ExitCodes.Usage);
            var overrides = new SpecOverrides(parse.GetValue(adcBits), parse.GetValue(variation), parse.GetValue(onOff), parse.GetValue(sa0), parse.GetValue(sa1),
                parse.GetValue(readNoise), parse.GetResult(seed) is { Implicit: false } ? parse.GetValue(seed) : null)
            {
                AdcStep = parse.GetValue(adcStep) switch { "unit" => AdcStepMode.Unit, "full_range" => AdcStepMode.FullRange, "calibrated" => AdcStepMode.Calibrated, _ => null },
                AdcCalibration = parse.GetValue(adcCalibration) switch { "layer" => AdcCalibration.Layer, "array" => AdcCalibration.Array, _ => null },
            };
            var spec = overrides.Apply(HardwareSpecLoader.Load(parse.GetValue(hw)!));
            // An override the spec cannot take is the option's mistake (exit 2), named with the option, before any work.
            if (overrides.Describe() is { Length: > 0 } given)
            {
                try { SimulationPipeline.CheckSpec(spec, parse.GetValue(wbits) ?? spec.Defaults.WeightBits, parse.GetValue(abits) ?? spec.Defaults.ActivationBits); }
                catch (ExperimentException e) { throw new UserError($"{given}: {e.Message}", ExitCodes.Usage); }
            }
            var request = new SimulationRequest(parse.GetValue(modelPath)!, spec, parse.GetValue(wbits), parse.GetValue(abits), parse.GetValue(config),
                data.Read(parse), parse.GetValue(images), parse.GetValue(calibrationImages), parse.GetValue(seed),
                parse.GetValue(batch), parse.GetValue(threads), ParsePath(parse.GetValue(path)!),
                parse.GetValue(checkpoint), parse.GetValue(resume), parse.GetValue(checkpointEvery), scheme.Read(parse));
            // The results database is checked before the run, so a bad one never costs a whole simulation.
            string dbPath = parse.GetValue(db)!;
            ResultsStore.CheckWritable(dbPath);
            var result = Simulation.Run(request, new ConsoleProgress(output), cancel);

            var table = new Table().Title($"{Path.GetFileName(request.Model)} on {spec.Name}, {result.Data.Test.Count:N0} {result.Data.DatasetName} test images")
                .AddColumns("model", "accuracy", "images/s", "cost per image");
            table.AddRow("FP32", $"{result.Fp32.Accuracy:P2}", $"{result.Fp32.ImagesPerSecond:F0}", "");
            table.AddRow($"ideal integer W{result.WeightBits}A{result.ActivationBits}", $"{result.Ideal.Accuracy:P2}", $"{result.Ideal.ImagesPerSecond:F0}", "");
            table.AddRow(Markup.Escape($"{spec.Name} simulated"), $"{result.Simulated.Accuracy:P2}", $"{result.Simulated.ImagesPerSecond:F1}", Markup.Escape(Reports.CostLine(result.Cost)));
            output.Err.Write(table);
            (long runId, IReadOnlyList<long> ids) stored;
            using (var store = ResultsStore.OpenOrCreate(dbPath))
                stored = store.Append(SimulationReport.Of(request, result),
                    RunProvenance.Now(SimulationCheckpoint.RunKey(request), ["pimq", .. parse.Tokens.Select(t => t.Value)]));
            var resultJson = Json(request, result);
            resultJson["stored"] = new JsonObject
            {
                ["db"] = Path.GetFullPath(dbPath), ["run_id"] = stored.runId, ["ids"] = new JsonArray([.. stored.ids.Select(i => (JsonNode)i)]),
            };
            if (parse.GetValue(report) is { } file) AtomicFile.WriteAllText(file, resultJson.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            output.Result(resultJson, $"FP32 {result.Fp32.Accuracy:P2}, ideal integer {result.Ideal.Accuracy:P2}, {spec.Name} simulated {result.Simulated.Accuracy:P2}; {Reports.CostLine(result.Cost)}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The JSON report of a simulation: what ran, the three accuracies, the resolved preprocessing, per-layer events, the cost,
    /// and the run as the common result report (docs/results.md).</summary>
    internal static JsonObject Json(SimulationRequest request, SimulationResult result) => new()
    {
        ["ok"] = true,
        ["model"] = Path.GetFullPath(request.Model),
        ["hw"] = request.Spec.Name,
        ["hw_origin"] = request.Spec.Origin,
        ["method"] = request.Method?.Label ?? "conventional",
        ["dataset"] = result.Data.DatasetName,
        ["preprocessing"] = Reports.PreprocessingJson(result.Data.Preprocessing),
        ["test_images"] = result.Data.Test.Count,
        ["weight_bits"] = result.WeightBits,
        ["activation_bits"] = result.ActivationBits,
        ["adc_bits"] = request.Spec.Adc.Bits,
        ["variation"] = request.Spec.NonIdealities.Variation.Sigma,
        ["seed"] = request.Seed,
        ["threads"] = request.Threads,
        ["fp32_accuracy"] = result.Fp32.Accuracy,
        ["ideal_integer_accuracy"] = result.Ideal.Accuracy,
        ["simulated_accuracy"] = result.Simulated.Accuracy,
        ["checkpoint"] = request.Checkpoint is { } c ? Path.GetFullPath(c) : null,
        ["resumed_from_image"] = result.ResumedFromImage,
        ["seconds"] = new JsonObject { ["fp32"] = result.Fp32.Seconds, ["ideal_integer"] = result.Ideal.Seconds, ["program"] = result.ProgramSeconds, ["simulated"] = result.Simulated.Seconds },
        ["layers"] = new JsonArray(result.Layers.Zip(result.Events, (l, events) => (JsonNode)new JsonObject
        {
            ["name"] = l.Name,
            ["lossless"] = l.IsLossless,
            ["path"] = l.Groups[0].DefaultPath.ToString(),
            ["adc_steps"] = new JsonArray(l.Groups.SelectMany(g => g.Steps).Distinct().Select(s => (JsonNode)s).ToArray()),
            ["ou_reads"] = events.OuReads,
            ["zero_input_reads"] = events.ZeroInputReads,
            ["adc_conversions"] = events.AdcConversions,
        }).ToArray()),
        ["cost"] = Reports.CostJson(result.Cost),
        ["cost_unavailable"] = result.Cost.Unavailable,
        ["report"] = ResultJson.Report(SimulationReport.Of(request, result)),
    };

    private static SimulationPath? ParsePath(string name) => name switch
    {
        "exact" => SimulationPath.Exact,
        "ou-table" => SimulationPath.OuTable,
        "bit-count" => SimulationPath.BitCount,
        "conductance" => SimulationPath.Conductance,
        _ => null,
    };
}
