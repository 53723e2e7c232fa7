using PimQuant.Accelerator;
using PimQuant.Experiments;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Quantizers;
using PimQuant.Quant.Statistics;
using PimQuant.Sim;
using static TorchSharp.torch;

namespace PimQuant.Methods.Cimq;

/// <summary>Edits of a quantization config's weight settings: the default section's, and every more specific section
/// that sets the same field (it would otherwise win over the default).</summary>
internal static class WeightSettings
{
    public static QuantConfig Edit(QuantConfig config, string label, Func<QuantizerSettings, bool> sets, Func<QuantizerSettings, QuantizerSettings> edit)
    {
        RuleSettings Section(RuleSettings rule) => rule.Weight is { } w && sets(w) ? rule with { Weight = edit(w) } : rule;
        var @default = config.Default ?? new RuleSettings(label, SettingLevel.Default, null, null, null);
        var weight = @default.Weight ?? new QuantizerSettings { Path = $"{label}.weight", Level = SettingLevel.Default };
        return config with
        {
            Default = @default with { Weight = edit(weight) },
            OpTypes = config.OpTypes.ToDictionary(p => p.Key, p => Section(p.Value)),
            Layers = config.Layers.ToDictionary(p => p.Key, p => Section(p.Value)),
        };
    }
}

/// <summary>CIMQ's array-wise weight granularity: one weight scale per crossbar array, a tile of the array's rows × the
/// logical columns one physical array holds at the config's weight bits (e.g. isaac: 128 × 32 at 8 bits on 2-bit cells,
/// 128 × 64 at 4 bits), applied exactly on the digital side after each array's partial sums.</summary>
public sealed class ArrayWiseWeights : IQuantizationPart
{
    /// <summary>The one instance (stateless).</summary>
    public static ArrayWiseWeights Instance { get; } = new();

    /// <summary>The scale tile of one array of <paramref name="spec"/> at <paramref name="weightBits"/>.</summary>
    public static ScaleGranularity.PerArray Tile(HardwareSpec spec, int weightBits)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var config = CrossbarConfig.Create(CrossbarTranslation.Settings(spec, weightBits, 8));
        return new ScaleGranularity.PerArray(HardwareCapabilities.Of(spec).Array.Rows, LayerGeometry.For(config, 1, 1).LogicalColumnsPerTile);
    }

    /// <inheritdoc/>
    public QuantConfig Configure(QuantConfig config, HardwareSpec spec)
    {
        ArgumentNullException.ThrowIfNull(config);
        int bits = config.Default?.Weight?.Bits?.Value ?? 8;
        var tile = Tile(spec, bits);
        return WeightSettings.Edit(config, "cimq array-wise weights", w => w.Granularity is not null,
            w => w with { Granularity = new Setting<ScaleGranularity>(tile, $"{w.Path}.granularity (cimq: array-wise)", w.Level) });
    }
}

/// <summary>QDrop post-training quantization: block-wise reconstruction of the weights' rounding (AdaRound) and the
/// activation steps, each activation element inside a block quantized with probability 1 − p and left in full precision
/// otherwise (p = 0.5).</summary>
/// <param name="Iterations">Reconstruction steps per block.</param>
/// <param name="DropProbability">p.</param>
public sealed record QDropReconstruction(int Iterations = 500, double DropProbability = 0.5) : IQuantizationPart
{
    /// <inheritdoc/>
    public QuantConfig Configure(QuantConfig config, HardwareSpec spec) =>
        WeightSettings.Edit(config, "cimq qdrop", w => w.Rounding is not null,
            w => w with { Rounding = new Setting<PimQuant.Quant.Formats.RoundingMode>(PimQuant.Quant.Formats.RoundingMode.Learned, $"{w.Path}.rounding (cimq: qdrop)", w.Level) });

    /// <inheritdoc/>
    public PtqOptions Calibration(PtqOptions options) =>
        options with { Reconstruction = new ReconstructionOptions { Iterations = Iterations, DropProbability = DropProbability }.Validated() };
}

