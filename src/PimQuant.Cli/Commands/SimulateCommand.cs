using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Accelerator;
using PimQuant.Cli.Terminal;
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

        var command = new Command("simulate", "Accuracy (FP32, ideal integer model, simulated crossbars) and cost (energy, latency, area) of a model on a crossbar accelerator")
        {
            modelPath, hw, wbits, abits, config, adcBits, variation, onOff, sa0, sa1, readNoise, images, calibrationImages, path, dataset, data, batch, seed, threads, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            if (parse.GetValue(config) is not null && (parse.GetValue(wbits) is not null || parse.GetValue(abits) is not null))
                throw new UserError("--config sets the bit-widths: give either --config or --wbits/--abits", ExitCodes.Usage);
            var overrides = new SpecOverrides(parse.GetValue(adcBits), parse.GetValue(variation), parse.GetValue(onOff), parse.GetValue(sa0), parse.GetValue(sa1),
                parse.GetValue(readNoise), parse.GetResult(seed) is { Implicit: false } ? parse.GetValue(seed) : null);
            var spec = overrides.Apply(HardwareSpecLoader.Load(parse.GetValue(hw)!));
            var request = new SimulationRequest(parse.GetValue(modelPath)!, spec, parse.GetValue(wbits), parse.GetValue(abits), parse.GetValue(config),
                parse.GetValue(dataset), parse.GetValue(data), parse.GetValue(images), parse.GetValue(calibrationImages), parse.GetValue(seed),
                parse.GetValue(batch), parse.GetValue(threads), ParsePath(parse.GetValue(path)!));
            var result = Simulate(request, output, cancel);

            var table = new Table().Title($"{Path.GetFileName(request.Model)} on {spec.Name}, {result.Images:N0} {result.Dataset} test images")
                .AddColumns("model", "accuracy", "images/s", "cost per image");
            table.AddRow("FP32", $"{result.Fp32.Accuracy:P2}", $"{result.Fp32.ImagesPerSecond:F0}", "");
            table.AddRow($"ideal integer W{result.WeightBits}A{result.ActivationBits}", $"{result.Ideal.Accuracy:P2}", $"{result.Ideal.ImagesPerSecond:F0}", "");
            table.AddRow(Markup.Escape($"{spec.Name} simulated"), $"{result.Simulated.Accuracy:P2}", $"{result.Simulated.ImagesPerSecond:F1}", Markup.Escape(SimulationPipeline.CostLine(result.Cost)));
            output.Err.Write(table);
            output.Result(result.Json(request), $"FP32 {result.Fp32.Accuracy:P2}, ideal integer {result.Ideal.Accuracy:P2}, {spec.Name} simulated {result.Simulated.Accuracy:P2}; {SimulationPipeline.CostLine(result.Cost)}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Everything one simulation needs.</summary>
    internal sealed record SimulationRequest(string Model, HardwareSpec Spec, int? WeightBits, int? ActivationBits, string? ConfigPath, string? Dataset,
        DirectoryInfo? Data, int? Images, int CalibrationImages, long Seed, int BatchSize, int Threads, SimulationPath? Path);

    /// <summary>The three accuracies, the cost and what produced them.</summary>
    internal sealed record SimulationResult(string Dataset, int Images, int WeightBits, int ActivationBits, PimQuant.Training.EvaluationResult Fp32,
        PimQuant.Training.EvaluationResult Ideal, PimQuant.Training.EvaluationResult Simulated, SimulationCost Cost, IReadOnlyList<CrossbarLayer> Layers, double ProgramSeconds)
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
            ["seconds"] = new JsonObject { ["fp32"] = Fp32.Seconds, ["ideal_integer"] = Ideal.Seconds, ["program"] = ProgramSeconds, ["simulated"] = Simulated.Seconds },
            ["layers"] = new JsonArray(Layers.Select(l => (JsonNode)new JsonObject
            {
                ["name"] = l.Name,
                ["lossless"] = l.IsLossless,
                ["path"] = l.Groups[0].DefaultPath.ToString(),
                ["adc_steps"] = new JsonArray(l.Groups.SelectMany(g => g.Steps).Distinct().Select(s => (JsonNode)s).ToArray()),
                ["ou_reads"] = l.Events.OuReads,
                ["zero_input_reads"] = l.Events.ZeroInputReads,
                ["adc_conversions"] = l.Events.AdcConversions,
            }).ToArray()),
            ["cost"] = SimulationPipeline.CostJson(Cost),
            ["cost_unavailable"] = Cost.Unavailable,
        };
    }

    /// <summary>FP32, ideal integer and simulated accuracy on the same test images, and the simulated cost.</summary>
    internal static SimulationResult Simulate(SimulationRequest request, Output output, CancellationToken cancel)
    {
        QuantConfig? config = null;
        if (request.ConfigPath is { } file)
        {
            try { config = QuantConfigLoader.LoadFile(file); }
            catch (QuantConfigException e) { throw new UserError(e.Message); }
        }
        using var scope = NewDisposeScope();
        using var session = SimulationSession.Open(request.Model, request.Dataset, request.Data, request.Images,
            config ?? SimulationPipeline.Config(request.WeightBits ?? request.Spec.Defaults.WeightBits, request.ActivationBits ?? request.Spec.Defaults.ActivationBits),
            request.CalibrationImages, request.Seed, request.BatchSize, output, cancel);
        var run = session.Run(request.Spec, new SimulationOptions { Configuration = new SimConfiguration { MaxDegreeOfParallelism = request.Threads }, Path = request.Path }, output, cancel);
        return new SimulationResult(session.DatasetName, session.Test.Count, run.Crossbars.Config.WeightBits, run.Crossbars.Config.ActivationBits,
            session.Fp32, session.Ideal, run.Simulated, run.Cost, run.Crossbars.Layers, run.ProgramSeconds);
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
