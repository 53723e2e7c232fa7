using PimQuant.Hardware.Spec;
using PimQuant.Quant.Granularity;

namespace PimQuant.Hardware.Mapping;

/// <summary>What a physical column stores of its logical column's weights.</summary>
public enum Polarity
{
    /// <summary>Offset encoding: bits of w + 2^(bw−1).</summary>
    Offset,
    /// <summary>Differential G+: bits of max(w, 0).</summary>
    Positive,
    /// <summary>Differential G−: bits of max(−w, 0); its partial sums are subtracted.</summary>
    Negative,
}

/// <summary>
/// One physical column (bitline) of an OU block: it holds bits [Bit, Bit + Bits) of the stored
/// value of logical column <see cref="Column"/>, so its digitized partial sums are shifted by
/// 2^Bit (and by 2^(d·t) for input digit t) before accumulation. <see cref="Bit"/> is the power of two
/// the column's least significant level bit stands for: a weight bit for integer formats, and for a
/// magnitude-aligned mapping of a format whose levels are sums of signed powers of two, that power.
/// </summary>
/// <param name="Column">Logical column of the lowered matrix (output channel).</param>
/// <param name="Bit">Power of two of the cell's least significant level bit (dense: slice·cell_bits; precision-aware: the OU's bit).</param>
/// <param name="Bits">Bits held per cell, 1..cell_bits (the top slice may hold fewer).</param>
/// <param name="Polarity">Offset, G+ or G−.</param>
public readonly record struct CellColumn(int Column, int Bit, int Bits, Polarity Polarity)
{
    /// <summary>
    /// The level (0..2^Bits−1) a cell of this column stores for the signed integer weight
    /// <paramref name="weight"/> of <paramref name="weightBits"/> bits: the bits [Bit, Bit+Bits) of
    /// w + 2^(bw−1) (offset), max(w, 0) (G+) or max(−w, 0) (G−).
    /// </summary>
    public int Level(int weight, int weightBits)
    {
        int stored = Polarity switch
        {
            Polarity.Offset => weight + (1 << (weightBits - 1)),
            Polarity.Positive => Math.Max(weight, 0),
            _ => Math.Max(-weight, 0),
        };
        return (stored >> Bit) & ((1 << Bits) - 1);
    }
}

/// <summary>
/// One operation unit's worth of mapped cells: rows [MatrixRow, MatrixRow + Rows) of the lowered
/// matrix sit on wordlines [ArrayRow, ArrayRow + Rows) of array <see cref="Array"/>, and
/// <see cref="Columns"/>[k] sits on bitline ArrayCol + k. One OU read drives these rows with one
/// input digit and converts these columns. Cells (row, column) outside the column's conv group
/// (<see cref="WeightLowering.Holds"/>) are not programmed. Blocks that hold no cell are never
/// emitted, so a mapping that skips all-zero OUs simply leaves them out.
/// </summary>
/// <param name="Array">Index into <see cref="LayerMapping.Arrays"/>.</param>
/// <param name="OuRow">OU row group of the array (wordlines [OuRow·ou_rows, …)).</param>
/// <param name="OuCol">OU column group of the array.</param>
/// <param name="ArrayRow">First wordline used.</param>
/// <param name="ArrayCol">First bitline used.</param>
/// <param name="MatrixRow">Lowered row on wordline <paramref name="ArrayRow"/>.</param>
/// <param name="Rows">Wordlines driven (≤ ou_rows).</param>
/// <param name="Columns">Bitlines converted (≤ ou_cols), in bitline order.</param>
public sealed record OuBlock(int Array, int OuRow, int OuCol, int ArrayRow, int ArrayCol, int MatrixRow, int Rows, ReadOnlyMemory<CellColumn> Columns)
{
    /// <summary>Bitlines converted per read.</summary>
    public int Cols => Columns.Length;
}

/// <summary>One allocated crossbar array of a layer and the OU blocks it holds.</summary>
/// <param name="Index">Position in <see cref="LayerMapping.Arrays"/>.</param>
/// <param name="Geometry">Its geometry.</param>
/// <param name="Blocks">Its OU blocks, in read order.</param>
/// <param name="ProgrammedCells">Cells holding a weight bit.</param>
public sealed record MappedArray(int Index, ArrayGeometry Geometry, IReadOnlyList<OuBlock> Blocks, long ProgrammedCells)
{
    /// <summary>Programmed cells / cells of the array.</summary>
    public double Utilisation => (double)ProgrammedCells / Geometry.Cells;
}

