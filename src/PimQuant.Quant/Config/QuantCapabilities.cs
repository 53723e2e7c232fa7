using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Quantizers;

namespace PimQuant.Quant.Config;

/// <summary>A layer's quantization that the hardware cannot carry out, and why.</summary>
/// <param name="Layer">The layer (node) name.</param>
/// <param name="Role">Weight or activation.</param>
/// <param name="Reason">What the plan asks and what the hardware offers.</param>
public sealed record CapabilityMismatch(string Layer, QuantizerRole Role, string Reason)
{
    /// <inheritdoc/>
    public override string ToString() => $"layer {Layer}, {Role.ToString().ToLowerInvariant()}: {Reason}";
}

/// <summary>A quantization plan the hardware cannot carry out; the message names the hardware, every layer and reason.</summary>
public sealed class CapabilityException(string message) : Exception(message);

/// <summary>
/// What a CIM accelerator can execute, declared apart from what the user asks (torch.ao's backend
/// config); the hardware project builds one from its spec (e.g. weight bits = cell bits × slices,
/// activation bits = DAC bits × input digits). <see cref="Check"/> compares a resolved plan with it
/// and reports every mismatch; nothing is silently changed.
/// </summary>
public sealed record QuantCapabilities
{
    /// <summary>How mismatch reasons name the hardware, e.g. a preset name.</summary>
    public string Name { get; init; } = "the hardware";
    /// <summary>Most weight bits the crossbar stores (sign included), for a layer or any group of a precision map.</summary>
    public int MaxWeightBits { get; init; } = 16;
    /// <summary>Fewest weight bits (sign included) of a layer or of a non-pruned group (e.g. 2 when the sign needs a bit of its own).</summary>
    public int MinWeightBits { get; init; } = 1;
    /// <summary>Granularity kinds (tensor, channel, array, ou) a weight precision map may use; empty: one bit-width per layer.
    /// Array tiles must have <see cref="Array"/>'s rows and at most its columns, OU tiles equal <see cref="OperationUnit"/>.</summary>
    public IReadOnlySet<string> WeightPrecisionGranularities { get; init; } = new HashSet<string>();
    /// <summary>Whether a precision map may prune groups (0 bits: all-zero, never programmed or read).</summary>
    public bool PrunedWeightGroups { get; init; }
    /// <summary>Most activation bits the inputs stream.</summary>
    public int MaxActivationBits { get; init; } = 16;
    /// <summary>Whether inputs may be negative (two's complement streaming); false means unsigned only.</summary>
    public bool SignedActivations { get; init; } = true;
    /// <summary>Weight formats the mapping supports.</summary>
    public IReadOnlySet<FormatKind> WeightFormats { get; init; } = new HashSet<FormatKind> { FormatKind.Integer };
    /// <summary>Activation formats the inputs can be streamed in.</summary>
    public IReadOnlySet<FormatKind> ActivationFormats { get; init; } = new HashSet<FormatKind> { FormatKind.Integer };
    /// <summary>Weight granularity kinds (<see cref="ScaleGranularity.Kind"/>: tensor, channel, array, ou).</summary>
    public IReadOnlySet<string> WeightGranularities { get; init; } = new HashSet<string> { "tensor", "channel" };
    /// <summary>Activation granularity kinds (tensor, channel, dynamic).</summary>
    public IReadOnlySet<string> ActivationGranularities { get; init; } = new HashSet<string> { "tensor" };
    /// <summary>Crossbar rows and columns: array-granularity tiles must equal them, dynamic groups must not exceed the rows.</summary>
    public (int Rows, int Columns) Array { get; init; } = (128, 128);
    /// <summary>Operation-unit rows and columns: OU-granularity tiles must equal them.</summary>
    public (int Rows, int Columns) OperationUnit { get; init; } = (128, 128);
    /// <summary>Whether weights may have a zero point (offset stored digitally); false means symmetric only.</summary>
    public bool AffineWeights { get; init; }
    /// <summary>Whether activations may have a zero point.</summary>
    public bool AffineActivations { get; init; } = true;
    /// <summary>Whether scales must be powers of two (shift-only requantization).</summary>
    public bool PowerOfTwoScalesOnly { get; init; }

    /// <summary>Every way <paramref name="plan"/> asks for something this hardware cannot do; empty when it fits.</summary>
    public IReadOnlyList<CapabilityMismatch> Check(QuantizationPlan plan)
    {
        var mismatches = new List<CapabilityMismatch>();
        foreach (var layer in plan.Layers)
        {
            if (layer.Weight is { } w)
                foreach (var reason in Weight(w)) mismatches.Add(new(layer.Layer.Name, QuantizerRole.Weight, reason));
            if (layer.Activation is { } a)
                foreach (var reason in Activation(a)) mismatches.Add(new(layer.Layer.Name, QuantizerRole.Activation, reason));
        }
        return mismatches;
    }

    /// <summary>Throws when <paramref name="plan"/> does not fit: call it before any work.</summary>
    /// <exception cref="CapabilityException">Every mismatch (<see cref="Check"/>), one line, layers with the same
    /// reason named together, e.g. "isaac cannot run this quantization: layers conv1, conv2, conv3 and 19 more,
    /// weight: OU blocks of 9x8 differ from isaac's 128x128 operation units".</exception>
    public void Require(QuantizationPlan plan)
    {
        var reasons = Check(plan).GroupBy(m => (m.Role, m.Reason)).Select(g =>
        {
            var layers = g.Select(m => m.Layer).ToList();
            string named = layers.Count switch
            {
                1 => $"layer {layers[0]}",
                <= 3 => $"layers {string.Join(", ", layers.SkipLast(1))} and {layers[^1]}",
                _ => $"layers {string.Join(", ", layers.Take(3))} and {layers.Count - 3} more",
            };
            return $"{named}, {g.Key.Role.ToString().ToLowerInvariant()}: {g.Key.Reason}";
        }).ToList();
        if (reasons.Count > 0)
            throw new CapabilityException($"{Name} cannot run this quantization: {string.Join("; ", reasons)}");
    }

