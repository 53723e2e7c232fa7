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
    /// <summary>A policy applying <paramref name="heuristic"/> to groups of <paramref name="scope"/>.</summary>
    /// <exception cref="ArgumentException">The heuristic's parameters are out of range.</exception>
    public ReDyPolicy(ReDyHeuristic heuristic, ReDyGroupScope scope = ReDyGroupScope.ArrayRows)
    {
        ArgumentNullException.ThrowIfNull(heuristic);
        heuristic.Validate();
        Heuristic = heuristic;
        Scope = scope;
    }

    /// <summary>The heuristic.</summary>
    public ReDyHeuristic Heuristic { get; }

    /// <summary>The group scope.</summary>
    public ReDyGroupScope Scope { get; }

    /// <inheritdoc/>
    public void SelectDigits(long pixel, ReadOnlySpan<byte> activations, LayerGeometry geometry, Span<uint> digitMasks)
    {
        var start = geometry.GroupStart;
        var rows = geometry.GroupRows;
        if (Scope == ReDyGroupScope.OuRows)
        {
            for (int g = 0; g < geometry.RowGroupCount; g++)
                digitMasks[g] &= Window(activations.Slice(start[g], rows[g]), geometry.DigitBits);
            return;
        }
        var tiles = geometry.TileFirstGroup;
        for (int tile = 0; tile < geometry.RowTileCount; tile++)
        {
            int first = tiles[tile], last = tiles[tile + 1] - 1;
            uint mask = Window(activations[start[first]..(start[last] + rows[last])], geometry.DigitBits);
            for (int g = first; g <= last; g++) digitMasks[g] &= mask;
        }
    }

    /// <summary>The policy's name and parameters, e.g. <c>redy max:3 array</c> (run keys and result rows).</summary>
    public override string ToString() => $"redy {Heuristic.Name} {(Scope == ReDyGroupScope.ArrayRows ? "array" : "ou")}";

    /// <summary>The digits [low, high] the heuristic keeps for one group's codes, as a mask (0 when every code is 0).</summary>
    internal uint Window(ReadOnlySpan<byte> codes, int digitBits)
    {
        int any = 0;
        foreach (byte code in codes) any |= code;
        if (any == 0) return 0;
        int highest = (31 - int.LeadingZeroCount(any)) / digitBits, lowest = int.TrailingZeroCount(any) / digitBits;
        int low = Heuristic.LowestKept(codes, lowest, highest, digitBits);
        return (uint)((1L << (highest + 1)) - (1L << low));
    }
}
