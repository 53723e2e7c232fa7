using PimQuant.Experiments;
using PimQuant.Experiments.Report;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Spec;
using PimQuant.Methods.Bwq;
using PimQuant.Methods.Cimq;
using PimQuant.Methods.ReDy;
using PimQuant.Sim;

namespace PimQuant.Methods;

/// <summary>One named scheme <c>pimq compare</c> and <c>pimq demo</c> run (docs/report.md).</summary>
/// <param name="Name">The name in <c>--schemes</c>.</param>
/// <param name="Description">One line for the help text.</param>
/// <param name="Hardware">The preset the scheme was designed for: where it runs unless <c>--hw</c> or <c>@HW</c> says otherwise.</param>
/// <param name="HardwareBound">The scheme's parts work only on <paramref name="Hardware"/> (e.g. a precision-aware mapping), so a
/// combination runs on it; a scheme that is not bound leaves a combination's hardware to its other parts.</param>
/// <param name="WeightBits">Weight bits the model is quantized to.</param>
/// <param name="ActivationBits">Activation bits the model is quantized to.</param>
/// <param name="Parts">The parts the method composes into the run; null for the conventional scheme (the baseline).</param>
/// <param name="Paper">The published figures of the method against its baseline; null when none.</param>
/// <param name="Setup">How the scheme sets up the hardware it runs on (e.g. CIMQ's low-resolution ADC with calibrated steps); null
/// leaves the spec as loaded.</param>
/// <param name="ByDefault">Whether <c>pimq compare</c> without <c>--schemes</c>, and <c>pimq demo</c>, run it: false for a scheme
/// whose preparation takes minutes (CIMQ's reconstruction and clip learning), which the demo's 10-minute budget cannot hold.</param>
/// <param name="Model">The model file the scheme simulates, given the comparison's model (BWQ: the block-precision model trained from
/// it, <see cref="BwqScheme.ModelFor"/>); null: the comparison's model.</param>
public sealed record SchemeEntry(string Name, string Description, string Hardware, bool HardwareBound, int WeightBits, int ActivationBits,
    Func<MethodParts>? Parts, PaperFigures? Paper = null, Func<HardwareSpec, HardwareSpec>? Setup = null, bool ByDefault = true,
    Func<string, string>? Model = null);

/// <summary>
/// The schemes <c>pimq compare --schemes</c> knows, each the parts of one method (<see cref="MethodParts"/>), the quantization it
/// runs at and the hardware it was designed for. A method joins the comparison with one entry in <see cref="Entries"/>.
/// <c>a+b</c> composes two methods' parts (refused when both set the same part); <c>NAME@HW</c> runs a scheme on another preset
/// or spec file.
/// </summary>
public static class SchemeCatalog
{
    /// <summary>The name of the conventional scheme every comparison starts with and takes its ratios against.</summary>
    public const string Baseline = "baseline";

    /// <summary>Every known scheme, the baseline first.</summary>
    public static IReadOnlyList<SchemeEntry> Entries { get; } =
    [
        new(Baseline, "conventional W8A8 on ISAAC: 8-bit weights per channel, 8-bit activations, every digit read", "isaac", false, 8, 8, null),
        new("redy", "ReDy's default setting on ISAAC: static 8-bit, each crossbar's rows read from their leading one (lossless rule)", "isaac", false, 8, 8,
            () => ReDyScheme.FromOptions("lossless", null, null, "array"), ReDyReproduction.Paper),
        new("cimq", $"CIMQ on ISAAC with a {CimqDefaults.AdcBits}-bit ADC whose steps are learned per array: bit-sparse activations, learned clipping and QDrop (array-wise weights off by default)",
            "isaac", false, 8, 8, () => CimqScheme.Parts(CimqOptions.Default), CimqDefaults.Paper, CimqDefaults.LowResolutionAdc, ByDefault: false),
        new("bwq", "BWQ on BWQ-H: the block-precision model BWQ-A trained from the comparison's model (MODEL-bwq.onnx beside it), precision-aware mapping on 9x8 OUs",
            "bwq-h", true, BwqScheme.WeightBits, 8, () => BwqScheme.Parts, BwqReproduction.Paper, Model: BwqScheme.ModelFor),
    ];