/// <summary>
/// CIMQ's bit-level-sparsity activation quantization, PimQuant's reading (docs/methods/cimq.md): per layer, the
/// activation scale is raised by the largest factor m (from 2^(i/4), up to <see cref="MaxMultiplier"/>) whose
/// quantization keeps the signal-to-quantization-noise ratio on the calibration images within
/// <see cref="SqnrBudgetDb"/> of the calibrated scale's; larger steps give smaller codes, so fewer one-digits are streamed,
/// more digits are zero over a whole row group (reads the zero-digit skip then leaves out) and partial sums are smaller,
/// which is what a low-resolution ADC needs. Static per-tensor symmetric activation scales only; other layers keep theirs.
/// </summary>
/// <param name="SqnrBudgetDb">The SQNR a layer may lose against its calibrated scale, in dB (6 dB ≈ one bit).</param>
/// <param name="Images">Calibration images whose layer inputs are sampled.</param>
/// <param name="MaxMultiplier">The largest scale factor tried.</param>
public sealed record BitSparseActivations(double SqnrBudgetDb = 3, int Images = 32, double MaxMultiplier = 4) : IQuantizationPart
{
    /// <summary>Elements of a layer's input the search reads at most (evenly spaced).</summary>
    private const long SampleElements = 1 << 20;

    /// <inheritdoc/>
    public void Adjust(QuantizedModel model, Tensor calibration, HardwareSpec spec, IExperimentProgress progress, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(spec);
        if (!(SqnrBudgetDb >= 0) || Images < 1 || !(MaxMultiplier >= 1)) throw new ArgumentException($"bit-sparse activations: budget {SqnrBudgetDb} dB, {Images} images, multiplier {MaxMultiplier} out of range");
        var layers = model.Layers.Where(l => l.Activation is { IsDynamic: false, Spec: { Granularity: ScaleGranularity.PerTensor, Affine: false, Format: IntegerFormat } }).ToList();
        var inputs = layers.Select(l => model.Graph.Nodes.First(n => n.Name == l.Name).Inputs[0]).ToList();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var executor = model.CreateExecutor();
        executor.Training = false;
        var captured = executor.RunCapturing([calibration.narrow(0, 0, Math.Min(Images, calibration.shape[0]))], inputs.Distinct());
        int d = spec.Dac.Bits;
        for (int i = 0; i < layers.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var quantizer = layers[i].Activation!;
            var format = (IntegerFormat)quantizer.Spec.Format;
            var x = captured[inputs[i]].reshape(-1);
            if (x.numel() > SampleElements) x = x.index_select(0, arange(0, x.numel(), x.numel() / SampleElements, dtype: ScalarType.Int64));
            x = x.to_type(ScalarType.Float64);
            double scale0 = quantizer.Scale().to_type(ScalarType.Float64).reshape(-1)[0].item<double>();
            double signal = x.square().mean().item<double>();
            (double Sqnr, double NonzeroDigits) Measure(double scale)
            {
                using var inner = NewDisposeScope();
                var codes = (x / scale).round().clamp(format.QMin, format.QMax);
                double noise = (x - codes * scale).square().mean().item<double>();
                var digits = new ActivationStatistics(format, d);
                digits.Add(codes);
                return (noise > 0 ? 10 * Math.Log10(signal / noise) : double.PositiveInfinity, (1 - digits.ZeroDigitFraction) * digits.DigitsPerCode);
            }
            var baseline = Measure(scale0);
            double chosen = 1;
            var best = baseline;
            for (int step = 1; Math.Pow(2, step / 4.0) <= MaxMultiplier + 1e-12; step++)
            {
                double m = Math.Pow(2, step / 4.0);
                var measured = Measure(scale0 * m);
                if (measured.Sqnr < baseline.Sqnr - SqnrBudgetDb) break;
                if (measured.NonzeroDigits < best.NonzeroDigits) (chosen, best) = (m, measured);
            }
            if (chosen != 1) quantizer.SetParameters(tensor(new[] { (float)(scale0 * chosen) }), null);
            progress.Log($"cimq bit-sparse activations: {layers[i].Name}: scale ×{chosen:0.###}, nonzero digits per input {baseline.NonzeroDigits:F3} → {best.NonzeroDigits:F3}, SQNR {baseline.Sqnr:F1} → {best.Sqnr:F1} dB");
        }
    }
}
