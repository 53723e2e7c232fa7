using FsCheck.Xunit;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;

namespace PimQuant.Tests.Hardware;

public sealed class MappingTests
{
    // The hand-worked layer: Conv 3→5, 3×3 kernel, 8-bit weights, on 2-bit cells.
    //   K = 3·3·3 = 27 rows, N = 5 logical columns.
    //   offset:       stores w + 128 in 8 bits → S = ceil(8/2) = 4 slices, 1 column each → 20 physical columns.
    //   differential: stores |w| in 7 bits     → S = ceil(7/2) = 4 slices (the top one 1 bit), ×2 → 40 columns.
    private static readonly LayerShape Conv = LayerShape.Conv("conv", 3, 5, 3, 3, 4, 4);

    private static LayerMapping Map(LayerShape layer, HardwareSpec spec, int weightBits = 8) =>
        DenseTiling.Instance.Map(new MappingRequest(layer, spec, weightBits));

    [Fact]
    public void ConvOnOne128x128ArrayOffset()
    {
        // 27 × 20 fits one 128×128 array; ISAAC reads it whole: one OU block of 27 rows × 20 columns.
        // Cells: 27·20 = 540 of 16384 → utilisation 540/16384 = 0.0330.
        var m = Map(Conv, PresetCatalog.Load("isaac"));
        Assert.Equal((27, 5, 4), (m.Lowered.InputRows, m.Lowered.Columns, m.Slices));
        Assert.Single(m.Arrays);
        var block = Assert.Single(m.Blocks);
        Assert.Equal((0, 0, 0, 0, 0, 27, 20), (block.OuRow, block.OuCol, block.ArrayRow, block.ArrayCol, block.MatrixRow, block.Rows, block.Cols));
        Assert.Equal((540L, 16384L), (m.ProgrammedCells, m.AllocatedCells));
        Assert.Equal(540.0 / 16384, m.Utilisation, 1e-12);
        // Physical column (j·P + p)·S + s with P = 1: column 5 is output channel 1, slice 1 (weight bits 2..3).
        Assert.Equal(new CellColumn(1, 2, 2, Polarity.Offset), block.Columns.Span[5]);
        Assert.Equal(new CellColumn(4, 6, 2, Polarity.Offset), block.Columns.Span[19]);
    }

    [Fact]
    public void ConvOnOne128x128ArrayDifferential()
    {
        // 27 × 40: one array, 27·40 = 1080 cells → 1080/16384 = 0.0659.
        var m = Map(Conv, TestSpecs.Geometry(128, 128, encoding: "differential"));
        Assert.Equal((7, 4), (m.StoredBits, m.Slices));
        Assert.Single(m.Arrays);
        Assert.Equal((1080L, 16384L), (m.ProgrammedCells, m.AllocatedCells));
        var columns = m.Blocks[0].Columns.Span;
        Assert.Equal(40, columns.Length);
        // (j·2 + p)·4 + s: a weight's G+ slices, then its G− slices; slice 3 holds only bit 6.
        Assert.Equal(new CellColumn(0, 0, 2, Polarity.Positive), columns[0]);
        Assert.Equal(new CellColumn(0, 2, 2, Polarity.Positive), columns[1]);
        Assert.Equal(new CellColumn(0, 6, 1, Polarity.Positive), columns[3]);
        Assert.Equal(new CellColumn(0, 0, 2, Polarity.Negative), columns[4]);
        Assert.Equal(new CellColumn(0, 6, 1, Polarity.Negative), columns[7]);
        Assert.Equal(new CellColumn(2, 4, 2, Polarity.Positive), columns[(2 * 2 + 0) * 4 + 2]);
    }

