using System.Globalization;
using FsCheck;
using FsCheck.Xunit;
using PimQuant.Accelerator;
using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Spec;
using PimQuant.Sim;
using PimQuant.Tests.Sim;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;

namespace PimQuant.Tests.Accelerator;

/// <summary>
/// A second scalar reference, reading a <see cref="LayerMapping"/> and nothing of the simulator: every OU block of the mapping
/// is read for every input digit of every pixel, each of its cell columns converts Σ digit·level over the block's rows
/// (<see cref="CellColumn.Level"/>) with a unit-step ADC of A bits (clipped, so lossy), and the code is shifted by the
/// column's bit and the digit, signed by its polarity and scaled by the block's digital scale. Random layers, both
/// strategies, random precision maps with all-zero blocks, per-OU-block digital scales (powers of two, so every sum is
/// exact in any order) and a heterogeneous pool: the simulator, programmed as the accelerator programs it, equals it
/// exactly, reads exactly the mapping's OUs, and reads its precision table as the cost model counts it.
/// </summary>
public class MappingReferenceTests
{
    private static HardwareSpec Spec(Random rng, bool precisionAware)
    {
        int cellBits = rng.Next(1, 3), dacBits = rng.Next(1, 3);
        int adcBits = rng.Next(3) == 0 ? 0 : rng.Next(2, 7);
        string Array(string name)
        {
            int ouRows = rng.Next(2, 10), ouCols = rng.Next(2, 9);
            // Room for the widest block side by side (precision-aware) or for one weight's bitlines (dense).
            int rows = ouRows * rng.Next(1, 4) + rng.Next(0, 3), cols = precisionAware ? ouCols * rng.Next(10, 14) + rng.Next(0, 3) : rng.Next(12, 40);
            return string.Create(CultureInfo.InvariantCulture, $"  - {{name: {name}, rows: {rows}, cols: {cols}, ou_rows: {ouRows}, ou_cols: {ouCols}}}\n");
        }
        string encoding = precisionAware || rng.Next(2) == 0 ? "differential" : "offset";
        return HardwareSpecLoader.Parse($$"""
            version: 1
            name: mixed
            source: hand-made for tests
            arrays:
            {{Array("a")}}{{Array("b")}}
            cell: {bits: {{cellBits}}}
            dac: {bits: {{dacBits}}}
            adc: {bits: {{adcBits}}}
            encoding: {weights: {{encoding}}, column_flip: false}
            mapping: {{(precisionAware ? "precision_aware" : "dense")}}
            """, "test.yaml");
    }

