using PimQuant.Quant.Granularity;

namespace PimQuant.Hardware.Mapping;

/// <summary>
/// Integer weights in the layer's own layout (conv OIHW: [Cout][Cin/groups][kh][kw]; linear
/// [out][in]) viewed as the lowered matrix: column j's K weights are the j-th contiguous run of K.
/// Optional input of data-aware mappings (skipping all-zero OUs); the dense tiling ignores it.
/// </summary>
public sealed class LoweredWeights
{
    private readonly ReadOnlyMemory<int> _values;

    /// <summary>Wraps <paramref name="values"/> (length Cout·K) of a layer lowered as <paramref name="lowered"/>.</summary>
    public LoweredWeights(WeightLowering lowered, ReadOnlyMemory<int> values)
    {
        if (lowered.Orientation != WeightOrientation.OutputFirst)
            throw new ArgumentException("the weights are laid out output channel first; give the layer's output-first lowering (LayerShape.Lowering)", nameof(lowered));
        if (values.Length != lowered.Weights)
            throw new ArgumentException($"{values.Length} weights given; the layer holds {lowered.Columns}·{lowered.Rows}");
        Lowered = lowered;
        _values = values;
    }

    /// <summary>The lowering the weights follow.</summary>
    public WeightLowering Lowered { get; }

    /// <summary>The weight at block-diagonal (row, column), or null where no cell exists (off the group's block).</summary>
    public int? At(int row, int column)
    {
        if (!Lowered.Holds(row, column)) return null;
        int k = row - Lowered.GroupOfColumn(column) * Lowered.Rows;
        return _values.Span[column * Lowered.Rows + k];
    }
}