    [Fact]
    public void ConvTiledOnTiny8x4Arrays()
    {
        // Offset: 27 rows on 8-row arrays → 4 row tiles (8, 8, 8, 3); a weight takes 4 bitlines, so a
        // 4-column array holds L = 1 logical column → 5 column tiles: 20 arrays, 20·32 = 640 cells,
        // 540 programmed → 0.84375.
        var offset = Map(Conv, TestSpecs.Geometry(8, 4));
        Assert.Equal(20, offset.Arrays.Count);
        Assert.Equal((540L, 640L), (offset.ProgrammedCells, offset.AllocatedCells));
        Assert.Equal(0.84375, offset.Utilisation);
        // Row tile 3, column tile 0 is array 15: rows 24..26 on wordlines 0..2, physical columns 0..3.
        var last = offset.Arrays[15];
        var block = Assert.Single(last.Blocks);
        Assert.Equal((24, 3, 0, 4), (block.MatrixRow, block.Rows, block.ArrayRow, block.Cols));
        Assert.Equal(12, last.ProgrammedCells);
        Assert.Equal(12.0 / 32, last.Utilisation);

        // Differential: a weight takes 8 bitlines, more than a 4-column array: refused, not straddled.
        Assert.Throws<ArgumentException>(() => Map(Conv, TestSpecs.Geometry(8, 4, encoding: "differential")));
        // On 8 × 10 arrays L = 1 (2 bitlines unused): 4 × 5 = 20 arrays, 1600 cells, 1080 programmed.
        var diff = Map(Conv, TestSpecs.Geometry(8, 10, encoding: "differential"));
        Assert.Equal(20, diff.Arrays.Count);
        Assert.Equal((1080L, 1600L), (diff.ProgrammedCells, diff.AllocatedCells));
        Assert.All(diff.Blocks, b => Assert.Equal(8, b.Cols));
    }

    [Fact]
    public void OperationUnitsSplitEachArray()
    {
        // 3×2 OUs on the 8×4 arrays: wordlines 0-2, 3-5, 6-7 × bitlines 0-1, 2-3 = 6 blocks in a
        // full array; the 3-row arrays of the last row tile have 1 × 2. 15·6 + 5·2 = 100 blocks.
        var m = Map(Conv, TestSpecs.Geometry(8, 4, 3, 2));
        Assert.Equal(20, m.Arrays.Count);
        Assert.Equal(100, m.Blocks.Count);
        Assert.Equal([3, 3, 3, 3, 2, 2], m.Arrays[0].Blocks.Select(b => b.Rows).Order().Reverse());
        var lastOfFirst = m.Arrays[0].Blocks[^1];
        Assert.Equal((2, 1, 6, 2, 6, 2), (lastOfFirst.OuRow, lastOfFirst.OuCol, lastOfFirst.ArrayRow, lastOfFirst.ArrayCol, lastOfFirst.MatrixRow, lastOfFirst.Rows));
        Assert.Equal(2, m.Arrays[15].Blocks.Count);
        Assert.Equal(540, m.Blocks.Sum(b => (long)b.Rows * b.Cols));
    }

