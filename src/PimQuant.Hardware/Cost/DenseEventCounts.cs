using PimQuant.Hardware.Mapping;

namespace PimQuant.Hardware.Cost;

/// <summary>
/// Event counts of the dense case, analytically from a mapping: every OU block of the mapping is
/// read for every one of the T = ceil(activation bits / DAC bits) digits of every output pixel,
/// every row driven, every column converted, nothing skipped; with a precision table, every entry is read before each of
/// its block's OU-read rounds (one per digit and pixel), pruned blocks' entries included. The functional simulator with
/// <see cref="AllDigits"/>, no zero-digit skipping and this mapping must count exactly the same.
/// </summary>
public static class DenseEventCounts
{
    /// <summary>Counts one image of <paramref name="mapping"/>'s layer.</summary>
    /// <param name="mapping">The layer's mapping (its blocks are what is read).</param>
    /// <param name="activationBits">Unsigned input bits ba.</param>
    /// <param name="outputBits">Bits of each output written and routed; defaults to <paramref name="activationBits"/>.</param>
    /// <param name="pixels">Input vectors per image; defaults to the layer's output pixels.</param>
    public static EventCounts Compute(LayerMapping mapping, int activationBits, int? outputBits = null, long? pixels = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(activationBits, 1);
        var spec = mapping.Spec;
        long p = pixels ?? mapping.Layer.OutputPixels;
        long digits = spec.Dac.Digits(activationBits);
        long reads = p * digits;
        int outBits = outputBits ?? activationBits;

        long blocks = 0, rows = 0, cols = 0, cells = 0, busiest = 0;
        var rowGroups = new HashSet<(int Array, int OuRow, int Group)>();
        var lowered = mapping.Lowered;
        foreach (var array in mapping.Arrays)
        {
            busiest = Math.Max(busiest, array.Blocks.Count);
            foreach (var b in array.Blocks)
            {
                blocks++;
                rows += b.Rows;
                cols += b.Cols;
                cells += (long)b.Rows * b.Cols;
                if (!spec.Encoding.NeedsDigitSums) continue;
                var span = b.Columns.Span;
                int g0 = lowered.GroupOfColumn(span[0].Column), g1 = lowered.GroupOfColumn(span[^1].Column);
                for (int g = g0; g <= g1; g++) rowGroups.Add((b.Array, b.OuRow, g));
            }
        }

        return new EventCounts
        {
            Macs = mapping.Layer.Macs / mapping.Layer.OutputPixels * p,
            OuReads = reads * blocks,
            CellReads = reads * cells,
            DacDrives = reads * rows,
            AdcConversions = reads * cols,
            ShiftAdds = reads * cols,
            DigitSums = reads * rowGroups.Count,
            BufferReadBits = p * lowered.InputRows * (long)activationBits,
            BufferWriteBits = p * lowered.Columns * (long)outBits,
            RouterBits = p * lowered.Columns * (long)outBits,
            IndexReadBits = reads * mapping.IndexBits,
            CriticalPathOuReads = reads * busiest,
        };
    }
}
