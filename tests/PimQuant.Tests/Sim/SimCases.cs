using PimQuant.Sim;
using PimQuant.Hardware.Cost;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;
using VariationKind = PimQuant.Hardware.Spec.VariationKind;

namespace PimQuant.Tests.Sim;

/// <summary>A random layer: crossbar, weight and activation codes, programming options.</summary>
internal sealed record SimCase(CrossbarConfig Config, int[] Weights, int K, int N, byte[] Activations, int Pixels, ProgramOptions Program)
{
    public ProgrammedLayer Programmed(SimConfiguration? configuration = null) => ProgrammedLayer.Program(Config, Weights, K, N, Program, configuration);

    public override string ToString() =>
        $"K={K} N={N} pixels={Pixels} rows={Config.Rows} cols={Config.Cols} ou={Config.OuRows}x{Config.OuCols} c={Config.CellBits} d={Config.DacBits} " +
        $"A={Config.AdcBits} step={Config.AdcStep.Mode}:{Config.NominalStep} {Config.WeightEncoding} flip={Config.ColumnFlip} bw={Config.WeightBits} " +
        $"ba={Config.ActivationBits} {Config.ColumnLayout} tile={Config.TileRows} reference={Config.ReferenceColumn} F={Config.ConductanceFractionBits} steps={(Program.AdcSteps is null ? "config" : string.Join('/', Program.AdcSteps))} {Config.NonIdealities}";
}

/// <summary>Which device effects a random case switches on.</summary>
[Flags]
public enum Effects
{
    None = 0,
    Variation = 1,
    Leakage = 2,
    Faults = 4,
    ReadNoise = 8,
    All = Variation | Leakage | Faults | ReadNoise,
}

