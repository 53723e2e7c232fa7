using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Mapping;

/// <summary>
/// Dense tiling, the baseline mapping:
/// <list type="number">
/// <item>Physical columns: logical column j, polarity p (G+ then G− with differential encoding)
/// and slice s (bits [s·c, s·c + c) of the stored value, least significant first) take physical
/// column (j·P + p)·S + s: a weight's slices side by side, its G+ slices before its G− slices
/// (the functional simulator's numbering).</item>
/// <item>Rows are cut into tiles of <c>rows</c> wordlines (with <see cref="MappingRequest.WholeOuRowTiles"/>, of the
/// floor(rows/ou_rows)·ou_rows wordlines that hold whole OU row groups). Columns are cut into tiles of
/// L = floor(cols / (S·P)) whole logical columns, so a weight's bitlines never straddle two arrays
/// (its codes are shift-added where they are converted); the L·S·P bitlines of a tile sit from
/// bitline 0, the rest of the array stays unused. Each (row tile, column tile) that holds at least
/// one cell becomes an array (block-diagonal groups leave some tiles empty, and those are not
/// allocated).</item>
/// <item>Inside an array, OU row groups are wordlines [u·ou_rows, (u+1)·ou_rows) and OU column
/// groups bitlines [v·ou_cols, …), the last ones shorter at the array or matrix edge. Each pair
/// with a programmed cell becomes one <see cref="OuBlock"/>, trimmed to the rows and columns that
/// hold cells (only grouped convolutions trim).</item>
/// </list>
/// Every OU block is read for every input digit: no skipping.
/// </summary>
public sealed class DenseTiling : IMappingStrategy
{
    /// <summary>The one instance (stateless).</summary>
    public static DenseTiling Instance { get; } = new();

    /// <inheritdoc/>
    public string Name => MappingNames.Dense;

    /// <inheritdoc/>
    public LayerMapping Map(MappingRequest request)
    {
        var (layer, spec) = (request.Layer, request.Spec);
        var geometry = spec.Array(request.ArrayName);
        var lowered = LoweredLayer.Of(layer);
        int cellBits = spec.Cell.Bits;
        int stored = spec.Encoding.StoredBits(request.WeightBits);
        if (request.WeightBits > 16 || stored < 1)
            throw new ArgumentOutOfRangeException(nameof(request), request.WeightBits,
                $"weight bits must leave at least one stored bit and be at most 16 ({spec.Encoding.Weights} encoding)");
        int slices = (stored + cellBits - 1) / cellBits;
        int polarities = spec.Encoding.Polarities;

        long physical = (long)lowered.Columns * slices * polarities;
        if (physical > int.MaxValue) throw new ArgumentException($"layer '{layer.Name}' needs {physical} physical columns");
        var columns = new CellColumn[physical];
        for (int j = 0, i = 0; j < lowered.Columns; j++)
            for (int p = 0; p < polarities; p++)
                for (int s = 0; s < slices; s++)
                {
                    var polarity = polarities == 1 ? Polarity.Offset : p == 0 ? Polarity.Positive : Polarity.Negative;
                    columns[i++] = new CellColumn(j, s * cellBits, Math.Min(cellBits, stored - s * cellBits), polarity);
                }

        int K = lowered.RowsPerGroup, matrixRows = lowered.Rows, physCols = columns.Length;
        int perTile = geometry.Cols / (slices * polarities) * slices * polarities;
        if (perTile == 0)
            throw new ArgumentException($"layer '{layer.Name}': one weight needs {slices * polarities} bitlines ({slices} slices × {polarities} polarities), more than an array's {geometry.Cols}");
        // Whole OU row groups per tile when asked (OU-block weight scales): the last rows of each array stay unused.
        int tileRows = request.WholeOuRowTiles ? geometry.Rows / geometry.OuRows * geometry.OuRows : geometry.Rows;
        int rowTiles = (matrixRows + tileRows - 1) / tileRows;
        int colTiles = (physCols + perTile - 1) / perTile;
        var arrays = new List<MappedArray>();
        var blocks = new List<OuBlock>();
        for (int rt = 0; rt < rowTiles; rt++)
        {
            int rowStart = rt * tileRows, rowCount = Math.Min(tileRows, matrixRows - rowStart);
            for (int ct = 0; ct < colTiles; ct++)
            {
                int colStart = ct * perTile, colCount = Math.Min(perTile, physCols - colStart);
                int index = arrays.Count;
                blocks.Clear();
                long programmed = 0;
                for (int u = 0; u * geometry.OuRows < rowCount; u++)
                {
                    int ouRow = u * geometry.OuRows, ouRows = Math.Min(geometry.OuRows, rowCount - ouRow);
                    for (int v = 0; v * geometry.OuCols < colCount; v++)
                    {
                        int ouCol = v * geometry.OuCols, ouCols = Math.Min(geometry.OuCols, colCount - ouCol);
                        var trimmed = Trim(columns, colStart + ouCol, ouCols, rowStart + ouRow, ouRows, lowered, K);
                        if (trimmed is null) continue;
                        var (c0, cn, r0, rn) = trimmed.Value;
                        var block = new OuBlock(index, u, v, r0 - rowStart, c0 - colStart, r0, rn, columns.AsMemory(c0, cn));
                        programmed += LayerMapping.ProgrammedCellsOf(block, lowered);
                        blocks.Add(block);
                    }
                }
                if (blocks.Count > 0) arrays.Add(new MappedArray(index, geometry, blocks.ToArray().AsReadOnly(), programmed));
            }
        }
        return new LayerMapping(Name, layer, spec, geometry, request.WeightBits, arrays.AsReadOnly());
    }

    /// <summary>
    /// The sub-rectangle of physical columns [col, col + cols) × matrix rows [row, row + rows)
    /// holding cells: columns are ordered by group, so the groups present form one run and so do
    /// the rows they own. Null when it holds none.
    /// </summary>
    private static (int Col, int Cols, int Row, int Rows)? Trim(CellColumn[] columns, int col, int cols, int row, int rows, LoweredLayer lowered, int K)
    {
        if (lowered.Groups == 1) return (col, cols, row, rows);
        int gFirst = lowered.GroupOfColumn(columns[col].Column), gLast = lowered.GroupOfColumn(columns[col + cols - 1].Column);
        int r0 = Math.Max(row, gFirst * K), r1 = Math.Min(row + rows, (gLast + 1) * K);
        if (r0 >= r1) return null;
        int rgFirst = r0 / K, rgLast = (r1 - 1) / K;
        int c0 = col, c1 = col + cols;
        while (lowered.GroupOfColumn(columns[c0].Column) < rgFirst) c0++;
        while (lowered.GroupOfColumn(columns[c1 - 1].Column) > rgLast) c1--;
        return (c0, c1 - c0, r0, r1 - r0);
    }
}
