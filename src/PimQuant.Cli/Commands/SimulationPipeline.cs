using System.Globalization;
using System.Text.Json.Nodes;
using PimQuant.Accelerator;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using Spectre.Console;
using static TorchSharp.torch;

namespace PimQuant.Cli.Commands;

/// <summary>The spec overrides of <c>pimq simulate</c>; null keeps the spec's value.</summary>
internal sealed record SpecOverrides(int? AdcBits = null, double? Variation = null, double? OnOffRatio = null, double? StuckAtZero = null,
    double? StuckAtOne = null, double? ReadNoise = null, long? Seed = null)
{
    /// <summary>The spec with these values (each range-checked here and again when the crossbar is built).</summary>
    public HardwareSpec Apply(HardwareSpec spec)
    {
        var ni = spec.NonIdealities;
        return spec with
        {
            Adc = AdcBits is { } bits ? spec.Adc with { Bits = bits } : spec.Adc,
            NonIdealities = ni with
            {
                Variation = Variation is { } sigma ? ni.Variation with { Sigma = sigma, SigmaPerLevel = null } : ni.Variation,
                OnOffRatio = OnOffRatio ?? ni.OnOffRatio,
                Saf = new StuckAtFaults(StuckAtZero ?? ni.Saf.Sa0, StuckAtOne ?? ni.Saf.Sa1),
                ReadNoise = ReadNoise ?? ni.ReadNoise,
                Seed = Seed ?? ni.Seed,
            },
        };
    }
}

/// <summary>
/// The steps every crossbar run shares (simulate, demo, bench sim): post-training quantization of the
/// folded model at the requested widths (the ISAAC-style W/A config of configs/w8a8-per-channel.yaml with
/// the widths substituted, or a given config), calibration of the ADC steps, and the crossbar model.
/// </summary>
internal static class SimulationPipeline
{
    /// <summary>The quantization config for <paramref name="weightBits"/>-bit weights (signed, narrow range, per
    /// output channel) and <paramref name="activationBits"/>-bit activations (per tensor, 99.99th percentile,
    /// signed only where the input can be negative).</summary>
    public static QuantConfig Config(int weightBits, int activationBits) => QuantConfigLoader.Parse(string.Format(CultureInfo.InvariantCulture, """
        version: 1
        default:
          weight: {{format: int, bits: {0}, signed: true, narrow_range: true, granularity: channel, observer: minmax, scale: float, rounding: nearest}}
          activation: {{format: int, bits: {1}, signed: auto, granularity: tensor, observer: {{kind: percentile, percentile: 99.99}}, scale: float, rounding: nearest}}
        """, weightBits, activationBits), $"--wbits {weightBits} --abits {activationBits}");

    /// <summary>Folds batch norms, builds the quantizers and calibrates them on <paramref name="calibration"/>
    /// (plain rounding, no bias correction: the integer model the hardware runs).</summary>
    public static QuantizedModel Quantize(ModelGraph graph, QuantConfig config, Tensor calibration, long seed, Output output, CancellationToken cancel)
    {
        var model = QuantizeCommand.Build(graph, config, seed);
        QuantizeCommand.RunWithProgress(output, "calibrating", progress =>
            PostTrainingQuantization.Run(model, calibration, new PtqOptions { BiasCorrection = false, Seed = seed }, progress, cancel));
        return model;
    }

    /// <summary>Calibration images whose simulated partial sums set calibrated ADC steps (each layer samples
    /// <see cref="SimulationOptions.AdcCalibrationPixels"/> input vectors from them).</summary>
    public const int AdcCalibrationImages = 64;

    /// <summary>Programs the crossbars and calibrates their ADC steps on the first images of <paramref name="calibration"/>.</summary>
    public static CrossbarModel Program(QuantizedModel model, HardwareSpec spec, SimulationOptions options, Tensor calibration, Output output)
    {
        var crossbars = CrossbarModel.Program(model, spec, options);
        if (spec.Adc.Step == AdcStepMode.Calibrated && !spec.Adc.IsIdeal)
        {
            output.Log($"calibrating the ADC steps ({spec.Adc.Calibration?.ToString().ToLowerInvariant()}) on {Math.Min(AdcCalibrationImages, calibration.shape[0])} calibration images");
            using var scope = NewDisposeScope();
            crossbars.CalibrateAdc(calibration.narrow(0, 0, Math.Min(AdcCalibrationImages, calibration.shape[0])));
        }
        return crossbars;
    }

