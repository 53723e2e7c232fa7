using TorchSharp;
using static TorchSharp.torch;

namespace PimQuant.Quant.Granularity;

/// <summary>
/// One scale group of a weight: the rectangle of the lowered matrix M (rows
/// [<see cref="RowStart"/>, +<see cref="RowCount"/>), columns [<see cref="ColumnStart"/>, +<see cref="ColumnCount"/>)) whose
/// elements share a scale and zero point.
/// </summary>
public readonly record struct ScaleGroup(int RowStart, int RowCount, int ColumnStart, int ColumnCount)
{
    /// <summary>Elements in the group.</summary>
    public int Count => RowCount * ColumnCount;
}

/// <summary>
/// The scale groups of one weight under one granularity, and the index tensors that gather a
/// weight into groups and spread per-group scales back over it. Groups partition M exactly:
/// tensor — one group, all of M; channel — one group per column n, ordered by n; array and OU
/// block — tiles of the requested size over each convolution group's K × Cout/groups matrix,
/// ordered by convolution group, then tile row, then tile column (edge tiles are smaller).
/// </summary>
public sealed class WeightGroupLayout : IDisposable
{
    private WeightGroupLayout(WeightLowering lowering, ScaleGranularity granularity, ScaleGroup[] groups)
    {
        Lowering = lowering;
        Granularity = granularity;
        Groups = groups;
        var groupOf = GroupOfElements(lowering, groups);
        GroupOfElement = groupOf;

        MaxGroupSize = groups.Max(g => g.Count);
        using var scope = NewDisposeScope();
        // Index tensors over the weight tensor's own layout, so quantizing never has to lower the weight.
        var byWeightIndex = new long[groupOf.Length];
        var gather = new long[groups.Length * MaxGroupSize];
        var mask = new bool[gather.Length];
        var filled = new int[groups.Length];
        for (int r = 0; r < lowering.Rows; r++)
            for (int c = 0; c < lowering.Columns; c++)
            {
                int g = groupOf[r * lowering.Columns + c];
                long w = lowering.WeightIndex(r, c);
                byWeightIndex[w] = g;
                int slot = g * MaxGroupSize + filled[g]++;
                gather[slot] = w;
                mask[slot] = true;
            }
        GroupIndex = tensor(byWeightIndex).reshape([.. lowering.WeightShape]).DetachFromDisposeScope();
        GatherIndex = tensor(gather).reshape(groups.Length, MaxGroupSize).DetachFromDisposeScope();
        GatherMask = tensor(mask).reshape(groups.Length, MaxGroupSize).DetachFromDisposeScope();
    }

    /// <summary>Lays out the groups of <paramref name="granularity"/> over the weight <paramref name="lowering"/> describes.</summary>
    /// <exception cref="ArgumentException">A dynamic granularity (activations only) or a tile size below 1.</exception>
    public static WeightGroupLayout Create(WeightLowering lowering, ScaleGranularity granularity) =>
        new(lowering, granularity, Rectangles(lowering, granularity));

    /// <summary>
    /// The groups of <paramref name="granularity"/> over <paramref name="lowering"/>'s matrix, in the
    /// documented order, without the index tensors (what a precision map is checked against).
    /// </summary>
    /// <exception cref="ArgumentException">A dynamic granularity (activations only) or a tile size below 1.</exception>
    public static ScaleGroup[] Rectangles(WeightLowering lowering, ScaleGranularity granularity)
    {
        int k = lowering.Rows, n = lowering.Columns;
        return granularity switch
        {
            ScaleGranularity.PerTensor => [new ScaleGroup(0, k, 0, n)],
            ScaleGranularity.PerChannel => [.. Enumerable.Range(0, n).Select(c => new ScaleGroup(0, k, c, 1))],
            ScaleGranularity.PerArray a => Tiles(lowering, a.Rows, a.Columns),
            ScaleGranularity.PerOuBlock o => Tiles(lowering, o.Rows, o.Columns),
            _ => throw new ArgumentException($"granularity '{granularity}' does not apply to weights", nameof(granularity)),
        };
    }

    /// <summary>The group of each element of M (row-major, index row·N + column) for <paramref name="groups"/> partitioning it.</summary>
    public static int[] GroupOfElements(WeightLowering lowering, IReadOnlyList<ScaleGroup> groups)
    {
        var groupOf = new int[lowering.Rows * lowering.Columns];
        for (int g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            for (int r = group.RowStart; r < group.RowStart + group.RowCount; r++)
                for (int c = group.ColumnStart; c < group.ColumnStart + group.ColumnCount; c++)
                    groupOf[r * lowering.Columns + c] = g;
        }
        return groupOf;
    }

    private static ScaleGroup[] Tiles(WeightLowering lowering, int rows, int columns)
    {
        if (rows < 1 || columns < 1) throw new ArgumentException($"tile {rows}×{columns}: both sides must be at least 1");
        var tiles = new List<ScaleGroup>();
        int perGroup = lowering.ColumnsPerGroup;
        for (int g = 0; g < lowering.ConvolutionGroups; g++)
            for (int r = 0; r < lowering.Rows; r += rows)
                for (int c = 0; c < perGroup; c += columns)
                    tiles.Add(new ScaleGroup(r, Math.Min(rows, lowering.Rows - r), g * perGroup + c, Math.Min(columns, perGroup - c)));
        return [.. tiles];
    }

    /// <summary>The weight's lowering.</summary>
    public WeightLowering Lowering { get; }

    /// <summary>The granularity the groups realise.</summary>
    public ScaleGranularity Granularity { get; }

    /// <summary>The groups, in the documented order; group g has scale g.</summary>
    public IReadOnlyList<ScaleGroup> Groups { get; }

    /// <summary>The group of each element of M, row-major (index row·N + column).</summary>
    public IReadOnlyList<int> GroupOfElement { get; }

    /// <summary>The largest group's element count.</summary>
    public int MaxGroupSize { get; }

    /// <summary>Int64, the weight's shape: the group of each weight element.</summary>
    public Tensor GroupIndex { get; }

    /// <summary>Int64 (groups, <see cref="MaxGroupSize"/>): flat weight indices of each group's elements, padded with 0.</summary>
    public Tensor GatherIndex { get; }

    /// <summary>Bool (groups, <see cref="MaxGroupSize"/>): true where <see cref="GatherIndex"/> holds an element, false on padding.</summary>
    public Tensor GatherMask { get; }

    /// <summary>The weight gathered into (groups, <see cref="MaxGroupSize"/>) rows; padding entries repeat element 0 (mask them).</summary>
    public Tensor Grouped(Tensor weight) => weight.flatten().index_select(0, GatherIndex.flatten()).reshape(GatherIndex.shape);

    /// <summary>A per-group vector spread over the weight's shape: result[i] = perGroup[group of i].</summary>
    public Tensor Spread(Tensor perGroup) => perGroup.index_select(0, GroupIndex.flatten()).reshape(GroupIndex.shape);

    /// <inheritdoc/>
    public void Dispose()
    {
        GroupIndex.Dispose();
        GatherIndex.Dispose();
        GatherMask.Dispose();
    }
}
