using PimQuant.Hardware.Mapping;
using PimQuant.Sim;

namespace PimQuant.Accelerator;

/// <summary>
/// Reads a <see cref="LayerMapping"/> as the simulator's <see cref="OuPlacement"/> of one convolution group: each OU block
/// of the mapping is one OU of the group's <see cref="LayerGeometry"/> (its rows one OU row group, its columns one OU:
/// a (block column, polarity, slice) OU in the slice-major layout, bitlines [v·ou_cols, …) of a column tile in the
/// weight-major one), placed in the mapping's array; the OUs the mapping leaves out are never read. So the simulator reads
/// exactly the mapping's OUs and counts its arrays' reads, and the cost model prices the same mapping. Any disagreement
/// between the two is a defect and throws.
/// </summary>
internal static class MappedPlacement
{
    public static OuPlacement Of(LayerMapping mapping, int group, LayerGeometry geometry, CrossbarConfig config)
    {
        var lowered = mapping.Lowered;
        int K = lowered.Rows, N = lowered.ColumnsPerGroup, ouIds = geometry.ColumnTileCount * geometry.OusPerColumnTile;
        var arrayOf = new int[geometry.RowGroupCount * ouIds];
        Array.Fill(arrayOf, -1);
        var rowGroupAt = new Dictionary<int, int>();
        for (int g = 0; g < geometry.RowGroupCount; g++) rowGroupAt[geometry.GroupStart[g]] = g;

        var blocks = mapping.Blocks.Where(b => lowered.GroupOfInputRow(b.MatrixRow) == group).ToArray();
        int first = blocks.Length == 0 ? 0 : blocks.Min(b => b.Array), arrays = blocks.Length == 0 ? 0 : blocks.Max(b => b.Array) - first + 1;
        foreach (var block in blocks)
        {
            if (!rowGroupAt.TryGetValue(block.MatrixRow - group * K, out int rowGroup) || geometry.GroupRows[rowGroup] != block.Rows)
                throw Mismatch(mapping, $"rows {block.MatrixRow}..{block.MatrixRow + block.Rows - 1} are no OU row group of the simulator");
            int ou = -1;
            foreach (var column in block.Columns.Span)
            {
                int polarity = column.Polarity == Polarity.Negative ? 1 : 0;
                int o = geometry.OuOfColumn[geometry.PhysicalColumn(column.Column - group * N, polarity, column.Bit / config.CellBits)];
                if (ou >= 0 && o != ou) throw Mismatch(mapping, $"the columns of one OU block fall in two of the simulator's OUs");
                ou = o;
            }
            if (geometry.OuUsedColumns[ou] != block.Cols) throw Mismatch(mapping, $"an OU block of {block.Cols} columns is an OU of {geometry.OuUsedColumns[ou]} in the simulator");
            arrayOf[rowGroup * ouIds + ou] = block.Array - first;
        }
        return new OuPlacement(arrays, arrayOf);
    }

    /// <summary>The per-block precision table of one convolution group (every group's lists its block rows alike) as the
    /// simulator counts its reads, or null when the mapping keeps none: the simulator's OU row groups are the table's block
    /// rows (whole-OU row tiles), each round of one reading the entries of its block row.</summary>
    public static PrecisionIndex? Index(LayerMapping mapping, LayerGeometry geometry)
    {
        if (mapping.Table is not { } table) return null;
        var blocks = table.Blocks;
        if (geometry.RowGroupCount != blocks.RowBlocks)
            throw Mismatch(mapping, $"{geometry.RowGroupCount} OU row groups, the precision table has {blocks.RowBlocks} block rows");
        for (int g = 0; g < geometry.RowGroupCount; g++)
            if (geometry.GroupStart[g] != g * blocks.BlockRows)
                throw Mismatch(mapping, $"OU row group {g} starts at row {geometry.GroupStart[g]}, block row {g} of the precision table at {g * blocks.BlockRows}");
        return new PrecisionIndex(table.EntryBits, Enumerable.Repeat(table.EntriesPerBlockRow, geometry.RowGroupCount).ToArray());
    }

    /// <summary>Checks that a dense mapping's placement is the simulator's own tiling: every OU it reads is placed, in the array of
    /// its row tile × column tile, so the simulator (which then indexes per-array ADC steps by that tiling) reads the mapping.</summary>
    public static void RequireTiling(OuPlacement placement, LayerGeometry geometry, LayerMapping mapping)
    {
        int ouIds = geometry.ColumnTileCount * geometry.OusPerColumnTile;
        if (placement.Arrays != geometry.RowTileCount * geometry.ColumnTileCount)
            throw Mismatch(mapping, $"{placement.Arrays} arrays, the simulator tiles {geometry.RowTileCount} × {geometry.ColumnTileCount}");
        for (int g = 0; g < geometry.RowGroupCount; g++)
            for (int ou = 0; ou < ouIds; ou++)
            {
                int expected = geometry.OuUsedColumns[ou] == 0 ? -1 : geometry.GroupTile[g] * geometry.ColumnTileCount + geometry.OuColumnTile[ou];
                if (placement.ArrayOf[g * ouIds + ou] != expected)
                    throw Mismatch(mapping, $"row group {g}, OU {ou} sits in array {placement.ArrayOf[g * ouIds + ou]}, the simulator's tile is {expected}");
            }
    }

    // A mismatch is a defect of the two tilings, never a user error.
    private static InvalidOperationException Mismatch(LayerMapping mapping, string what) =>
        new($"layer {mapping.Layer.Name}: the {mapping.Strategy} mapping and the simulator's layout disagree: {what}");
}