    /// <summary>The seeded calibration images: from the training split, or where it is absent from the
    /// shipped copy of the default choice (data/NAME/calibration-seed0-1024-images-idx3-ubyte.gz: the same
    /// images <see cref="CalibrationSplit.Choose"/> picks from the training split with seed 0).</summary>
    public static Tensor CalibrationImages(string dataset, DirectoryInfo? dataDir, int count, long seed, Normalization normalization, Output output)
    {
        ImageDataset train;
        try { train = Workspace.LoadDataset(dataset, "train", dataDir); }
        catch (UserError missing)
        {
            string shipped = Path.Combine(Workspace.Root ?? ".", "data", dataset, $"calibration-seed0-{CalibrationSplit.DefaultCount}-images-idx3-ubyte.gz");
            if (dataDir is not null || seed != 0 || count > CalibrationSplit.DefaultCount || !File.Exists(shipped)) throw;
            output.Log($"no {dataset} training split ({missing.Message}); calibrating on the shipped seed-0 choice {Path.GetFileName(shipped)}");
            var images = IdxReader.ReadImages(shipped);
            var all = CalibrationSplit.Choose(60000, CalibrationSplit.DefaultCount, 0);
            var chosen = CalibrationSplit.Choose(60000, count, 0);
            int size = images.Height * images.Width;
            var values = new float[(long)count * size];
            for (int i = 0; i < count; i++)
                normalization.Apply(images.Pixels.AsSpan(Array.BinarySearch(all, chosen[i]) * size, size), 1, size, values.AsSpan(i * size, size));
            return tensor(values, [count, 1, images.Height, images.Width]);
        }
        return QuantizeCommand.CalibrationImages(train, normalization, count, seed);
    }

    /// <summary>The cost figures of one image as JSON (null when the spec cannot be priced).</summary>
    public static JsonObject? CostJson(SimulationCost cost)
    {
        if (cost.Report is not { } r) return null;
        var t = r.Total;
        return new JsonObject
        {
            ["energy_j"] = t.EnergyJ,
            ["dynamic_energy_j"] = t.DynamicEnergyJ,
            ["static_energy_j"] = t.StaticEnergyJ,
            ["latency_s"] = t.LatencySeconds,
            ["period_s"] = t.PeriodSeconds,
            ["fps"] = t.Fps,
            ["bottleneck_layer"] = t.BottleneckLayer,
            ["tops"] = t.Tops,
            ["tops_per_w"] = t.TopsPerWatt,
            ["tops_per_mm2"] = t.TopsPerMm2,
            ["area_mm2"] = t.AreaMm2,
            ["tiles_used"] = t.TilesUsed,
            ["fits_on_chip"] = t.Fits,
            ["utilisation"] = t.Utilisation,
            ["energy_breakdown_j"] = new JsonObject(t.EnergyByComponentJ.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["counts"] = CountsJson(t.Counts),
            ["layers"] = new JsonArray(r.Layers.Select(l => (JsonNode)new JsonObject
            {
                ["name"] = l.Name,
                ["arrays"] = l.Arrays, ["replication"] = l.Replication, ["imas"] = l.Imas, ["adc_bits"] = l.AdcBits,
                ["utilisation"] = l.Utilisation,
                ["energy_j"] = l.EnergyJ,
                ["dynamic_energy_j"] = l.DynamicEnergyJ,
                ["static_energy_j"] = l.StaticEnergyJ,
                ["latency_s"] = l.LatencySeconds,
                ["counts"] = CountsJson(l.Counts),
            }).ToArray()),
        };
    }

    private static JsonObject CountsJson(EventCounts c) => new()
    {
        ["macs"] = c.Macs, ["ou_reads"] = c.OuReads, ["cell_reads"] = c.CellReads, ["dac_drives"] = c.DacDrives,
        ["adc_conversions"] = c.AdcConversions, ["shift_adds"] = c.ShiftAdds, ["digit_sums"] = c.DigitSums,
        ["buffer_read_bytes"] = c.BufferReadBytes, ["buffer_write_bytes"] = c.BufferWriteBytes, ["router_bytes"] = c.RouterBytes,
        ["critical_path_ou_reads"] = c.CriticalPathOuReads,
    };

    /// <summary>One-line cost summary for the table.</summary>
    public static string CostLine(SimulationCost cost) => cost.Report is { Total: var t }
        ? $"{t.EnergyJ * 1e6:F2} µJ/image ({t.StaticEnergyJ * 1e6:F2} static), {t.Fps:N0} FPS (bottleneck {t.BottleneckLayer}), latency {t.LatencySeconds * 1e6:F1} µs, {t.TopsPerWatt:F2} TOPS/W, {t.AreaMm2:F1} mm², utilisation {t.Utilisation:P1}"
        : "no cost: " + cost.Unavailable;
}