    [Fact]
    public void DepthwiseIsBlockDiagonal()
    {
        // Depthwise 4 channels, 3×3: 4 groups of K = 9 rows × N = 1 column, block-diagonal in a
        // 36 × 4 matrix fed by the ordinary im2col vector. 8-bit offset on 2-bit cells: 4 physical
        // columns per channel → 36 × 16, 4·9·4 = 144 programmed cells.
        var dw = LayerShape.Depthwise("dw", 4, 3, 3, 2, 2);
        Assert.True(dw.IsDepthwise);
        Assert.Equal((9, 1, 4L * 9 * 1 * 4), (dw.RowsPerGroup, dw.ColumnsPerGroup, dw.Macs));
        var lowered = dw.Lowering;
        Assert.Equal((36, 4), (lowered.InputRows, lowered.Columns));
        Assert.True(lowered.Holds(10, 1));
        Assert.False(lowered.Holds(10, 0));
        Assert.Equal(9 * 2 + 3 * 1 + 2, lowered.InputRowOf(2, 1, 2));

        // Groups never share an array: one 128×128 array per channel, read whole, each one block of 9 rows × 4 columns:
        // 144 programmed cells of 4·16384.
        var whole = Map(dw, PresetCatalog.Load("isaac"));
        Assert.Equal(4, whole.Arrays.Count);
        Assert.All(whole.Arrays, a => Assert.Equal((9, 4), (Assert.Single(a.Blocks).Rows, a.Blocks[0].Cols)));
        Assert.Equal([0, 9, 18, 27], whole.Blocks.Select(b => b.MatrixRow));
        Assert.Equal((144L, 4L * 16384), (whole.ProgrammedCells, whole.AllocatedCells));

        // On 8×4 arrays an array holds one channel (4 bitlines) and 8 of its 9 rows: each channel takes a tile of rows
        // 9g..9g+7 and one of row 9g+8, 8 arrays, 8·32 = 256 cells, 144 programmed → 0.5625.
        var tiled = Map(dw, TestSpecs.Geometry(8, 4));
        Assert.Equal(8, tiled.Arrays.Count);
        Assert.Equal((144L, 256L), (tiled.ProgrammedCells, tiled.AllocatedCells));
        Assert.Equal(0.5625, tiled.Utilisation);
        // Array 1 = (channel 0, row tile 1): row 8 alone, on wordline 0.
        var only = Assert.Single(tiled.Arrays[1].Blocks);
        Assert.Equal((8, 1, 0, 4), (only.MatrixRow, only.Rows, only.ArrayRow, only.Cols));
        Assert.All(only.Columns.ToArray(), c => Assert.Equal(0, c.Column));
        // Array 2 = (channel 1, row tile 0): rows 9-16 on wordlines 0-7.
        var second = Assert.Single(tiled.Arrays[2].Blocks);
        Assert.Equal((9, 8, 0, 32L), (second.MatrixRow, second.Rows, second.ArrayRow, tiled.Arrays[2].ProgrammedCells));
        Assert.All(second.Columns.ToArray(), c => Assert.Equal(1, c.Column));
    }

