namespace PimQuant.Sim;

/// <summary>
/// The per-block precision table a precision-aware mapping keeps (BWQ-H; Hardware's <c>PrecisionTable</c>), as the
/// simulator counts its reads: before each OU-read round of an OU row group (one per streamed input digit of a pixel) the
/// controller reads the entries of the group's weight blocks, pruned blocks included, to know how many OUs each takes
/// (docs/hardware.md §4). A digit a digit policy does not stream reads no entry.
/// </summary>
public sealed record PrecisionIndex
{
    /// <summary>A table of <paramref name="entriesPerRowGroup"/> entries per OU row group, <paramref name="entryBits"/> bits each.</summary>
    public PrecisionIndex(int entryBits, IReadOnlyList<int> entriesPerRowGroup)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(entryBits, 1);
        ArgumentNullException.ThrowIfNull(entriesPerRowGroup);
        foreach (int e in entriesPerRowGroup) ArgumentOutOfRangeException.ThrowIfNegative(e, nameof(entriesPerRowGroup));
        EntryBits = entryBits;
        EntriesPerRowGroup = entriesPerRowGroup.ToArray();
    }

    /// <summary>Bits of one entry.</summary>
    public int EntryBits { get; }

    /// <summary>Per OU row group of the layer's <see cref="LayerGeometry"/>, the entries one round reads.</summary>
    public IReadOnlyList<int> EntriesPerRowGroup { get; }
}
