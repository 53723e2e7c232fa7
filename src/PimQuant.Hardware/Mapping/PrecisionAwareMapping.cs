using PimQuant.Hardware.Spec;
using PimQuant.Quant.Granularity;

namespace PimQuant.Hardware.Mapping;

/// <summary>
/// BWQ-H's precision-aware mapping: a weight block of ou_rows × ou_cols (the OU's size; blocks as in
/// <see cref="BlockPrecision"/>, per convolution group from its top left corner) of precision p occupies
/// ceil(p / cell_bits) OUs per polarity side by side, OU s holding stored bits [s·c, s·c + c) of the block's
/// weights (with 1-bit cells: OU k holds bit k of its ou_rows·ou_cols weights), its G+ OUs before its G− OUs.
/// Differential encoding only: |w| is stored, so a block's unused high bits are zero and its OUs are simply
/// not allocated (an offset-encoded zero is w + 2^(bw−1), never an all-zero cell).
/// <list type="number">
/// <item>Rows: the block rows of each convolution group, in order, fill arrays in bands of
/// floor(rows / ou_rows): block row u of a band sits on the array's OU row u (wordlines
/// [u·ou_rows, …)); the wordlines below the last whole OU row stay unused.</item>
/// <item>Columns: an array row holds floor(cols / ou_cols) OU slots. Along each OU row of a band, the
/// blocks with p &gt; 0, in block-column order, take the next free slots of the band's current array; a
/// block that does not fit whole moves on to the band's next array. A band allocates as many arrays as its
/// fullest OU row needs, so OUs freed by low precision and all-zero blocks are not allocated, and an array
/// is allocated only when some block needs it.</item>
/// <item>Arrays are not shared by convolution groups: the groups of a grouped convolution read disjoint
/// arrays, so their reads run in parallel.</item>
/// </list>
/// With a precision map (<see cref="MappingRequest.Precision"/>) every block takes the given precision;
/// without one, the precision the integer weights need (<see cref="BlockPrecision.Of"/>), or with neither
/// every block at the full stored width. The mapping carries the per-block precision table the controller reads
/// (<see cref="PrecisionTable"/>).
/// </summary>
public sealed class PrecisionAwareMapping : IMappingStrategy
{
    /// <summary>The one instance (stateless).</summary>
    public static PrecisionAwareMapping Instance { get; } = new();

    /// <inheritdoc/>
    public string Name => MappingNames.PrecisionAware;

