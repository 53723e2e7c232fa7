using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Accelerator;
using PimQuant.Cli.Terminal;
using PimQuant.Engine.Runtime;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Ptq;
using PimQuant.Sim;
using Spectre.Console;
using static TorchSharp.torch;

namespace PimQuant.Cli.Commands;

/// <summary>
/// <c>pimq simulate</c>: the model's accuracy in FP32, as the ideal integer model, and on the simulated
/// crossbar accelerator (bit-serial inputs, weight slices, OU reads, ADCs, non-idealities), with the
/// accelerator's energy, latency, area and figures of merit from the counted events.
/// </summary>
public static class SimulateCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var hw = new Option<string>("--hw") { Description = $"Hardware preset ({string.Join(", ", PresetCatalog.Names)}) or spec YAML file", DefaultValueFactory = _ => "isaac" };
        var wbits = Bits("--wbits", "Weight bits (signed, narrow range, per output channel; default: the spec's defaults.weight_bits)", 2, 16);
        var abits = Bits("--abits", "Activation bits (per tensor; default: the spec's defaults.activation_bits)", 1, 8);
        var config = new Option<string>("--config") { Description = "A quantization config (YAML) instead of --wbits/--abits" };
        var adcBits = Bits("--adc-bits", "ADC resolution overriding the spec's (0 = ideal)", 0, 16);
        var variation = Fraction("--variation", "Programming variation sigma (relative), overriding the spec's", 10);
        var onOff = new Option<double?>("--on-off-ratio")
        {
            Description = "G_max/G_min overriding the spec's",
            Validators = { r => { if (r.GetValueOrDefault<double?>() is { } v && !(v > 1 && double.IsFinite(v))) r.AddError("--on-off-ratio must be a finite number above 1"); } },
        };
        var sa0 = Fraction("--sa0", "Fraction of cells stuck at the lowest level", 1);
        var sa1 = Fraction("--sa1", "Fraction of cells stuck at the highest level", 1);
        var readNoise = Fraction("--read-noise", "Read noise sigma per partial sum, in levels", 1e6);
        var images = new Option<int?>("--images") { Description = "Simulate the first N test images (default: all)", Validators = { r => { if (r.GetValueOrDefault<int?>() < 1) r.AddError("--images must be at least 1"); } } };
        var calibrationImages = QuantizeCommand.CalibrationImagesOption();
        var path = new Option<string>("--path") { Description = "Simulation path: auto (fastest exact-equivalent per layer), exact, ou-table, bit-count, conductance", DefaultValueFactory = _ => "auto" };
        path.AcceptOnlyFromAmong("auto", "exact", "ou-table", "bit-count", "conductance");
        var dataset = CommonOptions.Dataset();
        dataset.AcceptOnlyFromAmong(Workspace.KnownDatasets);
        var data = CommonOptions.Data();
        var batch = CommonOptions.BatchSize(256);
        var checkpoint = new Option<string>("--checkpoint") { Description = "Save the progress over the test images to FILE (atomically) every --checkpoint-every batches" };
        var checkpointEvery = new Option<int>("--checkpoint-every")
        {
            Description = "Test batches between checkpoints",
            DefaultValueFactory = _ => 1,
            Validators = { r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--checkpoint-every must be at least 1"); } },
        };
        var resume = new Option<bool>("--resume") { Description = "Continue from the --checkpoint file if it exists" };
        var report = new Option<string>("--output", "-o") { Description = "Also write the JSON result to FILE (atomically)" };

        var command = new Command("simulate", "Accuracy (FP32, ideal integer model, simulated crossbars) and cost (energy, latency, area) of a model on a crossbar accelerator")
        {
            modelPath, hw, wbits, abits, config, adcBits, variation, onOff, sa0, sa1, readNoise, images, calibrationImages, path, dataset, data, batch,
            checkpoint, checkpointEvery, resume, report, seed, threads, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            if (parse.GetValue(config) is not null && (parse.GetValue(wbits) is not null || parse.GetValue(abits) is not null))
                throw new UserError("--config sets the bit-widths: give either --config or --wbits/--abits", ExitCodes.Usage);
            if (parse.GetValue(resume) && parse.GetValue(checkpoint) is null)
                throw new UserError("--resume continues from a checkpoint: give --checkpoint FILE", ExitCodes.Usage);
            var overrides = new SpecOverrides(parse.GetValue(adcBits), parse.GetValue(variation), parse.GetValue(onOff), parse.GetValue(sa0), parse.GetValue(sa1),
                parse.GetValue(readNoise), parse.GetResult(seed) is { Implicit: false } ? parse.GetValue(seed) : null);
            var spec = overrides.Apply(HardwareSpecLoader.Load(parse.GetValue(hw)!));
            var request = new SimulationRequest(parse.GetValue(modelPath)!, spec, parse.GetValue(wbits), parse.GetValue(abits), parse.GetValue(config),
                parse.GetValue(dataset), parse.GetValue(data), parse.GetValue(images), parse.GetValue(calibrationImages), parse.GetValue(seed),
                parse.GetValue(batch), parse.GetValue(threads), ParsePath(parse.GetValue(path)!),
                parse.GetValue(checkpoint), parse.GetValue(resume), parse.GetValue(checkpointEvery));
            var result = Simulate(request, output, cancel);

            var table = new Table().Title($"{Path.GetFileName(request.Model)} on {spec.Name}, {result.Images:N0} {result.Dataset} test images")
                .AddColumns("model", "accuracy", "images/s", "cost per image");
            table.AddRow("FP32", $"{result.Fp32.Accuracy:P2}", $"{result.Fp32.ImagesPerSecond:F0}", "");
            table.AddRow($"ideal integer W{result.WeightBits}A{result.ActivationBits}", $"{result.Ideal.Accuracy:P2}", $"{result.Ideal.ImagesPerSecond:F0}", "");
            table.AddRow(Markup.Escape($"{spec.Name} simulated"), $"{result.Simulated.Accuracy:P2}", $"{result.Simulated.ImagesPerSecond:F1}", Markup.Escape(SimulationPipeline.CostLine(result.Cost)));
            output.Err.Write(table);
            var resultJson = result.Json(request);
            if (parse.GetValue(report) is { } file) AtomicFile.WriteAllText(file, resultJson.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            output.Result(resultJson, $"FP32 {result.Fp32.Accuracy:P2}, ideal integer {result.Ideal.Accuracy:P2}, {spec.Name} simulated {result.Simulated.Accuracy:P2}; {SimulationPipeline.CostLine(result.Cost)}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Everything one simulation needs; with <paramref name="Checkpoint"/> its progress is saved there every
    /// <paramref name="CheckpointEvery"/> batches and, with <paramref name="Resume"/>, continued from it.</summary>
    internal sealed record SimulationRequest(string Model, HardwareSpec Spec, int? WeightBits, int? ActivationBits, string? ConfigPath, string? Dataset,
        DirectoryInfo? Data, int? Images, int CalibrationImages, long Seed, int BatchSize, int Threads, SimulationPath? Path,
        string? Checkpoint = null, bool Resume = false, int CheckpointEvery = 1);

    /// <summary>The three accuracies, the cost and what produced them.</summary>
    internal sealed record SimulationResult(string Dataset, int Images, int WeightBits, int ActivationBits, PimQuant.Training.EvaluationResult Fp32,
        PimQuant.Training.EvaluationResult Ideal, PimQuant.Training.EvaluationResult Simulated, SimulationCost Cost, IReadOnlyList<CrossbarLayer> Layers,
        IReadOnlyList<LayerEvents> Events, double ProgramSeconds, int ResumedFromImage)
    {
        public JsonObject Json(SimulationRequest request) => new()
        {
            ["ok"] = true,
            ["model"] = System.IO.Path.GetFullPath(request.Model),
            ["hw"] = request.Spec.Name,
            ["hw_origin"] = request.Spec.Origin,
            ["dataset"] = Dataset,
            ["test_images"] = Images,
            ["weight_bits"] = WeightBits,
            ["activation_bits"] = ActivationBits,
            ["adc_bits"] = request.Spec.Adc.Bits,
            ["variation"] = request.Spec.NonIdealities.Variation.Sigma,
            ["seed"] = request.Seed,
            ["threads"] = request.Threads,
            ["fp32_accuracy"] = Fp32.Accuracy,
            ["ideal_integer_accuracy"] = Ideal.Accuracy,
            ["simulated_accuracy"] = Simulated.Accuracy,
            ["checkpoint"] = request.Checkpoint is { } c ? System.IO.Path.GetFullPath(c) : null,
            ["resumed_from_image"] = ResumedFromImage,
            ["seconds"] = new JsonObject { ["fp32"] = Fp32.Seconds, ["ideal_integer"] = Ideal.Seconds, ["program"] = ProgramSeconds, ["simulated"] = Simulated.Seconds },
            ["layers"] = new JsonArray(Layers.Zip(Events, (l, events) => (JsonNode)new JsonObject
            {
                ["name"] = l.Name,
                ["lossless"] = l.IsLossless,
                ["path"] = l.Groups[0].DefaultPath.ToString(),
                ["adc_steps"] = new JsonArray(l.Groups.SelectMany(g => g.Steps).Distinct().Select(s => (JsonNode)s).ToArray()),
                ["ou_reads"] = events.OuReads,
                ["zero_input_reads"] = events.ZeroInputReads,
                ["adc_conversions"] = events.AdcConversions,
            }).ToArray()),
            ["cost"] = SimulationPipeline.CostJson(Cost),
            ["cost_unavailable"] = Cost.Unavailable,
        };
    }

    /// <summary>FP32, ideal integer and simulated accuracy on the same test images, and the simulated cost; with
    /// <see cref="SimulationRequest.Checkpoint"/>, <paramref name="saved"/> is called after each checkpoint is saved
    /// (tests stop a run there).</summary>
    internal static SimulationResult Simulate(SimulationRequest request, Output output, CancellationToken cancel, Action<SimulationCheckpoint>? saved = null)
    {
        QuantConfig? config = null;
        if (request.ConfigPath is { } file)
        {
            try { config = QuantConfigLoader.LoadFile(file); }
            catch (QuantConfigException e) { throw new UserError(e.Message); }
        }
        var checkpoint = CheckpointPolicy(request, output, saved);
        using var scope = NewDisposeScope();
        using var session = SimulationSession.Open(request.Model, request.Dataset, request.Data, request.Images,
            config ?? SimulationPipeline.Config(request.WeightBits ?? request.Spec.Defaults.WeightBits, request.ActivationBits ?? request.Spec.Defaults.ActivationBits),
            request.CalibrationImages, request.Seed, request.BatchSize, output, cancel, HardwareCapabilities.Of(request.Spec));
        var run = session.Run(request.Spec, new SimulationOptions { Configuration = new SimConfiguration { MaxDegreeOfParallelism = request.Threads }, Path = request.Path },
            output, cancel, checkpoint);
        return new SimulationResult(session.DatasetName, session.Test.Count, run.Crossbars.Config.WeightBits, run.Crossbars.Config.ActivationBits,
            session.Fp32, session.Ideal, run.Simulated, run.Cost, run.Crossbars.Layers, run.Events, run.ProgramSeconds, run.ResumedFromImage);
    }

    /// <summary>
    /// The checkpoint policy of <paramref name="request"/>: none without --checkpoint; with --resume and an
    /// existing file, the checkpoint read and checked against this run's key before any work is done.
    /// </summary>
    private static SimulationCheckpointPolicy? CheckpointPolicy(SimulationRequest request, Output output, Action<SimulationCheckpoint>? saved)
    {
        if (request.Checkpoint is not { } path) return null;
        if (!File.Exists(request.Model)) throw new UserError($"{request.Model}: no such file");
        var key = SimulationCheckpoint.RunKey(request);
        SimulationCheckpoint? from = null;
        if (request.Resume && File.Exists(path))
            from = SimulationCheckpoint.Load(path, key);
        else if (request.Resume)
            output.Log($"no checkpoint at {path}; starting from the first image");
        return new SimulationCheckpointPolicy(path, request.CheckpointEvery, key, from, saved);
    }

    private static SimulationPath? ParsePath(string name) => name switch
    {
        "exact" => SimulationPath.Exact,
        "ou-table" => SimulationPath.OuTable,
        "bit-count" => SimulationPath.BitCount,
        "conductance" => SimulationPath.Conductance,
        _ => null,
    };

    private static Option<int?> Bits(string name, string description, int min, int max) => new(name)
    {
        Description = description,
        Validators = { r => { if (r.GetValueOrDefault<int?>() is { } v && (v < min || v > max)) r.AddError($"{name} must lie in [{min}, {max}]"); } },
    };

    private static Option<double?> Fraction(string name, string description, double max) => new(name)
    {
        Description = description,
        Validators = { r => { if (r.GetValueOrDefault<double?>() is { } v && !(v >= 0 && v <= max)) r.AddError($"{name} must lie in [0, {max}]"); } },
    };
}