    /// <summary>The names of <see cref="Entries"/>, in order.</summary>
    public static IReadOnlyList<string> Names => [.. Entries.Select(e => e.Name)];

    /// <summary>The names of the entries run when no list is given (<see cref="SchemeEntry.ByDefault"/>), in order.</summary>
    public static IReadOnlyList<string> DefaultNames => [.. Entries.Where(e => e.ByDefault).Select(e => e.Name)];

    /// <summary>The default schemes a comparison of <paramref name="model"/> can run: <see cref="DefaultNames"/> without a scheme whose own
    /// model is not there (BWQ's before BWQ-A has trained it), each left out told to <paramref name="leftOut"/> with how to get it.</summary>
    public static IReadOnlyList<string> DefaultNamesFor(string model, Action<string> leftOut)
    {
        ArgumentNullException.ThrowIfNull(leftOut);
        var names = new List<string>();
        foreach (var entry in Entries.Where(e => e.ByDefault))
        {
            if (entry.Model?.Invoke(model) is { } own && !File.Exists(own))
            {
                leftOut($"{entry.Name} is left out: it simulates {own}, not there; pimq reproduce bwq --model {model} -o {own} trains it");
                continue;
            }
            names.Add(entry.Name);
        }
        return names;
    }

    /// <summary>
    /// The schemes of a <c>--schemes</c> list (comma-separated names, <c>a+b</c> combinations, <c>NAME@HW</c>), the baseline first
    /// (added when absent), each with the hardware it runs on: <paramref name="hw"/> for every scheme when given, else its <c>@HW</c>,
    /// else the hardware it was designed for. <paramref name="loadSpec"/> reads a preset name or spec file.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name (the message lists the known ones), an empty or repeated entry, or a
    /// combination whose parts conflict; one line each.</exception>
    /// <param name="list">The <c>--schemes</c> list.</param>
    /// <param name="hw">The hardware every scheme runs on, or null.</param>
    /// <param name="loadSpec">Reads a preset name or spec file.</param>
    /// <param name="model">The comparison's model, from which a scheme with a model of its own finds it (<see cref="SchemeEntry.Model"/>).</param>
    public static IReadOnlyList<ComparedScheme> Parse(string list, string? hw, Func<string, HardwareSpec> loadSpec, string model)
    {
        ArgumentNullException.ThrowIfNull(list);
        ArgumentNullException.ThrowIfNull(loadSpec);
        var words = list.Split(',', StringSplitOptions.TrimEntries);
        if (words.Any(w => w.Length == 0)) throw new ArgumentException($"--schemes '{list}': an empty scheme name; give names separated by commas ({string.Join(", ", Names)})");
        if (words.GroupBy(w => w).FirstOrDefault(g => g.Count() > 1) is { } twice) throw new ArgumentException($"--schemes: '{twice.Key}' is given twice");
        var schemes = words.Select(w => Resolve(w, hw, loadSpec, model)).ToList();
        if (!schemes.Any(s => s.Name == Baseline)) schemes.Insert(0, Resolve(Baseline, hw, loadSpec, model));
        var baseline = schemes.First(s => s.Name == Baseline);
        schemes.Remove(baseline);
        schemes.Insert(0, baseline);
        return schemes;
    }