/// <summary>Random cases with shapes that are not multiples of vector widths.</summary>
internal static class SimCases
{
    /// <summary>
    /// A lossy random case whose layer takes the bit-count path: <see cref="Random"/> with 1-bit cells and DAC, drawn
    /// again (from a seed derived from <paramref name="seed"/>) while the path refuses it (its column tiles split a
    /// 64-bitline chunk, an ideal or over-8-bit ADC, …). Without the redraw, only about one case in six reached the path.
    /// </summary>
    public static SimCase RandomBitCount(int seed, Effects effects = Effects.None, bool wholeOuRowTiles = false)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            var c = Random(unchecked(seed + attempt * 1_000_003), effects: effects, bitCount: true, wholeOuRowTiles: wholeOuRowTiles);
            if (c.Programmed().Supports(SimulationPath.BitCount)) return c;
        }
        throw new InvalidOperationException($"no bit-count case in 1,000 draws from seed {seed}");
    }

    /// <summary>A lossy (or, with <paramref name="lossless"/>, exactly representable) random case.
    /// <paramref name="bitCount"/> forces 1-bit cells and DAC so the bit-count path applies; <paramref name="wholeOuRowTiles"/>
    /// cuts row tiles in whole OU row groups (drawing nothing, so the case is otherwise the same).</summary>
    public static SimCase Random(int seed, bool lossless = false, Effects effects = Effects.None, bool bitCount = false, bool wholeOuRowTiles = false)
    {
        var rng = new Random(seed);
        int cellBits = bitCount ? 1 : rng.Next(1, 4);
        int dacBits = bitCount ? 1 : rng.Next(1, 4);
        int activationBits = rng.Next(1, 9);
        var encoding = rng.Next(2) == 0 ? WeightEncoding.Offset : WeightEncoding.Differential;
        int weightBits = rng.Next(2, 9);
        bool flip = rng.Next(2) == 0;
        var layout = rng.Next(3) == 0 ? ColumnLayout.SliceMajor : ColumnLayout.WeightMajor;
        int rows = rng.Next(3, 41);
        int ouRows = rng.Next(4) switch { 0 => rows, 1 => Math.Min(rows, 9), _ => rng.Next(1, rows + 1) };
        int ouCols = rng.Next(1, 9);
        int magnitudeBits = encoding == WeightEncoding.Differential ? weightBits - 1 : weightBits;
        int perWeight = (magnitudeBits + cellBits - 1) / cellBits * (encoding == WeightEncoding.Differential ? 2 : 1);
        int minimum = layout == ColumnLayout.SliceMajor ? perWeight * ouCols : perWeight;
        int cols = Math.Max(ouCols, minimum + rng.Next(0, 2 * minimum + 1));

        int adcBits;
        AdcStep step;
        long bound = flip ? (long)ouRows * ((1 << cellBits) - 1) / 2 * ((1 << dacBits) - 1) : (long)ouRows * ((1 << cellBits) - 1) * ((1 << dacBits) - 1);
        if (lossless)
        {
            adcBits = rng.Next(4) == 0 ? 0 : Math.Max(1, 64 - (int)ulong.LeadingZeroCount((ulong)bound)) + rng.Next(0, 2);
            step = AdcStep.Unit;
        }
        else
        {
            adcBits = rng.Next(6) == 0 ? 0 : rng.Next(1, 6);
            step = rng.Next(3) switch
            {
                0 => AdcStep.Unit,
                1 => AdcStep.FullRange,
                _ => AdcStep.Calibrated(new[] { 0.5, 1.5, 2.0, 0.75, 3.25, 1.0 / 3 }[rng.Next(6)]),
            };
        }
        var nonIdealities = new NonIdealities
        {
            Variation = (effects & Effects.Variation) == 0 ? null
                : rng.Next(3) switch
                {
                    0 => new ProgrammingVariation(VariationKind.Gaussian, 0.1),
                    1 => new ProgrammingVariation(VariationKind.Lognormal, 0.2),
                    _ => new ProgrammingVariation(VariationKind.Gaussian, 0.05, Enumerable.Range(0, 1 << cellBits).Select(l => 0.02 * l + 0.01).ToArray()),
                },
            OnOffRatio = (effects & Effects.Leakage) == 0 ? double.PositiveInfinity : new[] { 10.0, 3.0, 100.0 }[rng.Next(3)],
            StuckAtZero = (effects & Effects.Faults) == 0 ? 0 : 0.05,
            StuckAtOne = (effects & Effects.Faults) == 0 ? 0 : 0.03,
            ReadNoise = (effects & Effects.ReadNoise) == 0 ? 0 : 0.3,
        };
        var config = CrossbarConfig.Create(new CrossbarSettings
        {
            Rows = rows, Cols = cols, OuRows = ouRows, OuCols = ouCols, CellBits = cellBits, DacBits = dacBits,
            AdcBits = adcBits, AdcStep = step, WeightEncoding = encoding, ColumnFlip = flip, WeightBits = weightBits,
            ActivationBits = activationBits, ColumnLayout = layout, NonIdealities = nonIdealities, WholeOuRowTiles = wholeOuRowTiles,
            // Half the leaky cases cancel the leakage with a reference column (from the seed: the draws stay as they were).
            ReferenceColumn = (effects & Effects.Leakage) != 0 && seed % 2 == 0,
            ConductanceFractionBits = effects == Effects.None ? 16 : new[] { 16, 16, 9, 3 }[rng.Next(4)],
        });

        int k = rng.Next(1, 90), n = rng.Next(1, 21), pixels = rng.Next(1, 23);
        // Per-array ADC steps (CIMQ's calibrated partial-sum quantization) in a third of the lossy cases.
        double[]? steps = null;
        if (!lossless && rng.Next(3) == 0)
        {
            var geometry = LayerGeometry.For(config, k, n);
            steps = Enumerable.Range(0, geometry.RowTileCount * geometry.ColumnTileCount).Select(_ => new[] { 0.5, 1.0, 1.25, 2.5, 0.3 }[rng.Next(5)]).ToArray();
        }
        int max = (1 << (weightBits - 1)) - 1, min = encoding == WeightEncoding.Offset ? -max - 1 : -max;
        var weights = new int[k * n];
        for (int i = 0; i < weights.Length; i++) weights[i] = rng.Next(4) == 0 ? 0 : rng.Next(min, max + 1);
        var activations = RandomActivations(rng, pixels * k, activationBits);
        var program = new ProgramOptions
        {
            Name = $"layer{seed}", Seed = (ulong)seed * 7919, AdcSteps = steps,
            // The reference column's own, finer steps where steps are given per array.
            ReferenceAdcSteps = config.ReferenceColumn ? steps?.Select(s => s / 4).ToArray() : null,
        };
        return new SimCase(config, weights, k, n, activations, pixels, program);
    }

    /// <summary>
    /// <paramref name="c"/> with random digital scales (weight scales applied on the digital side): a scale per (OU row
    /// group, column) as an OU-block granularity gives, per (row tile, column) as an array granularity gives, or per column,
    /// from a few values that make neighbouring row groups agree often (so runs of row groups merge into one segment) and
    /// include scales that are not powers of two.
    /// </summary>
    public static SimCase WithDigitalScales(SimCase c, int seed)
    {
        var rng = new Random(seed);
        var geometry = LayerGeometry.For(c.Config, c.K, c.N);
        double[] values = [1.0, 0.5, 0.1, 3.0, 1.0 / 3, 0.0078125];
        int kind = rng.Next(3);
        var perGroup = new double[geometry.RowGroupCount * c.N];
        for (int g = 0; g < geometry.RowGroupCount; g++)
            for (int j = 0; j < c.N; j++)
                perGroup[g * c.N + j] = kind switch
                {
                    0 when g > 0 && rng.Next(3) == 0 => perGroup[(g - 1) * c.N + j],
                    1 when g > 0 && geometry.GroupTile[g] == geometry.GroupTile[g - 1] => perGroup[(g - 1) * c.N + j],
                    2 when g > 0 => perGroup[(g - 1) * c.N + j],
                    _ => values[rng.Next(values.Length)],
                };
        var scales = new double[c.K * c.N];
        for (int g = 0; g < geometry.RowGroupCount; g++)
            for (int i = geometry.GroupStart[g]; i < geometry.GroupStart[g] + geometry.GroupRows[g]; i++)
                for (int j = 0; j < c.N; j++) scales[i * c.N + j] = perGroup[g * c.N + j];
        return c with { Program = c.Program with { DigitalScales = scales } };
    }

    /// <summary>Σ over the case's rows of scale·a·w, each row's products summed in int64 first per run of rows sharing the
    /// column's scale: what a lossless layer with digital scales computes, up to float64 rounding.</summary>
    public static double[] ScaledIntegerProduct(SimCase c)
    {
        var scales = c.Program.DigitalScales!;
        var y = new double[c.Pixels * c.N];
        for (int m = 0; m < c.Pixels; m++)
            for (int j = 0; j < c.N; j++)
            {
                double sum = 0;
                for (int i = 0; i < c.K; i++) sum += scales[i * c.N + j] * c.Activations[m * c.K + i] * c.Weights[i * c.N + j];
                y[m * c.N + j] = sum;
            }
        return y;
    }

    /// <summary>Asserts outputs equal within <paramref name="relative"/> of the largest magnitude, naming the first difference.</summary>
    public static void AssertClose(double[] expected, double[] actual, double relative, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        double tolerance = relative * Math.Max(1e-300, expected.Select(Math.Abs).DefaultIfEmpty(0).Max());
        for (int i = 0; i < expected.Length; i++)
            if (Math.Abs(expected[i] - actual[i]) > tolerance)
                Assert.Fail($"{context}: element {i} expected {expected[i]:R} but got {actual[i]:R} (tolerance {tolerance:R})");
    }

    /// <summary>Post-ReLU-like codes: about half zeros, the rest uniform.</summary>
    public static byte[] RandomActivations(Random rng, int count, int bits)
    {
        var codes = new byte[count];
        for (int i = 0; i < count; i++) codes[i] = rng.Next(2) == 0 ? (byte)0 : (byte)rng.Next(1, 1 << bits);
        return codes;
    }

    /// <summary>The integer product a·W in float64.</summary>
    public static double[] IntegerProduct(SimCase c)
    {
        var y = new double[c.Pixels * c.N];
        for (int m = 0; m < c.Pixels; m++)
            for (int j = 0; j < c.N; j++)
            {
                long sum = 0;
                for (int i = 0; i < c.K; i++) sum += (long)c.Activations[m * c.K + i] * c.Weights[i * c.N + j];
                y[m * c.N + j] = sum;
            }
        return y;
    }

    /// <summary>The integer product a·W with the codes read as two's-complement values of ba bits.</summary>
    public static double[] SignedIntegerProduct(SimCase c)
    {
        int bits = c.Config.ActivationBits;
        var values = c.Activations.Select(a => (byte)a).ToArray();
        var y = new double[c.Pixels * c.N];
        for (int m = 0; m < c.Pixels; m++)
            for (int j = 0; j < c.N; j++)
            {
                long sum = 0;
                for (int i = 0; i < c.K; i++)
                {
                    int a = values[m * c.K + i];
                    if (a >= 1 << (bits - 1)) a -= 1 << bits;
                    sum += (long)a * c.Weights[i * c.N + j];
                }
                y[m * c.N + j] = sum;
            }
        return y;
    }

    /// <summary>Runs a programmed case on one path.</summary>
    public static (double[] Output, EventCounts Events) Run(ProgrammedLayer layer, SimCase c, SimulationPath? path, SimConfiguration? configuration = null,
        IInputDigitPolicy? policy = null, long firstPixel = 0, bool signed = false)
    {
        var y = new double[c.Pixels * c.N];
        var events = layer.Run(c.Activations, y, c.Pixels, configuration ?? SimConfiguration.Default,
            new RunOptions { Path = path, DigitPolicy = policy, FirstPixel = firstPixel, SignedActivations = signed });
        return (y, events);
    }

    /// <summary>Asserts bit-identical float64 outputs, naming the first difference.</summary>
    public static void AssertIdentical(double[] expected, double[] actual, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.DoubleToInt64Bits(expected[i]) != BitConverter.DoubleToInt64Bits(actual[i]) && expected[i] != actual[i])
                Assert.Fail($"{context}: element {i} expected {expected[i]:R} but got {actual[i]:R}");
    }

    public static readonly SimulationPath[] AllPaths = [SimulationPath.Exact, SimulationPath.OuTable, SimulationPath.BitCount, SimulationPath.Conductance];

    public static readonly SimConfiguration[] Widths =
    [
        new() { SimdWidth = SimdWidth.Auto, MaxDegreeOfParallelism = 2, PixelsPerBlock = 5 },
        new() { SimdWidth = SimdWidth.Vector256, MaxDegreeOfParallelism = 1, PixelsPerBlock = 3 },
        new() { SimdWidth = SimdWidth.Scalar, MaxDegreeOfParallelism = 2, PixelsPerBlock = 16 },
    ];
}