    /// <inheritdoc/>
    public LayerMapping Map(MappingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (layer, spec) = (request.Layer, request.Spec);
        var geometry = spec.Array(request.ArrayName);
        if (spec.Encoding.Weights != WeightEncoding.Differential)
            throw new ArgumentException($"layer '{layer.Name}': the precision-aware mapping stores sign and magnitude on G+/G− columns (differential encoding); {spec.Name} encodes weights with an offset");
        var lowered = layer.Lowering;
        int stored = spec.Encoding.StoredBits(request.WeightBits);
        if (request.WeightBits > 16 || stored < 1)
            throw new ArgumentOutOfRangeException(nameof(request), request.WeightBits, "weight bits must lie in [2, 16] (differential encoding)");
        if (request.Weights is { } given && given.Lowered != lowered)
            throw new ArgumentException($"layer '{layer.Name}': the weights follow another lowering than the layer's");
        var precision = request.Precision
            ?? (request.Weights is { } weights ? BlockPrecision.Of(weights, geometry.OuRows, geometry.OuCols)
                : BlockPrecision.Uniform(lowered, geometry.OuRows, geometry.OuCols, stored));
        Validate(layer, lowered, geometry, precision, stored, request.Weights);

        int cellBits = spec.Cell.Bits, ouRows = geometry.OuRows, ouCols = geometry.OuCols;
        int slots = geometry.Cols / ouCols, band = geometry.Rows / ouRows;
        int widest = (precision.Max + cellBits - 1) / cellBits * 2;
        if (widest > slots)
            throw new ArgumentException($"layer '{layer.Name}': a block of {precision.Max} bits needs {widest} OUs ({(precision.Max + cellBits - 1) / cellBits} per polarity) side by side; an array row of {geometry.Cols} bitlines holds {slots} OUs of {ouCols}");

        int K = lowered.Rows, N = lowered.ColumnsPerGroup;
        var arrays = new List<MappedArray>();
        var bandBlocks = new List<List<OuBlock>>();
        for (int g = 0; g < lowered.ConvolutionGroups; g++)
            for (int first = 0; first < precision.RowBlocks; first += band)
            {
                bandBlocks.Clear();
                for (int u = first; u < Math.Min(precision.RowBlocks, first + band); u++)
                {
                    int array = 0, slot = 0, ouRow = u - first;
                    int matrixRow = g * K + u * ouRows, rows = Math.Min(ouRows, K - u * ouRows);
                    for (int v = 0; v < precision.ColumnBlocks; v++)
                    {
                        int p = precision[g, u, v];
                        if (p == 0) continue;
                        int slices = (p + cellBits - 1) / cellBits;
                        if (slot + 2 * slices > slots) { array++; slot = 0; }
                        while (bandBlocks.Count <= array) bandBlocks.Add([]);
                        int column = g * N + v * ouCols, columns = Math.Min(ouCols, N - v * ouCols);
                        foreach (var polarity in (ReadOnlySpan<Polarity>)[Polarity.Positive, Polarity.Negative])
                            for (int s = 0; s < slices; s++, slot++)
                            {
                                var cells = new CellColumn[columns];
                                for (int j = 0; j < columns; j++) cells[j] = new CellColumn(column + j, s * cellBits, Math.Min(cellBits, p - s * cellBits), polarity);
                                bandBlocks[array].Add(new OuBlock(arrays.Count + array, ouRow, slot, ouRow * ouRows, slot * ouCols, matrixRow, rows, cells));
                            }
                    }
                }
                foreach (var blocks in bandBlocks)
                {
                    // Read order: OU row by OU row, slots left to right.
                    var ordered = blocks.OrderBy(b => b.OuRow).ThenBy(b => b.OuCol).ToArray();
                    arrays.Add(new MappedArray(arrays.Count, geometry, ordered.AsReadOnly(), ordered.Sum(b => (long)b.Rows * b.Cols)));
                }
            }
        // The table holds every block, pruned ones as 0, each entry wide enough for the layer's stored bits.
        return new LayerMapping(Name, layer, spec, geometry, request.WeightBits, arrays.AsReadOnly(),
            new PrecisionTable(precision, PrecisionTable.EntryBitsFor(stored)));
    }

    private static void Validate(LayerShape layer, WeightLowering lowered, ArrayGeometry geometry, BlockPrecision precision, int stored, LoweredWeights? weights)
    {
        if (precision.Lowered != lowered)
            throw new ArgumentException($"layer '{layer.Name}': the precision map cuts another lowering than the layer's");
        if ((precision.BlockRows, precision.BlockColumns) != (geometry.OuRows, geometry.OuCols))
            throw new ArgumentException($"layer '{layer.Name}': precision map blocks of {precision.BlockRows}×{precision.BlockColumns} differ from the {geometry.OuRows}×{geometry.OuCols} OUs of array '{geometry.Name}'");
        if (precision.Max > stored)
            throw new ArgumentException($"layer '{layer.Name}': a block precision of {precision.Max} bits exceeds the {stored} stored bits");
        if (weights is null) return;
        for (int g = 0; g < lowered.ConvolutionGroups; g++)
            for (int k = 0; k < lowered.Rows; k++)
                for (int n = 0; n < lowered.ColumnsPerGroup; n++)
                {
                    int w = weights.At(g * lowered.Rows + k, g * lowered.ColumnsPerGroup + n)!.Value;
                    int p = precision[g, k / precision.BlockRows, n / precision.BlockColumns];
                    if (BlockPrecision.MagnitudeBits(w) > p)
                        throw new ArgumentException($"layer '{layer.Name}': weight {w} at row {g * lowered.Rows + k}, column {g * lowered.ColumnsPerGroup + n} needs more than its block's {p} bits");
                }
    }
}