    [Property(MaxTest = 150, Replay = "(8088,11)")]
    public void The_simulator_equals_a_reference_reading_the_mapping(DoNotSize<int> seed)
    {
        var rng = new Random(seed.Item);
        bool precisionAware = rng.Next(2) == 0;
        var spec = Spec(rng, precisionAware);
        var geometry = spec.Arrays[rng.Next(2)];
        int groups = new[] { 1, 1, 2, 3 }[rng.Next(4)], kernel = 1 + 2 * rng.Next(2);
        var layer = LayerShape.Conv("l", groups * rng.Next(1, 5), groups * rng.Next(1, 9), kernel, kernel, 1, 1, groups);
        var lowered = layer.Lowering;
        int K = lowered.Rows, N = lowered.ColumnsPerGroup, weightBits = rng.Next(2, 7), activationBits = rng.Next(1, 6);
        int stored = spec.Encoding.StoredBits(weightBits), max = (1 << (weightBits - 1)) - 1;
        int min = spec.Encoding.Weights == WeightEncoding.Offset ? -max - 1 : -max;

        // Precision per 9 × 8-style OU block (precision-aware: some all-zero), weights inside each block's precision.
        var blocks = BlockPrecision.Uniform(lowered, geometry.OuRows, geometry.OuCols, stored);
        var precision = new BlockPrecision(lowered, geometry.OuRows, geometry.OuCols,
            blocks.Bits.Select(_ => precisionAware ? rng.Next(0, stored + 1) : stored).ToArray());
        var values = new int[lowered.Columns * K]; // each output channel's K weights in a row
        for (int n = 0; n < lowered.Columns; n++)
            for (int k = 0; k < K; k++)
            {
                int p = precision[n / N, k / geometry.OuRows, n % N / geometry.OuCols];
                int limit = precisionAware ? (1 << p) - 1 : max;
                values[n * K + k] = rng.Next(4) == 0 ? 0 : rng.Next(Math.Max(min, -limit), limit + 1);
            }
        var weights = new LoweredWeights(lowered, values);
        var mapping = MappingStrategies.For(spec).Map(new MappingRequest(layer, spec, weightBits, geometry.Name, weights,
            precisionAware ? precision : null, WholeOuRowTiles: true));
        // A digital scale per OU block (a power of two, so every sum below is exact whatever its order).
        var blockScale = blocks.Bits.Select(_ => Math.ScaleB(1.0, rng.Next(-2, 3))).ToArray();
        double ScaleOf(int row, int column) => // blocks by group, block row, block column
            blockScale[(lowered.GroupOfColumn(column) * blocks.RowBlocks + row % K / geometry.OuRows) * blocks.ColumnBlocks + column % N / geometry.OuCols];

        int pixels = rng.Next(1, 5);
        var activations = SimCases.RandomActivations(rng, pixels * lowered.InputRows, activationBits);
        var (expected, reads) = Reference(mapping, weights, activations, pixels, spec, activationBits, ScaleOf);

        var config = CrossbarConfig.Create(CrossbarTranslation.Settings(spec, new CrossbarPlan
            { WeightBits = weightBits, ActivationBits = activationBits, Array = geometry.Name, WholeOuRowTiles = true }));
        var simGeometry = LayerGeometry.For(config, K, N);
        var actual = new double[pixels * lowered.Columns];
        long simulatedReads = 0, simulatedIndexBits = 0;
        // The precision-aware mapping's table, read by the simulator as the accelerator programs it (none for dense).
        var index = MappedPlacement.Index(mapping, simGeometry);
        Assert.Equal(precisionAware, index is not null);
        for (int g = 0; g < groups; g++)
        {
            var placement = MappedPlacement.Of(mapping, g, simGeometry, config);
            if (!precisionAware) MappedPlacement.RequireTiling(placement, simGeometry, mapping);
            var codes = new int[K * N];
            var scales = new double[K * N];
            for (int k = 0; k < K; k++)
                for (int j = 0; j < N; j++)
                {
                    codes[k * N + j] = values[(g * N + j) * K + k];
                    scales[k * N + j] = ScaleOf(g * K + k, g * N + j);
                }
            var programmed = ProgrammedLayer.Program(config, codes, K, N, new ProgramOptions
                { Name = $"g{g}", Placement = precisionAware ? placement : null, PrecisionIndex = index, DigitalScales = scales });
            var inputs = new byte[pixels * K];
            for (int m = 0; m < pixels; m++) activations.AsSpan(m * lowered.InputRows + g * K, K).CopyTo(inputs.AsSpan(m * K, K));
            var y = new double[pixels * N];
            foreach (var path in SimCases.AllPaths.Where(programmed.Supports))
            {
                var events = programmed.Run(inputs, y, pixels, SimConfiguration.Default, new RunOptions { Path = path });
                if (path == SimulationPath.Conductance) (simulatedReads, simulatedIndexBits) = (simulatedReads + events.OuReads, simulatedIndexBits + events.IndexReadBits);
                for (int m = 0; m < pixels; m++)
                    for (int j = 0; j < N; j++)
                        Assert.True(expected[m * lowered.Columns + g * N + j] == y[m * N + j],
                            $"{path}, group {g}, pixel {m}, column {j}: reference {expected[m * lowered.Columns + g * N + j]}, simulator {y[m * N + j]} ({mapping.Strategy} on {geometry})");
            }
        }
        Assert.Equal(reads, simulatedReads);
        // The simulator's precision-table reads are the cost model's analytic count of the same mapping (0 for dense).
        Assert.Equal(DenseEventCounts.Compute(mapping, activationBits, pixels: pixels).IndexReadBits, simulatedIndexBits);
    }

    /// <summary>Outputs (pixels × columns) and OU reads from the mapping's blocks alone.</summary>
    private static (double[] Output, long Reads) Reference(LayerMapping mapping, LoweredWeights weights, byte[] activations, int pixels,
        HardwareSpec spec, int activationBits, Func<int, int, double> scaleOf)
    {
        var lowered = mapping.Lowered;
        int d = spec.Dac.Bits, digits = (activationBits + d - 1) / d, bw = mapping.WeightBits;
        long codeMax = spec.Adc.MaxCode;
        var output = new double[pixels * lowered.Columns];
        long reads = 0;
        for (int m = 0; m < pixels; m++)
        {
            var a = activations.AsSpan(m * lowered.InputRows, lowered.InputRows);
            foreach (var block in mapping.Blocks)
                for (int t = 0; t < digits; t++)
                {
                    reads++;
                    foreach (var column in block.Columns.Span)
                    {
                        long p = 0;
                        for (int i = block.MatrixRow; i < block.MatrixRow + block.Rows; i++)
                            p += (long)(a[i] >> (d * t) & ((1 << d) - 1)) * column.Level(weights.At(i, column.Column)!.Value, bw);
                        long code = Math.Min(p, codeMax);
                        int sign = column.Polarity == Polarity.Negative ? -1 : 1;
                        // A block's rows share one scale per column (the scale groups are the blocks).
                        output[m * lowered.Columns + column.Column] += scaleOf(block.MatrixRow, column.Column) * sign * Math.ScaleB(code, column.Bit + d * t);
                    }
                }
            if (spec.Encoding.Weights == WeightEncoding.Offset)
                // Offset encoding stores w + 2^(bw−1): its share, 2^(bw−1)·Σ a, is subtracted digitally, row by row at the row's scale.
                for (int n = 0; n < lowered.Columns; n++)
                {
                    var (start, count) = lowered.InputRowsOfColumn(n);
                    for (int i = start; i < start + count; i++) output[m * lowered.Columns + n] -= scaleOf(i, n) * Math.ScaleB(a[i], bw - 1);
                }
        }
        return (output, reads);
    }
}