    /// <summary>One scheme: a name, <c>a+b</c>, optionally <c>@HW</c>.</summary>
    private static ComparedScheme Resolve(string word, string? hw, Func<string, HardwareSpec> loadSpec, string model)
    {
        string name = word, at = "";
        if (word.IndexOf('@') is var sign and >= 0)
        {
            (name, at) = (word[..sign], word[(sign + 1)..]);
            if (at.Length == 0) throw new ArgumentException($"scheme '{word}': give the hardware after @ (a preset or a spec file)");
        }
        var entries = name.Split('+', StringSplitOptions.TrimEntries).Select(Entry).ToList();
        if (entries.Count > 1 && entries.Any(e => e.Name == Baseline))
            throw new ArgumentException($"scheme '{name}': {Baseline} is the conventional scheme itself; combine methods with + (e.g. {string.Join("+", Names.Skip(1).Take(2))})");
        if (entries.GroupBy(e => e.Name).FirstOrDefault(g => g.Count() > 1) is { } repeated)
            throw new ArgumentException($"scheme '{name}': {repeated.Key} is combined with itself");
        var bound = entries.Where(e => e.HardwareBound).Select(e => e.Hardware).Distinct().ToList();
        if (bound.Count > 1)
            throw new ArgumentException($"scheme '{name}': its parts need different hardware ({string.Join(" and ", entries.Where(e => e.HardwareBound).Select(e => $"{e.Name} {e.Hardware}"))})");
        // A method with a model of its own (BWQ's QDQ file) brings its quantization: the others' widths do not apply.
        var widths = entries.FirstOrDefault(e => e.Model is not null) ?? entries[0];
        foreach (var (what, values) in new[] { ("weight bits", entries.Select(e => e.WeightBits)), ("activation bits", entries.Select(e => e.ActivationBits)) })
            if (widths.Model is null && values.Distinct().Count() > 1)
                throw new ArgumentException($"scheme '{name}': its parts quantize to different {what} ({string.Join(", ", entries.Zip(values, (e, v) => $"{e.Name} {v}"))})");

        MethodParts? parts = null;
        foreach (var entry in entries.Where(e => e.Parts is not null)) parts = parts is null ? entry.Parts!() : Compose(parts, entry.Parts!());
        string hardware = hw ?? (at.Length > 0 ? at : bound.FirstOrDefault() ?? entries[0].Hardware);
        var papers = entries.Where(e => e.Paper is not null).ToList();
        var spec = entries.Where(e => e.Setup is not null).Aggregate(loadSpec(hardware), (current, e) => e.Setup!(current));
        // At most one method brings a model of its own (the check above refuses two hardware-bound ones; BWQ's is bound).
        string? own = entries.FirstOrDefault(e => e.Model is not null)?.Model!(model);
        if (own is not null && !File.Exists(own))
            throw new ArgumentException($"scheme '{word}' simulates the BWQ model trained from {model}, expected at {own}: train it with pimq reproduce bwq --model {model} -o {own}");
        return new ComparedScheme(word, spec, widths.WeightBits, widths.ActivationBits, parts,
            papers.Count == 1 && entries.Count == 1 ? papers[0].Paper : null, own);
    }

    /// <summary>The entry named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No such scheme: one line listing the known ones.</exception>
    public static SchemeEntry Entry(string name) =>
        Entries.FirstOrDefault(e => e.Name == name) ?? throw new ArgumentException($"unknown scheme '{name}'; known schemes: {string.Join(", ", Names)} (combine with +, e.g. redy+NAME)");

    /// <summary>
    /// The parts of two methods run together: the methods joined by <c>+</c>, their labels by <c> + </c>, and each part from the
    /// method that sets it. Two methods setting the same part conflict (one digit policy chooses a read's input digits), so the
    /// combination is refused naming the part. A part added to <see cref="MethodParts"/> is composed here.
    /// </summary>
    /// <exception cref="ArgumentException">Both set the same part.</exception>
    public static MethodParts Compose(MethodParts a, MethodParts b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.DigitPolicy is { RewritesCodes: true } && b.DigitPolicy is { RewritesCodes: true })
            throw new ArgumentException($"{a.Method} and {b.Method} both rewrite the input codes before they are streamed; a combination takes one");
        if (a.AdcCalibration is not null && b.AdcCalibration is not null)
            throw new ArgumentException($"{a.Method} and {b.Method} both choose the ADC steps; a combination takes one");
        return new MethodParts($"{a.Method}+{b.Method}", $"{a.Label} + {b.Label}")
        {
            // Two digit policies read a digit only when both would: each skips what it judges not worth a read.
            DigitPolicy = a.DigitPolicy is { } pa && b.DigitPolicy is { } pb ? InputDigitPolicies.Both(pa, pb) : a.DigitPolicy ?? b.DigitPolicy,
            AdcCalibration = a.AdcCalibration ?? b.AdcCalibration,
            Quantization = [.. a.Quantization, .. b.Quantization],
        };
    }
}
