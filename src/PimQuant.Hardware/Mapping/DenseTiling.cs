using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Mapping;

/// <summary>
/// Dense tiling, the baseline mapping:
/// <list type="number">
/// <item>Physical columns: logical column j, polarity p (G+ then G− with differential encoding)
/// and slice s (bits [s·c, s·c + c) of the stored value, least significant first) take physical
/// column (j·P + p)·S + s: a weight's slices side by side, its G+ slices before its G− slices
/// (the functional simulator's numbering).</item>
/// <item>Each convolution group's K × N/groups block is tiled on arrays of its own, group after group:
/// arrays are not shared by groups, so no read drives one group's inputs through another group's
/// (unprogrammed, but leaking) cells, and the groups' reads run in parallel; the simulator programs each
/// group as a layer of its own and reads exactly these arrays. (Packing the groups of a depthwise
/// convolution block-diagonally into shared arrays would save arrays but read the off-group cells.)</item>
/// <item>A group's rows are cut into tiles of <c>rows</c> wordlines (with <see cref="MappingRequest.WholeOuRowTiles"/>,
/// of the floor(rows/ou_rows)·ou_rows wordlines that hold whole OU row groups). Its columns are cut into tiles of
/// L = floor(cols / (S·P)) whole logical columns, so a weight's bitlines never straddle two arrays
/// (its codes are shift-added where they are converted); the L·S·P bitlines of a tile sit from
/// bitline 0, the rest of the array stays unused. Each (row tile, column tile) becomes an array.</item>
/// <item>Inside an array, OU row groups are wordlines [u·ou_rows, (u+1)·ou_rows) and OU column
/// groups bitlines [v·ou_cols, …), the last ones shorter at the array or matrix edge; each pair
/// becomes one <see cref="OuBlock"/>.</item>
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
        var lowered = layer.Lowering;
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

        int K = lowered.Rows, groupColumns = lowered.ColumnsPerGroup * slices * polarities;
        int perTile = geometry.Cols / (slices * polarities) * slices * polarities;
        if (perTile == 0)
            throw new ArgumentException($"layer '{layer.Name}': one weight needs {slices * polarities} bitlines ({slices} slices × {polarities} polarities), more than an array's {geometry.Cols}");
        // Whole OU row groups per tile when asked (OU-block weight scales): the last rows of each array stay unused.
        int tileRows = request.WholeOuRowTiles ? geometry.Rows / geometry.OuRows * geometry.OuRows : geometry.Rows;
        int rowTiles = (K + tileRows - 1) / tileRows;
        int colTiles = (groupColumns + perTile - 1) / perTile;
        var arrays = new List<MappedArray>();
        var blocks = new List<OuBlock>();
        for (int g = 0; g < lowered.ConvolutionGroups; g++)
            for (int rt = 0; rt < rowTiles; rt++)
            {
                int rowStart = g * K + rt * tileRows, rowCount = Math.Min(tileRows, K - rt * tileRows);
                for (int ct = 0; ct < colTiles; ct++)
                {
                    int colStart = g * groupColumns + ct * perTile, colCount = Math.Min(perTile, groupColumns - ct * perTile);
                    int index = arrays.Count;
                    blocks.Clear();
                    for (int u = 0; u * geometry.OuRows < rowCount; u++)
                    {
                        int ouRow = u * geometry.OuRows, ouRows = Math.Min(geometry.OuRows, rowCount - ouRow);
                        for (int v = 0; v * geometry.OuCols < colCount; v++)
                        {
                            int ouCol = v * geometry.OuCols, ouCols = Math.Min(geometry.OuCols, colCount - ouCol);
                            blocks.Add(new OuBlock(index, u, v, ouRow, ouCol, rowStart + ouRow, ouRows, columns.AsMemory(colStart + ouCol, ouCols)));
                        }
                    }
                    arrays.Add(new MappedArray(index, geometry, blocks.ToArray().AsReadOnly(), (long)rowCount * colCount));
                }
            }
        return new LayerMapping(Name, layer, spec, geometry, request.WeightBits, arrays.AsReadOnly());
    }
}
