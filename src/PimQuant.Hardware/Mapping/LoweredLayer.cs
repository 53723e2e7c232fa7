namespace PimQuant.Hardware.Mapping;

/// <summary>
/// A layer lowered to one matrix (docs/hardware.md §0). Group g of a conv becomes a K × N block
/// (K = (Cin/groups)·kh·kw rows in im2col order: channel-major, then kh, then kw; N = Cout/groups
/// columns); the groups sit block-diagonally in a (groups·K) × (groups·N) matrix whose input is
/// the ordinary im2col vector over all Cin channels and whose column j is output channel j. Cells
/// off the diagonal blocks do not exist (they are never programmed). Groups = 1 is the plain
/// K × Cout matrix; linear is K = in, N = out.
/// </summary>
public sealed record LoweredLayer(int Groups, int RowsPerGroup, int ColumnsPerGroup, int KernelH, int KernelW)
{
    /// <summary>Lowers <paramref name="layer"/>.</summary>
    public static LoweredLayer Of(LayerShape layer) =>
        new(layer.Groups, layer.RowsPerGroup, layer.ColumnsPerGroup, layer.KernelH, layer.KernelW);

    /// <summary>Rows of the lowered matrix: groups·K = Cin·kh·kw (the im2col vector length).</summary>
    public int Rows => Groups * RowsPerGroup;

    /// <summary>Logical columns: groups·N = Cout.</summary>
    public int Columns => Groups * ColumnsPerGroup;

    /// <summary>Weights held: groups·K·N.</summary>
    public long Weights => (long)Groups * RowsPerGroup * ColumnsPerGroup;

    /// <summary>The group of logical column (output channel) <paramref name="column"/>.</summary>
    public int GroupOfColumn(int column) => column / ColumnsPerGroup;

    /// <summary>The group of lowered row <paramref name="row"/>.</summary>
    public int GroupOfRow(int row) => row / RowsPerGroup;

    /// <summary>True when (row, column) holds a weight (same group).</summary>
    public bool Holds(int row, int column) => GroupOfRow(row) == GroupOfColumn(column);

    /// <summary>The rows [Start, Start + Count) holding column <paramref name="column"/>'s weights.</summary>
    public (int Start, int Count) RowsOfColumn(int column) => (GroupOfColumn(column) * RowsPerGroup, RowsPerGroup);

    /// <summary>
    /// The lowered row of input channel <paramref name="channel"/> (0..Cin−1) at kernel position
    /// (<paramref name="ky"/>, <paramref name="kx"/>): (channel·kh + ky)·kw + kx, i.e. im2col order.
    /// </summary>
    public int RowOf(int channel, int ky, int kx) => (channel * KernelH + ky) * KernelW + kx;
}

/// <summary>
/// Integer weights in the layer's own layout (conv OIHW: [Cout][Cin/groups][kh][kw]; linear
/// [out][in]) viewed as the lowered matrix: column j's K weights are the j-th contiguous run of K.
/// Optional input of data-aware mappings (skipping all-zero OUs); the dense tiling ignores it.
/// </summary>
public sealed class LoweredWeights
{
    private readonly ReadOnlyMemory<int> _values;

    /// <summary>Wraps <paramref name="values"/> (length Cout·K) of a layer lowered as <paramref name="lowered"/>.</summary>
    public LoweredWeights(LoweredLayer lowered, ReadOnlyMemory<int> values)
    {
        if (values.Length != lowered.Columns * (long)lowered.RowsPerGroup)
            throw new ArgumentException($"{values.Length} weights given; the layer holds {lowered.Columns}·{lowered.RowsPerGroup}");
        Lowered = lowered;
        _values = values;
    }

    /// <summary>The lowering the weights follow.</summary>
    public LoweredLayer Lowered { get; }

    /// <summary>The weight at lowered (row, column), or null where no cell exists (off the group's block).</summary>
    public int? At(int row, int column)
    {
        if (!Lowered.Holds(row, column)) return null;
        int k = row - Lowered.GroupOfColumn(column) * Lowered.RowsPerGroup;
        return _values.Span[column * Lowered.RowsPerGroup + k];
    }
}
