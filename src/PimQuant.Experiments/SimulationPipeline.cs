using PimQuant.Accelerator;
using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Sim;
using static TorchSharp.torch;

namespace PimQuant.Experiments;

/// <summary>The spec overrides of <c>pimq simulate</c>; null keeps the spec's value.</summary>
public sealed record SpecOverrides(int? AdcBits = null, double? Variation = null, double? OnOffRatio = null, double? StuckAtZero = null,
    double? StuckAtOne = null, double? ReadNoise = null, long? Seed = null)
{
    /// <summary>The overrides as the options that give them, e.g. "--sa0 0.7 --sa1 0.7" (the seed aside).</summary>
    public string Describe() => string.Join(" ", new (string Name, object? Value)[]
    {
        ("--adc-bits", AdcBits), ("--variation", Variation), ("--on-off-ratio", OnOffRatio), ("--sa0", StuckAtZero), ("--sa1", StuckAtOne), ("--read-noise", ReadNoise),
    }.Where(o => o.Value is not null).Select(o => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{o.Name} {o.Value}")));

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
/// folded model (<see cref="Quantization.Config"/> at the requested widths, or a given config), the crossbar
/// model, and the calibration of its ADC steps.
/// </summary>
public static class SimulationPipeline
{
    /// <summary>Folds batch norms, builds the quantizers and calibrates them on <paramref name="calibration"/>
    /// (plain rounding, no bias correction: the integer model the hardware runs).</summary>
    public static QuantizedModel Quantize(ModelGraph graph, QuantConfig config, Tensor calibration, long seed, IExperimentProgress progress, CancellationToken cancel)
    {
        var model = Quantization.Build(graph, config, seed);
        try
        {
            progress.Step("calibrating", report =>
                PostTrainingQuantization.Run(model, calibration, new PtqOptions { BiasCorrection = false, Seed = seed }, Quantization.Forward(report), cancel));
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks, before any image is evaluated, that <paramref name="spec"/>'s crossbars can hold what
    /// <paramref name="plan"/> asks for (<see cref="HardwareCapabilities"/>: formats, granularities, widths) and can be
    /// configured at every pair of integer widths it uses, with the message programming would give after calibration.
    /// </summary>
    /// <exception cref="ExperimentException">The spec cannot be configured at a pair of widths.</exception>
    public static void CheckSpec(HardwareSpec spec, QuantizationPlan plan)
    {
        try { HardwareCapabilities.Of(spec).Require(plan); }
        catch (CapabilityException e) { throw new ExperimentException(e.Message); }
        var widths = plan.Layers
            .Select(l => (Weight: l.Weight?.Format as IntegerFormat, Activation: l.Activation?.Format as IntegerFormat))
            .Where(w => w.Weight is not null && w.Activation is not null)
            .Select(w => (w.Weight!.Bits, w.Activation!.Bits)).Distinct();
        foreach (var (weightBits, activationBits) in widths) CheckSpec(spec, weightBits, activationBits);
    }

    /// <summary>Checks that <paramref name="spec"/>'s crossbars can be configured at these widths (ADC resolution, cells,
    /// stuck-at fractions, on/off ratio and the rest of the spec against the widths).</summary>
    /// <exception cref="ExperimentException">What does not fit, named.</exception>
    public static void CheckSpec(HardwareSpec spec, int weightBits, int activationBits)
    {
        try { CrossbarConfig.Create(CrossbarTranslation.Settings(spec, weightBits, activationBits)); }
        catch (ArgumentException e) { throw new ExperimentException($"{spec.Name}: {e.Message}"); }
    }

    /// <summary>Calibration images whose simulated partial sums set calibrated ADC steps (each layer samples
    /// <see cref="SimulationOptions.AdcCalibrationPixels"/> input vectors from them).</summary>
    public const int AdcCalibrationImages = 64;

    /// <summary>Programs the crossbars and calibrates their ADC steps on the first images of <paramref name="calibration"/>.</summary>
    /// <exception cref="ExperimentException">The crossbars cannot hold a layer, named with the reason.</exception>
    public static CrossbarModel Program(QuantizedModel model, HardwareSpec spec, SimulationOptions options, Tensor calibration, IExperimentProgress progress)
    {
        CrossbarModel crossbars;
        try { crossbars = CrossbarModel.Program(model, spec, options); }
        catch (SimulationException e) { throw new ExperimentException(e.Message); }
        if (spec.Adc.Step == AdcStepMode.Calibrated && !spec.Adc.IsIdeal)
        {
            progress.Log($"calibrating the ADC steps ({spec.Adc.Calibration?.ToString().ToLowerInvariant()}) on {Math.Min(AdcCalibrationImages, calibration.shape[0])} calibration images");
            using var scope = NewDisposeScope();
            crossbars.CalibrateAdc(calibration.narrow(0, 0, Math.Min(AdcCalibrationImages, calibration.shape[0])));
        }
        return crossbars;
    }
}