    private IEnumerable<string> Weight(QuantizerSpec spec)
    {
        // With a precision map the groups' formats are what the crossbar stores; the quantizer's format is only their family.
        var formats = spec.Precision?.Formats.OfType<NumberFormat>().Distinct().ToList() ?? [spec.Format];
        if (formats.Count > 0 && formats.Max(f => f.Bits) is var widest && widest > MaxWeightBits)
            yield return $"{widest}-bit weights{(spec.Precision is null ? "" : " (widest group)")} exceed the {MaxWeightBits} bits {Name} stores";
        if (formats.Count > 0 && formats.Min(f => f.Bits) is var narrowest && narrowest < MinWeightBits)
            yield return $"{narrowest}-bit weights{(spec.Precision is null ? "" : " (narrowest group)")} are below the {MinWeightBits} bits {Name} needs";
        foreach (var f in formats.Where(f => !WeightFormats.Contains(f.Kind)).DistinctBy(f => f.Kind))
            yield return $"{f.Name} weights: {Name} maps {string.Join(", ", WeightFormats.Select(QuantizerSettings.FormatName))} weights only";
        if (!WeightGranularities.Contains(spec.Granularity.Kind))
            yield return $"{spec.Granularity.Kind} weight scales: {Name} supports {string.Join(", ", WeightGranularities)}";
        else if (TileProblem(spec.Granularity) is { } tile)
            yield return tile;
        if (spec.Precision is { } precision)
        {
            var groups = precision.Granularity;
            if (!WeightPrecisionGranularities.Contains(groups.Kind))
                yield return WeightPrecisionGranularities.Count == 0
                    ? $"a precision per {groups.Kind} group: {Name} holds one bit-width per layer"
                    : $"a precision per {groups.Kind} group: {Name} supports precision per {string.Join(", ", WeightPrecisionGranularities)}";
            else if (TileProblem(groups) is { } tile)
                yield return $"precision groups: {tile}";
            if (precision.HasPrunedGroups && !PrunedWeightGroups)
                yield return $"{precision.Formats.Count(f => f is null)} pruned (0-bit) groups: {Name} cannot leave groups out";
        }
        if (spec.Affine && !AffineWeights)
            yield return $"weights with a zero point: {Name} stores symmetric weights only";
        foreach (var reason in Common(spec)) yield return reason;
    }

    private IEnumerable<string> Activation(QuantizerSpec spec)
    {
        if (spec.Format.Bits > MaxActivationBits)
            yield return $"{spec.Format.Bits}-bit activations exceed the {MaxActivationBits} bits {Name} streams";
        if (spec.Format.Signed && !SignedActivations)
            yield return $"signed activations ({spec.Format.Name}): {Name} streams unsigned inputs only";
        if (!ActivationFormats.Contains(spec.Format.Kind))
            yield return $"{spec.Format.Name} activations: {Name} streams {string.Join(", ", ActivationFormats.Select(QuantizerSettings.FormatName))} inputs only";
        if (!ActivationGranularities.Contains(spec.Granularity.Kind))
            yield return $"{spec.Granularity.Kind} activation scales: {Name} supports {string.Join(", ", ActivationGranularities)}";
        else if (spec.Granularity is ScaleGranularity.DynamicGroup d && d.Size > Array.Rows)
            yield return $"dynamic groups of {d.Size} exceed the {Array.Rows} rows one crossbar reads";
        if (spec.Affine && !AffineActivations)
            yield return $"activations with a zero point: {Name} streams symmetric inputs only";
        foreach (var reason in Common(spec)) yield return reason;
    }

    /// <summary>Why array or OU tiles of <paramref name="granularity"/> do not fit this hardware, or null.</summary>
    private string? TileProblem(ScaleGranularity granularity) => granularity switch
    {
        // An array holds its rows of the matrix and, of its columns, as many logical columns as fit its bitlines at the
        // layer's weight width (e.g. 32 of 8-bit weights on 128 bitlines of 2-bit cells): any tile that wide or narrower.
        ScaleGranularity.PerArray a when a.Rows != Array.Rows || a.Columns > Array.Columns =>
            $"array tiles of {a.Rows}x{a.Columns} do not fit {Name}'s {Array.Rows}x{Array.Columns} crossbars (rows equal to an array's, at most {Array.Columns} columns)",
        ScaleGranularity.PerOuBlock o when (o.Rows, o.Columns) != OperationUnit =>
            $"OU blocks of {o.Rows}x{o.Columns} differ from {Name}'s {OperationUnit.Rows}x{OperationUnit.Columns} operation units",
        _ => null,
    };

    private IEnumerable<string> Common(QuantizerSpec spec)
    {
        if (PowerOfTwoScalesOnly && spec.Scale is not ScaleRestriction.PowerOfTwo)
            yield return $"{spec.Scale.Kind} scales: {Name} requantizes by shifts and needs power_of_two scales";
    }
}
