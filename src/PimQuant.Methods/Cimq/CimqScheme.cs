using PimQuant.Experiments;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Spec;
using PimQuant.Sim;

namespace PimQuant.Methods.Cimq;

/// <summary>CIMQ's four parts (docs/methods/cimq.md), each of which can be switched off alone.</summary>
/// <param name="Sparsity">Bit-level-sparsity activation quantization with the zero-digit skip (null: off).</param>
/// <param name="ArrayWise">Array-wise weight granularity.</param>
/// <param name="Clip">Learned partial-sum clipping (null: off); needs a spec whose <c>adc.step</c> is calibrated.</param>
/// <param name="QDrop">QDrop reconstruction (null: off).</param>
public sealed record CimqOptions(BitSparseActivations? Sparsity, bool ArrayWise, ClipLearning? Clip, QDropReconstruction? QDrop)
{
    /// <summary>Every part with its defaults.</summary>
    public static CimqOptions All { get; } = new(new BitSparseActivations(), true, new ClipLearning(), new QDropReconstruction());

    /// <summary>CIMQ as PimQuant runs it unless told otherwise: every part but array-wise weights. One scale per array is
    /// coarser along the columns than the per-channel scales of the conventional baseline it is compared with, and it
    /// lost accuracy wherever it was measured (docs/methods/cimq.md: 68.0 % with the other three parts at a 4-bit ADC on
    /// isaac, 22.7 % with it added).</summary>
    public static CimqOptions Default { get; } = All with { ArrayWise = false };

    /// <summary>No part: the conventional scheme.</summary>
    public static CimqOptions None { get; } = new(null, false, null, null);

    /// <summary>The part names, in the order labels list them.</summary>
    public static readonly IReadOnlyList<string> PartNames = ["sparsity", "array", "clip", "qdrop"];

    /// <summary>The parts switched on, by <see cref="PartNames"/>.</summary>
    public IEnumerable<string> Enabled()
    {
        if (Sparsity is not null) yield return "sparsity";
        if (ArrayWise) yield return "array";
        if (Clip is not null) yield return "clip";
        if (QDrop is not null) yield return "qdrop";
    }

    /// <summary>Only the parts named (defaults for each), from <see cref="PartNames"/>; "default", "all" or "none" alone.</summary>
    /// <exception cref="ArgumentException">An unknown part.</exception>
    public static CimqOptions Only(IEnumerable<string> names)
    {
        var set = names.Select(n => n.Trim()).Where(n => n.Length > 0).ToHashSet(StringComparer.Ordinal);
        if (set.SetEquals(["default"])) return Default;
        if (set.SetEquals(["all"])) return All;
        if (set.SetEquals(["none"])) return None;
        foreach (var name in set)
            if (!PartNames.Contains(name)) throw new ArgumentException($"CIMQ part '{name}': expected default, all, none or a comma-separated list of {string.Join(", ", PartNames)}");
        return new(set.Contains("sparsity") ? All.Sparsity : null, set.Contains("array"), set.Contains("clip") ? All.Clip : null, set.Contains("qdrop") ? All.QDrop : null);
    }
}

/// <summary>CIMQ as the parts it composes into a simulation: quantization parts (array-wise weights, QDrop, bit-sparse
/// activation scales), the zero-digit skip, and the learned ADC clipping.</summary>
public static class CimqScheme
{
    /// <summary>The parts of <paramref name="options"/>; with none switched on, a run equal to the conventional scheme.</summary>
    public static MethodParts Parts(CimqOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var enabled = options.Enabled().ToList();
        var quantization = new List<IQuantizationPart>();
        if (options.ArrayWise) quantization.Add(ArrayWiseWeights.Instance);
        if (options.QDrop is { } qdrop) quantization.Add(qdrop);
        if (options.Sparsity is { } sparsity) quantization.Add(sparsity);
        return new MethodParts("cimq", enabled.Count == 0 ? "cimq none" : $"cimq {string.Join("+", enabled)}")
        {
            DigitPolicy = options.Sparsity is null ? null : InputDigitPolicies.SkipZeroDigits,
            AdcCalibration = options.Clip is { } clip ? new LearnedAdcClipping(clip) : null,
            Quantization = quantization,
        };
    }
}

/// <summary>The setting CIMQ runs in when a comparison names it without more (docs/methods/cimq.md).</summary>
public static class CimqDefaults
{
    /// <summary>ADC bits of CIMQ's hardware: the lowest resolution at which its learned clipping kept the default model
    /// closest to the 8-bit-ADC baseline in PimQuant's measurements.</summary>
    public const int AdcBits = 5;

    /// <summary>The paper's figures as its abstract gives them: neither a speedup nor an energy saving (both null), but up to
    /// 222 % better hardware efficiency and +58.97 points of accuracy over conventional quantization, named in the source.</summary>
    public static PaperFigures Paper { get; } = new(null, null, "Bai et al., IEEE TCAD 43(1), 2024, abstract: up to 222 % better hardware efficiency, +58.97 points accuracy over conventional quantization");

    /// <summary><paramref name="spec"/> with a <see cref="AdcBits"/>-bit ADC whose steps are calibrated per array (what the learned
    /// clipping sets), named so its rows say so (<c>isaac adc5</c>).</summary>
    public static HardwareSpec LowResolutionAdc(HardwareSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec with { Name = $"{spec.Name} adc{AdcBits}", Adc = new AdcSpec(AdcBits, AdcStepMode.Calibrated, AdcCalibration.Array) };
    }
}