    [Fact]
    public void GroupedConvGroupsTakeArraysOfTheirOwn()
    {
        // Groups 2, Cin 4 → 2 per group, Cout 4 → 2 per group, 1×1 kernel: K = 2, N = 2.
        // Whole 8×8 arrays, offset 2-bit cells, 4-bit weights → 2 slices: each group a 2 × (2·2) block on an array of
        // its own, 8 programmed cells each.
        var layer = LayerShape.Conv("g", 4, 4, 1, 1, 1, 1, groups: 2);
        var m = Map(layer, TestSpecs.Geometry(8, 8), weightBits: 4);
        Assert.Equal(2, m.Arrays.Count);
        Assert.Equal([(0, 2, 4), (2, 2, 4)], m.Blocks.Select(b => (b.MatrixRow, b.Rows, b.Cols)));
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1], m.Blocks[0].Columns.ToArray().Concat(m.Blocks[1].Columns.ToArray()).Select(c => c.Column / 2));
        Assert.Equal(16, m.ProgrammedCells);
    }

    [Fact]
    public void LinearIsOneMatrix()
    {
        var fc = LayerShape.Linear("fc", 300, 10);
        // 300 rows → 3 row tiles of 128; 10·4 = 40 columns → 1 column tile: 3 arrays.
        var m = Map(fc, PresetCatalog.Load("isaac"));
        Assert.Equal(3, m.Arrays.Count);
        Assert.Equal(300L * 40, m.ProgrammedCells);
        Assert.Equal([128, 128, 44], m.Blocks.Select(b => b.Rows));
    }

    [Fact]
    public void CellLevelsFollowTheEncoding()
    {
        // w = −3, 8 bits. Offset stores −3 + 128 = 125 = 01 11 11 01b.
        Assert.Equal([1, 3, 3, 1], Enumerable.Range(0, 4).Select(s => new CellColumn(0, 2 * s, 2, Polarity.Offset).Level(-3, 8)));
        // Differential: G+ holds max(w, 0) = 0, G− holds 3 = 00 00 00 11b.
        Assert.Equal(0, new CellColumn(0, 0, 2, Polarity.Positive).Level(-3, 8));
        Assert.Equal([3, 0, 0, 0], Enumerable.Range(0, 4).Select(s => new CellColumn(0, 2 * s, 2, Polarity.Negative).Level(-3, 8)));
    }

    [Fact]
    public void LoweredWeightsFollowTheLayerLayout()
    {
        var dw = LayerShape.Depthwise("dw", 4, 3, 3, 2, 2);
        var w = new LoweredWeights(dw.Lowering, Enumerable.Range(0, 36).ToArray());
        Assert.Equal(1 * 9 + 1, w.At(10, 1));  // channel 1, its kernel element 1
        Assert.Null(w.At(10, 0));
        Assert.Throws<ArgumentException>(() => new LoweredWeights(dw.Lowering, new int[35]));
    }

    [Fact]
    public void StrategiesByNameAndMagnitudeAlignedIsReportedNotReplaced()
    {
        Assert.Same(DenseTiling.Instance, MappingStrategies.For(PresetCatalog.Load("isaac")));
        Assert.Same(PrecisionAwareMapping.Instance, MappingStrategies.For(PresetCatalog.Load("bwq-h")));
        var e = Assert.Throws<HardwareSpecException>(() => MappingStrategies.Get(MappingNames.MagnitudeAligned, "x.yaml"));
        Assert.StartsWith("x.yaml: field 'mapping' = magnitude_aligned: this strategy arrives with its method (IVQ)", e.Message);
        // Dense tiling still maps bwq-h's arrays when asked explicitly: 1-bit cells, sign + 8 magnitude bits.
        var m = Map(Conv, PresetCatalog.Load("bwq-h"), weightBits: 9);
        Assert.Equal((8, 8), (m.StoredBits, m.Slices));
        Assert.Equal(27L * 5 * 8 * 2, m.ProgrammedCells);
    }

    // The hand-worked precision-aware layer: Linear 20 → 12 on 18 × 48 arrays, 9 × 8 OUs, 1-bit cells,
    // differential 4-bit weights (3 magnitude bits).
    //   Blocks: rows 0-8, 9-17, 18-19 (9, 9, 2 rows) × columns 0-7, 8-11 (8, 4 columns).
    //   An array holds floor(18/9) = 2 OU rows (a band of 2 block rows) and floor(48/8) = 6 OU slots per row.
    //   Precision map (block row, block column): [[3, 0], [1, 3], [2, 2]]; a block of p bits takes 2p OUs (G+, G−).
    //   Band 0, OU row 0: block (0,0) 6 OUs → array 0 slots 0-5; block (0,1) is all-zero: nothing.
    //   Band 0, OU row 1: block (1,0) 2 OUs → array 0 slots 0-1; block (1,1) 6 OUs, 4 slots left → array 1 slots 0-5.
    //   Band 1, OU row 0: block (2,0) 4 OUs → array 2 slots 0-3; block (2,1) 4 OUs, 2 left → array 3 slots 0-3.
    //   Arrays: 4 of 18·48 = 864 cells → 3456 allocated.
    //   Programmed: 6·9·8 + 2·9·8 + 6·9·4 + 4·2·8 + 4·2·4 = 432 + 144 + 216 + 64 + 32 = 888 → 888/3456.
    //   OUs: 6 + 2 + 6 + 4 + 4 = 22. Per image with 4-bit inputs on the 1-bit DAC (4 digits), one input vector:
    //   reads = Σ precision × digits × positions per polarity = (3 + 1 + 3 + 2 + 2)·4·1·2 = 88 = 22·4;
    //   the busiest array (array 0: 6 + 2 OUs) reads 8·4 = 32 times.
    private static readonly LayerShape Fc = LayerShape.Linear("fc", 20, 12);
    private static readonly HardwareSpec Bwq = TestSpecs.Geometry(18, 48, 9, 8, cellBits: 1, encoding: "differential");
    private static readonly BlockPrecision WrittenMap = new(Fc.Lowering, 9, 8, [3, 0, 1, 3, 2, 2]);

    [Fact]
    public void PrecisionAwareHandWorked()
    {
        var m = PrecisionAwareMapping.Instance.Map(new MappingRequest(Fc, Bwq, 4, Precision: WrittenMap));
        Assert.Equal(4, m.Arrays.Count);
        Assert.Equal((888L, 3456L), (m.ProgrammedCells, m.AllocatedCells));
        Assert.Equal(888.0 / 3456, m.Utilisation, 1e-12);
        Assert.Equal(22, m.Blocks.Count);
        Assert.Equal([8, 6, 4, 4], m.Arrays.Select(a => a.Blocks.Count));
        // Array 0, OU row 1 holds block (1,0): rows 9-17, its G+ bit 0 in slot 0 and G− bit 0 in slot 1.
        var b = m.Arrays[0].Blocks.Single(x => x.OuRow == 1 && x.OuCol == 1);
        Assert.Equal((9, 9, 9, 8, 8), (b.MatrixRow, b.Rows, b.ArrayRow, b.ArrayCol, b.Cols));
        Assert.Equal(new CellColumn(3, 0, 1, Polarity.Negative), b.Columns.Span[3]);
        // Array 1 holds block (1,1) alone: columns 8-11, bits 0..2 of G+ then of G−, in slots 0-5.
        Assert.Equal([0, 1, 2, 0, 1, 2], m.Arrays[1].Blocks.Select(x => x.Columns.Span[0].Bit));
        Assert.All(m.Arrays[1].Blocks, x => Assert.Equal((8, 4), (x.Columns.Span[0].Column, x.Cols)));
        // Array 3: block (2,1), rows 18-19 on wordlines 0-1.
        Assert.All(m.Arrays[3].Blocks, x => Assert.Equal((18, 2, 0), (x.MatrixRow, x.Rows, x.ArrayRow)));

        var counts = PimQuant.Hardware.Cost.DenseEventCounts.Compute(m, 4);
        Assert.Equal(88, counts.OuReads);
        Assert.Equal((3 + 1 + 3 + 2 + 2) * 4 * 1 * 2, counts.OuReads);
        Assert.Equal(32, counts.CriticalPathOuReads);
        Assert.Equal(888 * 4, counts.CellReads);
    }

    [Fact]
    public void PrecisionAwareDerivesEachBlocksPrecisionFromTheWeights()
    {
        // Weights whose largest magnitude per block gives the written map: block (0,0) holds a 5 (3 bits), block (0,1)
        // nothing, block (1,0) a −1 (1 bit), block (1,1) a −7 (3 bits), blocks (2,0) and (2,1) a 3 and a −2 (2 bits).
        var values = new int[12 * 20]; // [out][in]
        void Set(int row, int column, int w) => values[column * 20 + row] = w;
        Set(4, 2, 5); Set(0, 0, 1);
        Set(10, 7, -1);
        Set(17, 11, -7); Set(9, 8, 2);
        Set(19, 0, 3);
        Set(18, 9, -2);
        var weights = new LoweredWeights(Fc.Lowering, values);
        var derived = BlockPrecision.Of(weights, 9, 8);
        Assert.Equal(WrittenMap.Bits, derived.Bits);
        var m = PrecisionAwareMapping.Instance.Map(new MappingRequest(Fc, Bwq, 4, Weights: weights));
        Assert.Equal((888L, 3456L, 22), (m.ProgrammedCells, m.AllocatedCells, m.Blocks.Count));

        // A weight beyond its block's given precision is refused, naming where it sits.
        var tight = new BlockPrecision(Fc.Lowering, 9, 8, [2, 0, 1, 3, 2, 2]);
        var e = Assert.Throws<ArgumentException>(() => PrecisionAwareMapping.Instance.Map(new MappingRequest(Fc, Bwq, 4, Weights: weights, Precision: tight)));
        Assert.Contains("weight 5 at row 4, column 2 needs more than its block's 2 bits", e.Message);
        // Offset encoding is refused (a zero is not an all-zero cell); so is a map of other blocks than the OUs.
        Assert.Throws<ArgumentException>(() => PrecisionAwareMapping.Instance.Map(new MappingRequest(Fc, TestSpecs.Geometry(18, 48, 9, 8, cellBits: 1), 4)));
        Assert.Throws<ArgumentException>(() => PrecisionAwareMapping.Instance.Map(new MappingRequest(Fc, Bwq, 4,
            Precision: BlockPrecision.Uniform(Fc.Lowering, 8, 8, 3))));
    }

    [Property(MaxTest = 100)]
    public void PrecisionAwareHoldsEveryWeightBitOnce(int seed)
    {
        var rng = new Random(seed);
        int g = 1 + rng.Next(3), cin = g * (1 + rng.Next(4)), cout = g * (1 + rng.Next(12)), k = 1 + rng.Next(3);
        int c = 1 + rng.Next(3), bw = 2 + rng.Next(7), stored = bw - 1, slices = (stored + c - 1) / c;
        int ouRows = 1 + rng.Next(9), ouCols = 1 + rng.Next(8), rows = ouRows * (1 + rng.Next(3)) + rng.Next(ouRows);
        int cols = ouCols * (2 * slices + rng.Next(4)) + rng.Next(ouCols);
        var spec = TestSpecs.Geometry(rows, cols, ouRows, ouCols, cellBits: c, encoding: "differential");
        var layer = LayerShape.Conv("p", cin, cout, k, k, 2, 3, groups: g);
        var lowered = layer.Lowering;
        // Random weights with some all-zero blocks and blocks of every precision.
        var values = new int[lowered.Columns * lowered.Rows];
        int max = (1 << stored) - 1;
        var blockBits = new Dictionary<(int, int, int), int>();
        for (int n = 0; n < lowered.Columns; n++)
            for (int r = 0; r < lowered.Rows; r++)
            {
                var key = (n / lowered.ColumnsPerGroup, r / ouRows, n % lowered.ColumnsPerGroup / ouCols);
                if (!blockBits.TryGetValue(key, out int bits)) blockBits[key] = bits = rng.Next(stored + 1);
                int limit = Math.Min(max, (1 << bits) - 1);
                values[n * lowered.Rows + r] = rng.Next(-limit, limit + 1);
            }
        var weights = new LoweredWeights(lowered, values);
        var m = PrecisionAwareMapping.Instance.Map(new MappingRequest(layer, spec, bw, Weights: weights));

        // Σ over the columns holding (row, column) of ±level·2^Bit gives back every weight; no bit is placed twice.
        var sum = new long[lowered.InputRows, lowered.Columns];
        var seen = new HashSet<(int, int, int, Polarity)>();
        foreach (var b in m.Blocks)
        {
            Assert.InRange(b.ArrayRow + b.Rows, 1, rows);
            Assert.InRange(b.ArrayCol + b.Cols, 1, cols);
            Assert.Equal(b.OuRow * ouRows, b.ArrayRow);
            Assert.Equal(b.OuCol * ouCols, b.ArrayCol);
            foreach (var col in b.Columns.Span)
                for (int row = b.MatrixRow; row < b.MatrixRow + b.Rows; row++)
                {
                    Assert.True(lowered.Holds(row, col.Column));
                    Assert.True(seen.Add((row, col.Column, col.Bit, col.Polarity)));
                    int level = col.Level(weights.At(row, col.Column)!.Value, bw);
                    sum[row, col.Column] += (col.Polarity == Polarity.Negative ? -1L : 1L) * level << col.Bit;
                }
        }
        for (int r = 0; r < lowered.InputRows; r++)
            for (int n = 0; n < lowered.Columns; n++)
                Assert.Equal(weights.At(r, n) ?? 0, sum[r, n]);
        // No two blocks share an OU slot; every array holds a block; arrays hold one group's blocks.
        Assert.Equal(m.Blocks.Count, m.Blocks.Select(b => (b.Array, b.OuRow, b.OuCol)).Distinct().Count());
        Assert.All(m.Arrays, a => Assert.NotEmpty(a.Blocks));
        Assert.All(m.Arrays, a => Assert.Single(a.Blocks.Select(b => lowered.GroupOfInputRow(b.MatrixRow)).Distinct()));
        // OUs: 2·ceil(p/c) per block of precision p.
        var precision = BlockPrecision.Of(weights, ouRows, ouCols);
        Assert.Equal(precision.Bits.Sum(p => 2 * ((p + c - 1) / c)), m.Blocks.Count);
    }

    [Property(MaxTest = 150)]
    public void CellsAreWeightsTimesSlicesTimesPolarities(byte cin, byte cout, byte kernel, byte groups, byte cellBits, byte weightBits,
        bool differential, byte rows, byte cols, byte ouRows, byte ouCols)
    {
        int g = 1 + groups % 4, inCh = (1 + cin % 6) * g, outCh = (1 + cout % 5) * g, k = 1 + kernel % 3;
        int c = 1 + cellBits % 4, bw = 2 + weightBits % 9, r = 2 + rows % 40;
        int stored = differential ? bw - 1 : bw, slices = (stored + c - 1) / c, polarities = differential ? 2 : 1;
        int cl = slices * polarities + cols % 40, perArray = cl / (slices * polarities);
        var spec = TestSpecs.Geometry(r, cl, 1 + ouRows % r, 1 + ouCols % cl, cellBits: c, encoding: differential ? "differential" : "offset");
        var layer = LayerShape.Conv("p", inCh, outCh, k, k, 3, 2, groups: g);
        var m = Map(layer, spec, bw);

        long expected = (long)layer.RowsPerGroup * layer.OutChannels * slices * polarities; // K·N per group × groups
        Assert.Equal(expected, m.ProgrammedCells);

        // Every programmed cell (row, column, bit, polarity) is placed exactly once, inside its OU and array.
        var seen = new HashSet<(int, int, int, Polarity)>();
        foreach (var b in m.Blocks)
        {
            Assert.InRange(b.Rows, 1, spec.DefaultArray.OuRows);
            Assert.InRange(b.Cols, 1, spec.DefaultArray.OuCols);
            Assert.InRange(b.ArrayRow + b.Rows, 1, r);
            Assert.InRange(b.ArrayCol + b.Cols, 1, cl);
            foreach (var col in b.Columns.Span)
                for (int row = b.MatrixRow; row < b.MatrixRow + b.Rows; row++)
                    if (m.Lowered.Holds(row, col.Column))
                        Assert.True(seen.Add((row, col.Column, col.Bit, col.Polarity)));
        }
        Assert.Equal(expected, seen.Count);
        Assert.Equal(m.Arrays.Count * (long)r * cl, m.AllocatedCells);
        if (g == 1) Assert.Equal(((layer.RowsPerGroup + r - 1) / r) * ((outCh + perArray - 1) / perArray), m.Arrays.Count);

        // Dense counts: blocks tile the programmed cells, so with one group every cell is read
        // once per pixel and digit (3-bit inputs on the 1-bit DAC: 3 digits).
        var counts = PimQuant.Hardware.Cost.DenseEventCounts.Compute(m, 3);
        long reads = layer.OutputPixels * 3;
        Assert.Equal(reads * m.Blocks.Count, counts.OuReads);
        Assert.Equal(counts.AdcConversions, counts.ShiftAdds);
        Assert.Equal(layer.Macs, counts.Macs);
        if (g == 1) Assert.Equal(reads * expected, counts.CellReads);
        else Assert.True(counts.CellReads >= reads * expected);
    }
}
