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
    /// <summary>Most weight bits the crossbar stores (sign included).</summary>
    public int MaxWeightBits { get; init; } = 16;
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

    private IEnumerable<string> Weight(QuantizerSpec spec)
    {
        if (spec.Format.Bits > MaxWeightBits)
            yield return $"{spec.Format.Bits}-bit weights exceed the {MaxWeightBits} bits {Name} stores";
        if (!WeightFormats.Contains(spec.Format.Kind))
            yield return $"{spec.Format.Name} weights: {Name} maps {string.Join(", ", WeightFormats.Select(QuantizerSettings.FormatName))} weights only";
        if (!WeightGranularities.Contains(spec.Granularity.Kind))
            yield return $"{spec.Granularity.Kind} weight scales: {Name} supports {string.Join(", ", WeightGranularities)}";
        else if (spec.Granularity is ScaleGranularity.PerArray a && (a.Rows, a.Columns) != Array)
            yield return $"array tiles of {a.Rows}x{a.Columns} differ from {Name}'s {Array.Rows}x{Array.Columns} crossbars";
        else if (spec.Granularity is ScaleGranularity.PerOuBlock o && (o.Rows, o.Columns) != OperationUnit)
            yield return $"OU blocks of {o.Rows}x{o.Columns} differ from {Name}'s {OperationUnit.Rows}x{OperationUnit.Columns} operation units";
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

    private IEnumerable<string> Common(QuantizerSpec spec)
    {
        if (PowerOfTwoScalesOnly && spec.Scale is not ScaleRestriction.PowerOfTwo)
            yield return $"{spec.Scale.Kind} scales: {Name} requantizes by shifts and needs power_of_two scales";
    }
}
