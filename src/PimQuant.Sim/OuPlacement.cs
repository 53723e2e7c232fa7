namespace PimQuant.Sim;

/// <summary>
/// The arrays a mapping puts a layer's OUs in, when they are not the row tile × column tile the simulator's own
/// tiling gives: the precision-aware mapping packs the OUs of several weight blocks into one array and leaves out
/// those it does not allocate. For each (OU row group, OU id) of the layer's <see cref="LayerGeometry"/>
/// (row-group-major), the index of the array that holds it, or −1 for an OU the mapping does not hold: such an
/// OU is never read (lossless only where its cells all hold level 0). Event counts then follow these arrays: the
/// busiest array's reads and the digit sums per (row group, array).
/// </summary>
public sealed record OuPlacement
{
    /// <summary>A placement over <paramref name="arrays"/> arrays; <paramref name="arrayOf"/> has one entry per (row group, OU id).</summary>
    public OuPlacement(int arrays, IReadOnlyList<int> arrayOf)
    {
        ArgumentNullException.ThrowIfNull(arrayOf);
        ArgumentOutOfRangeException.ThrowIfLessThan(arrays, 0);
        foreach (int a in arrayOf)
            if (a < -1 || a >= arrays) throw new ArgumentException($"OU placed in array {a}; the placement has {arrays} arrays", nameof(arrayOf));
        Arrays = arrays;
        ArrayOf = arrayOf.ToArray();
    }

    /// <summary>Arrays of the layer.</summary>
    public int Arrays { get; }

    /// <summary>Per (row group, OU id), row-group-major: the array holding the OU, −1 when it is not held.</summary>
    public IReadOnlyList<int> ArrayOf { get; }
}
