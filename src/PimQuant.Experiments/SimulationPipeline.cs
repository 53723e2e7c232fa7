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
    /// <summary>The ADC step mode (<c>--adc-step</c>); null keeps the spec's.</summary>
    public AdcStepMode? AdcStep { get; init; }

    /// <summary>What a calibrated step is calibrated over (<c>--adc-calibration</c>); null keeps the spec's, or <c>layer</c> when
    /// <see cref="AdcStep"/> makes the step calibrated.</summary>
    public AdcCalibration? AdcCalibration { get; init; }

    /// <summary>The overrides as the options that give them, e.g. "--sa0 0.7 --sa1 0.7" (the seed aside).</summary>
    public string Describe() => string.Join(" ", new (string Name, object? Value)[]
    {
        ("--adc-bits", AdcBits), ("--adc-step", AdcStep is { } mode ? StepName(mode) : null), ("--adc-calibration", AdcCalibration?.ToString().ToLowerInvariant()), ("--variation", Variation), ("--on-off-ratio", OnOffRatio), ("--sa0", StuckAtZero), ("--sa1", StuckAtOne), ("--read-noise", ReadNoise),
    }.Where(o => o.Value is not null).Select(o => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{o.Name} {o.Value}")));

    /// <summary>The YAML and command-line name of a step mode: unit, full_range, calibrated.</summary>
    public static string StepName(AdcStepMode mode) => mode switch
    {
        AdcStepMode.Unit => "unit",
        AdcStepMode.FullRange => "full_range",
        _ => "calibrated",
    };

    private AdcSpec AdcOf(AdcSpec adc)
    {
        var step = AdcStep ?? adc.Step;
        Hardware.Spec.AdcCalibration? calibration = step != AdcStepMode.Calibrated ? null : AdcCalibration ?? adc.Calibration ?? Hardware.Spec.AdcCalibration.Layer;
        if (AdcCalibration is not null && step != AdcStepMode.Calibrated)
            throw new ExperimentException($"--adc-calibration {AdcCalibration.Value.ToString().ToLowerInvariant()} applies to a calibrated ADC step; the step is {StepName(step)}: add --adc-step calibrated");
        return adc with { Bits = AdcBits ?? adc.Bits, Step = step, Calibration = calibration };
    }

    /// <summary>The spec with these values (each range-checked here and again when the crossbar is built).</summary>
    public HardwareSpec Apply(HardwareSpec spec)
    {
        var ni = spec.NonIdealities;
        return spec with
        {
            Adc = AdcOf(spec.Adc),
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
    /// (plain rounding, no bias correction: the integer model the hardware runs), then lets a method's
    /// <paramref name="parts"/> change the calibration (e.g. reconstruction) and adjust the calibrated model for
    /// <paramref name="spec"/>'s crossbars. The config is used as given: <see cref="IQuantizationPart.Configure"/> is the caller's.</summary>
    public static QuantizedModel Quantize(ModelGraph graph, QuantConfig config, Tensor calibration, long seed, IExperimentProgress progress, CancellationToken cancel,
        IReadOnlyList<IQuantizationPart>? parts = null, HardwareSpec? spec = null)
    {
        parts ??= [];
        if (parts.Count > 0 && spec is null) throw new ArgumentException("a method's quantization parts need the spec they quantize for", nameof(spec));
        var model = Quantization.Build(graph, config, seed);
        try
        {
            var options = parts.Aggregate(new PtqOptions { BiasCorrection = false, Seed = seed }, (o, part) => part.Calibration(o));
            progress.Step("calibrating", report =>
                PostTrainingQuantization.Run(model, calibration, options, Quantization.Forward(report), cancel));
            foreach (var part in parts) part.Adjust(model, calibration, spec!, progress, cancel);
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
