using PimQuant.Quant.Formats;

namespace PimQuant.Quant.Granularity;

/// <summary>
/// A precision map: the number format, hence the bit-width, of every weight group of one layer
/// (BWQ: a bit-width per 9 × 8 OU block; RaQu: per group of output channels; IVQ: a format per
/// output channel). The groups are those of <see cref="Granularity"/> over the layer's lowered
/// matrix, in <see cref="WeightGroupLayout"/>'s order; they need not be the scale groups.
/// A null format marks a pruned group (0 bits): all its weights are 0 and a precision-aware mapping
/// never reads it. Immutable; equality compares the formats group by group.
/// </summary>
public sealed record WeightPrecision
{
    /// <summary>Largest bit-width of a group (the formats' own limit).</summary>
    public const int MaxBits = 16;

    /// <summary>A map from one format (or null, pruned) per group.</summary>
    /// <exception cref="ArgumentException">A dynamic (activation) granularity, or no group.</exception>
    public WeightPrecision(ScaleGranularity granularity, IReadOnlyList<NumberFormat?> formats)
    {
        ArgumentNullException.ThrowIfNull(granularity);
        ArgumentNullException.ThrowIfNull(formats);
        if (granularity is ScaleGranularity.DynamicGroup)
            throw new ArgumentException($"a precision map groups weights; '{granularity}' is an activation granularity", nameof(granularity));
        if (formats.Count == 0) throw new ArgumentException("a precision map needs at least one group", nameof(formats));
        Granularity = granularity;
        Formats = [.. formats];
        Bits = [.. formats.Select(f => f?.Bits ?? 0)];
    }

    /// <summary>
    /// The map with <paramref name="bits"/>[g] bits in group g, every group in <paramref name="family"/>'s
    /// family, sign and options (<see cref="NumberFormat.WithBits"/>); 0 bits prunes the group.
    /// </summary>
    public static WeightPrecision FromBits(ScaleGranularity granularity, IReadOnlyList<int> bits, NumberFormat family) =>
        new(granularity, [.. bits.Select(b => b == 0 ? null : family.WithBits(b))]);

    /// <summary>A format per output channel (IVQ's per-channel formats); null prunes the channel.</summary>
    public static WeightPrecision PerChannel(IReadOnlyList<NumberFormat?> formats) => new(ScaleGranularity.Channel, formats);

    /// <summary>How the groups are cut: channel, array tile or OU block (tensor gives one group).</summary>
    public ScaleGranularity Granularity { get; }

    /// <summary>The format of each group; null for a pruned group.</summary>
    public IReadOnlyList<NumberFormat?> Formats { get; }

    /// <summary>The bits of each group, sign included; 0 for a pruned group.</summary>
    public IReadOnlyList<int> Bits { get; }

    /// <summary>The widest group's bits.</summary>
    public int WidestBits => Bits.Max();

    /// <summary>The narrowest non-pruned group's bits (0 when every group is pruned).</summary>
    public int NarrowestBits => Bits.Where(b => b > 0).DefaultIfEmpty(0).Min();

    /// <summary>Whether some group is pruned.</summary>
    public bool HasPrunedGroups => Formats.Any(f => f is null);

    /// <summary>
    /// What is wrong with the groups' formats for a quantizer of <paramref name="format"/>, as
    /// (field, problem) pairs: an invalid format (e.g. 17 bits, a signed 1-bit integer), or a sign
    /// other than the quantizer's (scales are computed for one sign).
    /// </summary>
    public IEnumerable<(string Field, string Problem)> Problems(NumberFormat format)
    {
        for (int g = 0; g < Formats.Count; g++)
        {
            if (Formats[g] is not { } f) continue;
            if (f.Bits is < 1 or > MaxBits)
            {
                yield return ("precision.bits", $"group {g}: {f.Bits} is not allowed (0 for a pruned group, else 1..{MaxBits})");
                continue;
            }
            foreach (var (field, problem) in f.Problems())
                yield return ("precision.bits", $"group {g}: {f.Name}: {field}: {problem}");
            if (f.Signed != format.Signed)
                yield return ("precision.formats", $"group {g}: {f.Name} is {(f.Signed ? "signed" : "unsigned")}, the quantizer's {format.Name} is not (every group keeps the quantizer's sign)");
        }
    }

    /// <summary>
    /// Why the map does not fit a weight lowered as <paramref name="lowering"/> (its group count
    /// differs from the granularity's), or null when it fits.
    /// </summary>
    public string? LayoutProblem(WeightLowering lowering)
    {
        int expected;
        try { expected = WeightGroupLayout.Rectangles(lowering, Granularity).Length; }
        catch (ArgumentException e) { return e.Message; }
        return Formats.Count == expected ? null
            : $"{Formats.Count} groups given, but {Granularity} groups of the {lowering.Rows}×{lowering.Columns} lowered weight number {expected}";
    }

    /// <summary>The mean bits per weight of a weight lowered as <paramref name="lowering"/>: Σ_g size_g·bits_g / K·N (a pruned group counts 0).</summary>
    public double MeanBits(WeightLowering lowering)
    {
        var groups = WeightGroupLayout.Rectangles(lowering, Granularity);
        double sum = 0;
        for (int g = 0; g < groups.Length; g++) sum += (double)groups[g].Count * Bits[g];
        return sum / ((double)lowering.Rows * lowering.Columns);
    }

    /// <inheritdoc/>
    public bool Equals(WeightPrecision? other) =>
        other is not null && Granularity.Equals(other.Granularity) && Formats.SequenceEqual(other.Formats);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Granularity);
        foreach (var f in Formats) hash.Add(f);
        return hash.ToHashCode();
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        var kinds = Formats.OfType<NumberFormat>().Select(f => f.Kind).Distinct().Count();
        string pruned = HasPrunedGroups ? $", {Formats.Count(f => f is null)} pruned" : "";
        return $"precision {Granularity}: {NarrowestBits}..{WidestBits} bits over {Formats.Count} groups{pruned}{(kinds > 1 ? $", {kinds} formats" : "")}";
    }
}
