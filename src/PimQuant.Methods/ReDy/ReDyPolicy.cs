using PimQuant.Sim;

namespace PimQuant.Methods.ReDy;

/// <summary>Which rows of an input vector form one ReDy group (docs/methods/redy.md).</summary>
public enum ReDyGroupScope
{
    /// <summary>The rows of one OU row group: each OU read decides its own digits.</summary>
    OuRows,
    /// <summary>The rows one crossbar holds (a row tile of the layer): one decision per array and output position, as
    /// the paper's "group of activations driving a crossbar" reads.</summary>
    ArrayRows,
}

/// <summary>
/// ReDy's run-time dynamic activation precision as the simulator's <see cref="IInputDigitPolicy"/>: for each output
/// position and group (<see cref="ReDyGroupScope"/>), the heuristic keeps a window of digits and the rest are not read,
/// so reads, DAC drives and ADC conversions fall with the data (the simulator counts them from the masks). Stateless
/// and thread-safe; one instance serves every layer of a model.
/// </summary>
public sealed class ReDyPolicy : IInputDigitPolicy
{
    /// <summary>A policy applying <paramref name="heuristic"/> to groups of <paramref name="scope"/>; with <paramref name="round"/>, the
    /// dropped trailing digits are rounded to nearest into the kept ones instead of truncated.</summary>
    /// <exception cref="ArgumentException">The heuristic's parameters are out of range.</exception>
    public ReDyPolicy(ReDyHeuristic heuristic, ReDyGroupScope scope = ReDyGroupScope.ArrayRows, bool round = false)
    {
        ArgumentNullException.ThrowIfNull(heuristic);
        heuristic.Validate();
        Heuristic = heuristic;
        Scope = scope;
        Round = round;
    }

    /// <summary>Round the dropped part to nearest (half up) instead of truncating it.</summary>
    public bool Round { get; }

    /// <inheritdoc/>
    /// <remarks>Rounding rewrites the codes: a carry can reach a kept digit, which a digit mask cannot express. The lossless
    /// rule drops nothing, so it never rewrites.</remarks>
    public bool RewritesCodes => Round && Heuristic is not ReDyHeuristic.Lossless;

    /// <inheritdoc/>
    /// <remarks>Per group, with its window [low, high]: a' = min(round(a / 2^(d·low))·2^(d·low), the largest code the window
    /// holds), rounding half up; two's-complement codes (of the layer's activation bits) round their signed value and saturate
    /// at the largest positive one.
    /// The digits are then chosen from the rewritten codes by the lossless rule, which keeps exactly the window.</remarks>
    public void Rewrite(long pixel, Span<byte> activations, LayerGeometry geometry, bool signed)
    {
        for (int group = 0; group < GroupCount(geometry); group++)
        {
            var (start, length, _, _) = GroupRange(geometry, group);
            var codes = activations.Slice(start, length);
            if (Bounds(codes, geometry.DigitBits) is not var (lowest, low, high) || low == lowest) continue;
            int shift = geometry.DigitBits * low, half = 1 << (shift - 1), dropped = (1 << shift) - 1;
            if (signed)
            {
                int bits = geometry.ActivationBits, cap = ((1 << (bits - 1)) - 1) & ~dropped, mask = (1 << bits) - 1;
                foreach (ref byte code in codes)
                {
                    int value = code >= 1 << (bits - 1) ? code - (1 << bits) : code;
                    code = (byte)(Math.Min(((value + half) >> shift) << shift, cap) & mask);
                }
            }
            else
            {
                int cap = ((1 << Math.Min(geometry.DigitBits * (high + 1), geometry.ActivationBits)) - 1) & ~dropped;
                foreach (ref byte code in codes) code = (byte)Math.Min(((code + half) >> shift) << shift, cap);
            }
        }
    }

    /// <summary>The heuristic.</summary>
    public ReDyHeuristic Heuristic { get; }

    /// <summary>The group scope.</summary>
    public ReDyGroupScope Scope { get; }

    /// <inheritdoc/>
    public void SelectDigits(long pixel, ReadOnlySpan<byte> activations, LayerGeometry geometry, Span<uint> digitMasks)
    {
        for (int group = 0; group < GroupCount(geometry); group++)
        {
            var (start, length, first, last) = GroupRange(geometry, group);
            uint mask = Window(activations.Slice(start, length), geometry.DigitBits);
            for (int g = first; g <= last; g++) digitMasks[g] &= mask;
        }
    }

    /// <summary>ReDy groups of a pixel's vector: the OU row groups, or the row tiles (one crossbar's rows each).</summary>
    private int GroupCount(LayerGeometry geometry) => Scope == ReDyGroupScope.OuRows ? geometry.RowGroupCount : geometry.RowTileCount;

    /// <summary>ReDy group <paramref name="group"/>'s rows [Start, Start + Length) and the OU row groups First..Last it covers.</summary>
    private (int Start, int Length, int First, int Last) GroupRange(LayerGeometry geometry, int group)
    {
        int first = Scope == ReDyGroupScope.OuRows ? group : geometry.TileFirstGroup[group];
        int last = Scope == ReDyGroupScope.OuRows ? group : geometry.TileFirstGroup[group + 1] - 1;
        int start = geometry.GroupStart[first];
        return (start, geometry.GroupStart[last] + geometry.GroupRows[last] - start, first, last);
    }

    /// <summary>The policy's name and parameters, e.g. <c>redy max:3 array</c> (run keys and result rows).</summary>
    public override string ToString() => $"redy {Heuristic.Name} {(Scope == ReDyGroupScope.ArrayRows ? "array" : "ou")}{(RewritesCodes ? " round" : "")}";

    /// <summary>The digits [low, high] the heuristic keeps for one group's codes, as a mask (0 when every code is 0). Codes a
    /// rounding policy rewrote already end at their window, so the lossless window of them is the window.</summary>
    internal uint Window(ReadOnlySpan<byte> codes, int digitBits) =>
        Bounds(codes, digitBits, lossless: RewritesCodes) is var (_, low, high) ? (uint)((1L << (high + 1)) - (1L << low)) : 0;

    /// <summary>The group's lowest non-zero digit, the lowest digit the heuristic keeps and the leading digit; null when every
    /// code is 0.</summary>
    private (int Lowest, int Low, int High)? Bounds(ReadOnlySpan<byte> codes, int digitBits, bool lossless = false)
    {
        var moments = GroupMoments.Of(codes, sums: !lossless && Heuristic.ReadsSums);
        int any = moments.Or;
        if (any == 0) return null;
        int highest = (31 - int.LeadingZeroCount(any)) / digitBits, lowest = int.TrailingZeroCount(any) / digitBits;
        return (lowest, lossless ? lowest : Heuristic.LowestKept(moments, codes.Length, lowest, highest, digitBits), highest);
    }
}