/// <summary>
/// Where one layer's weights live: which (row range, logical column, weight bits, polarity)
/// cells sit in which array and OU, with array, cell and utilisation counts. Produced by an
/// <see cref="IMappingStrategy"/>; read by the functional simulator and the event counters.
/// </summary>
public sealed class LayerMapping
{
    /// <summary>Assembles a mapping and counts its cells; <paramref name="arrays"/>' blocks must cover exactly the mapped cells;
    /// <paramref name="table"/> is the per-block precision table a precision-aware mapping keeps (null: none).</summary>
    public LayerMapping(string strategy, LayerShape layer, HardwareSpec spec, ArrayGeometry geometry, int weightBits, IReadOnlyList<MappedArray> arrays,
        PrecisionTable? table = null)
    {
        if (table is not null && table.Blocks.Lowered != layer.Lowering)
            throw new ArgumentException($"layer '{layer.Name}': the precision table cuts another lowering than the layer's", nameof(table));
        Table = table;
        Strategy = strategy;
        Layer = layer;
        Lowered = layer.Lowering;
        Spec = spec;
        Geometry = geometry;
        WeightBits = weightBits;
        StoredBits = spec.Encoding.StoredBits(weightBits);
        Slices = (StoredBits + spec.Cell.Bits - 1) / spec.Cell.Bits;
        Arrays = arrays;
        Blocks = arrays.SelectMany(a => a.Blocks).ToArray().AsReadOnly();
        ProgrammedCells = arrays.Sum(a => a.ProgrammedCells);
        AllocatedCells = arrays.Sum(a => a.Geometry.Cells);
    }

    /// <summary>Name of the strategy that made it (<c>dense</c>, ...).</summary>
    public string Strategy { get; }

    /// <summary>The layer.</summary>
    public LayerShape Layer { get; }

    /// <summary>Its lowering.</summary>
    public WeightLowering Lowered { get; }

    /// <summary>The hardware it is mapped on.</summary>
    public HardwareSpec Spec { get; }

    /// <summary>The array geometry of the pool it uses.</summary>
    public ArrayGeometry Geometry { get; }

    /// <summary>Signed weight bits bw.</summary>
    public int WeightBits { get; }

    /// <summary>Unsigned bits stored per weight (<see cref="EncodingSpec.StoredBits"/>).</summary>
    public int StoredBits { get; }

    /// <summary>The dense slice count S = ceil(StoredBits / cell_bits); a precision-aware mapping may use fewer per block.</summary>
    public int Slices { get; }

    /// <summary>Allocated arrays.</summary>
    public IReadOnlyList<MappedArray> Arrays { get; }

    /// <summary>All OU blocks, array by array.</summary>
    public IReadOnlyList<OuBlock> Blocks { get; }

    /// <summary>Cells holding a weight bit.</summary>
    public long ProgrammedCells { get; }

    /// <summary>Cells of all allocated arrays.</summary>
    public long AllocatedCells { get; }

    /// <summary>The per-block precision table the controller reads (precision-aware mappings), or null (dense: no table).</summary>
    public PrecisionTable? Table { get; }

    /// <summary>Bits of <see cref="Table"/>: 0 without one.</summary>
    public long IndexBits => Table?.Bits ?? 0;

    /// <summary>ProgrammedCells / AllocatedCells (docs/hardware.md §0).</summary>
    public double Utilisation => AllocatedCells == 0 ? 0 : (double)ProgrammedCells / AllocatedCells;

    /// <summary>Cells of <paramref name="block"/> that hold a weight bit: per column, the block's rows inside the column's group.</summary>
    public static long ProgrammedCellsOf(OuBlock block, WeightLowering lowered)
    {
        if (lowered.ConvolutionGroups == 1) return (long)block.Rows * block.Cols;
        long cells = 0;
        int end = block.MatrixRow + block.Rows;
        foreach (var column in block.Columns.Span)
        {
            var (start, count) = lowered.InputRowsOfColumn(column.Column);
            cells += Math.Max(0, Math.Min(end, start + count) - Math.Max(block.MatrixRow, start));
        }
        return cells;
    }
}
