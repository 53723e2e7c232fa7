using PimQuant.Hardware.Mapping;
using PimQuant.Sim;

namespace PimQuant.Accelerator;

/// <summary>
/// Reads a precision-aware <see cref="LayerMapping"/> as the simulator's <see cref="OuPlacement"/> of one convolution
/// group: each OU block of the mapping is one OU of the group's slice-major <see cref="LayerGeometry"/> (its rows one OU
/// row group, its columns one (block column, polarity, slice) OU), placed in the mapping's array; the OUs the mapping
/// leaves out are never read. So the simulator reads exactly the mapping's OUs and counts its arrays' reads, and the
/// cost model prices the same mapping.
/// </summary>
internal static class MappedPlacement
{
    public static OuPlacement Of(LayerMapping mapping, int group, LayerGeometry geometry, CrossbarConfig config)
    {
        var lowered = mapping.Lowered;
        int K = lowered.RowsPerGroup, N = lowered.ColumnsPerGroup, ouIds = geometry.ColumnTileCount * geometry.OusPerColumnTile;
        var arrayOf = new int[geometry.RowGroupCount * ouIds];
        Array.Fill(arrayOf, -1);
        var rowGroupAt = new Dictionary<int, int>();
        for (int g = 0; g < geometry.RowGroupCount; g++) rowGroupAt[geometry.GroupStart[g]] = g;

        var blocks = mapping.Blocks.Where(b => lowered.GroupOfRow(b.MatrixRow) == group).ToArray();
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

    // A mismatch is a defect of the two tilings, never a user error.
    private static InvalidOperationException Mismatch(LayerMapping mapping, string what) =>
        new($"layer {mapping.Layer.Name}: the {mapping.Strategy} mapping and the simulator's slice-major layout disagree: {what}");
}
