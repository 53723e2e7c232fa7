using PimQuant.Quant.Granularity;
namespace PimQuant.Hardware.Mapping;

/// <summary>
/// The block precision of one layer: how many weight bits each OU-sized weight block stores. The lowered
/// matrix of every convolution group (K rows × N columns, <see cref="WeightLowering"/>) is cut into blocks of
/// <see cref="BlockRows"/> × <see cref="BlockColumns"/> from its top left corner (the edge blocks smaller);
/// blocks are numbered by convolution group, then block row, then block column, the order of the OU-block
/// scale groups of the quantizer (Quant <c>WeightGroupLayout</c>), so a per-block precision chosen there indexes
/// the same blocks here. Precision p means the block's weights are held in their p least significant stored
/// bits (differential encoding: |w| &lt; 2^p); 0 means an all-zero block, which is never mapped nor read.
/// </summary>
public sealed class BlockPrecision
{
    private readonly int[] _bits;

    /// <summary>A precision map with <paramref name="bits"/> per block in the documented order.</summary>
    /// <exception cref="ArgumentException">A block size below 1, the wrong number of blocks, or a negative precision.</exception>
    public BlockPrecision(WeightLowering lowered, int blockRows, int blockColumns, IReadOnlyList<int> bits)
    {
        ArgumentNullException.ThrowIfNull(lowered);
        ArgumentNullException.ThrowIfNull(bits);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockColumns, 1);
        Lowered = lowered;
        BlockRows = blockRows;
        BlockColumns = blockColumns;
        RowBlocks = (lowered.Rows + blockRows - 1) / blockRows;
        ColumnBlocks = (lowered.ColumnsPerGroup + blockColumns - 1) / blockColumns;
        long count = (long)lowered.ConvolutionGroups * RowBlocks * ColumnBlocks;
        if (bits.Count != count)
            throw new ArgumentException($"{bits.Count} block precisions given; {lowered.ConvolutionGroups} group(s) × {RowBlocks} × {ColumnBlocks} blocks of {blockRows}×{blockColumns} need {count}");
        _bits = bits.ToArray();
        foreach (int p in _bits)
            if (p < 0) throw new ArgumentException($"block precision {p} is negative");
    }

    /// <summary>The lowering the blocks cut.</summary>
    public WeightLowering Lowered { get; }

    /// <summary>Rows of a block (the OU's wordlines).</summary>
    public int BlockRows { get; }

    /// <summary>Columns of a block (the OU's bitlines).</summary>
    public int BlockColumns { get; }

    /// <summary>Block rows per convolution group: ceil(K / <see cref="BlockRows"/>).</summary>
    public int RowBlocks { get; }

    /// <summary>Block columns per convolution group: ceil(N / <see cref="BlockColumns"/>).</summary>
    public int ColumnBlocks { get; }

    /// <summary>The precision of every block, in the documented order.</summary>
    public IReadOnlyList<int> Bits => _bits;

    /// <summary>The largest precision of any block.</summary>
    public int Max => _bits.Length == 0 ? 0 : _bits.Max();

    /// <summary>The precision of block (<paramref name="blockRow"/>, <paramref name="blockColumn"/>) of convolution group <paramref name="group"/>.</summary>
    public int this[int group, int blockRow, int blockColumn] => _bits[(group * RowBlocks + blockRow) * ColumnBlocks + blockColumn];

    /// <summary>Every block at <paramref name="bits"/>: what a mapping assumes without weights.</summary>
    public static BlockPrecision Uniform(WeightLowering lowered, int blockRows, int blockColumns, int bits)
    {
        ArgumentNullException.ThrowIfNull(lowered);
        int count = lowered.ConvolutionGroups * ((lowered.Rows + blockRows - 1) / blockRows) * ((lowered.ColumnsPerGroup + blockColumns - 1) / blockColumns);
        return new BlockPrecision(lowered, blockRows, blockColumns, Enumerable.Repeat(bits, count).ToArray());
    }

    /// <summary>
    /// The precision the integer weights need: per block, the position of the highest non-zero bit of any |w|
    /// plus one (the bit length of the largest magnitude), so an all-zero block gets 0.
    /// </summary>
    public static BlockPrecision Of(LoweredWeights weights, int blockRows, int blockColumns)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var lowered = weights.Lowered;
        var empty = Uniform(lowered, blockRows, blockColumns, 0);
        var bits = new int[empty.Bits.Count];
        for (int g = 0; g < lowered.ConvolutionGroups; g++)
            for (int k = 0; k < lowered.Rows; k++)
                for (int n = 0; n < lowered.ColumnsPerGroup; n++)
                {
                    int w = weights.At(g * lowered.Rows + k, g * lowered.ColumnsPerGroup + n)!.Value;
                    int index = (g * empty.RowBlocks + k / blockRows) * empty.ColumnBlocks + n / blockColumns;
                    bits[index] = Math.Max(bits[index], MagnitudeBits(w));
                }
        return new BlockPrecision(lowered, blockRows, blockColumns, bits);
    }

    /// <summary>Bits of |<paramref name="weight"/>|: 0 for 0, else the highest set bit's position + 1.</summary>
    public static int MagnitudeBits(int weight) => weight == 0 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)Math.Abs((long)weight));
}
