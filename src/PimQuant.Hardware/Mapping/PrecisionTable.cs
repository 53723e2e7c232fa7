namespace PimQuant.Hardware.Mapping;

/// <summary>
/// The per-block precision table a precision-aware mapping keeps beside its arrays (BWQ-H's per-bank table of every
/// block's precision): one entry per weight block of <see cref="Blocks"/> — pruned blocks too, whose entry says 0 — in the
/// blocks' order, each <see cref="EntryBits"/> wide. The controller reads a block's entry before each OU-read round of the
/// block (one per streamed input digit of an output pixel) to know how many OUs to read; an entry of 0 triggers no OU
/// read (docs/hardware.md §4).
/// </summary>
/// <param name="Blocks">The block precisions the table holds.</param>
/// <param name="EntryBits">Bits per entry (<see cref="EntryBitsFor"/> of the layer's stored bits).</param>
public sealed record PrecisionTable(BlockPrecision Blocks, int EntryBits)
{
    /// <summary>Entries: every block of the layer, pruned or not.</summary>
    public long Entries => Blocks.Bits.Count;

    /// <summary>Storage: entries × entry bits.</summary>
    public long Bits => Entries * EntryBits;

    /// <summary>Entries of one block row of one convolution group (the blocks one OU row group's rounds read).</summary>
    public int EntriesPerBlockRow => Blocks.ColumnBlocks;

    /// <summary>
    /// ceil(log2(stored bits + 1)): an entry holds any precision 0..stored bits a block of the layer can take. The width
    /// follows the layer's weight bits rather than the largest precision its blocks happen to use, so the table's layout
    /// does not depend on the trained weights (a 9-bit layer, 8 stored bits: 4-bit entries).
    /// </summary>
    public static int EntryBitsFor(int storedBits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(storedBits, 1);
        return 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)storedBits);
    }
}
