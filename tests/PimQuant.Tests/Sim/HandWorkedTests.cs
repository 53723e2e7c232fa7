using PimQuant.Sim;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;

namespace PimQuant.Tests.Sim;

/// <summary>Small layers worked out by hand; the simulator (every path, every width) and the
/// reference must both reproduce the numbers in the comments.</summary>
public class HandWorkedTests
{
    // K = 3 rows, N = 2 columns, 2-bit weights (offset: u = w + 2), 2-bit activations, 1-bit cells.
    //   W = [[ 1, -2],      u = [[3, 0],    slice 0 (bit 0): col0 [1,1,0]  col1 [0,0,1]
    //        [-1,  0],           [1, 2],    slice 1 (bit 1): col0 [1,0,1]  col1 [0,1,1]
    //        [ 0,  1]]           [2, 3]]
    //   a = [3, 2, 1]; a·W = [3 − 2 + 0, −6 + 0 + 1] = [1, −5]; offset term 2^(bw−1)·Σa = 2·6 = 12.
    private static readonly int[] Weights = [1, -2, -1, 0, 0, 1];
    private static readonly byte[] Activations = [3, 2, 1];

    private static CrossbarSettings Base => new()
    {
        Rows = 3, Cols = 4, OuRows = 3, OuCols = 4, CellBits = 1, DacBits = 1, AdcBits = 2, AdcStep = AdcStep.Unit,
        WeightEncoding = WeightEncoding.Offset, ColumnFlip = false, WeightBits = 2, ActivationBits = 2,
    };

    private static double[] RunAll(CrossbarSettings settings, double[] expected)
    {
        var config = CrossbarConfig.Create(settings);
        SimCases.AssertIdentical(expected, CrossbarReference.Run(config, Weights, 3, 2, Activations, 1).Output, "reference");
        var layer = ProgrammedLayer.Program(config, Weights, 3, 2);
        var c = new SimCase(config, Weights, 3, 2, Activations, 1, new ProgramOptions());
        foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            foreach (var width in SimCases.Widths)
                SimCases.AssertIdentical(expected, SimCases.Run(layer, c, path, width).Output, $"{path} {width.SimdWidth}");
        return expected;
    }

    [Fact]
    public void Two_bit_dac_with_a_two_bit_adc_clips()
    {
        // d = 2: a is one digit [3, 2, 1]; codes clip at 2^2 − 1 = 3.
        // col0 s0: 3·1 + 2·1 + 1·0 = 5 → 3;  ·2^0 = 3
        // col0 s1: 3·1 + 2·0 + 1·1 = 4 → 3;  ·2^1 = 6    y0 = 9 − 12 = −3 (ideal 1: clipping lost 4)
        // col1 s0: 1·1 = 1 → 1;              ·2^0 = 1
        // col1 s1: 2·1 + 1·1 = 3 → 3;        ·2^1 = 6    y1 = 7 − 12 = −5
        RunAll(Base with { DacBits = 2 }, [-3, -5]);
        Assert.False(ProgrammedLayer.Program(CrossbarConfig.Create(Base with { DacBits = 2 }), Weights, 3, 2).IsLossless);
    }

    [Fact]
    public void Column_flip_keeps_the_same_adc_exact()
    {
        // Flip a column of a row group when its levels sum past 3·1/2, i.e. sum ≥ 2; recover (2^c−1)·Σa − p.
        // col0 s0 [1,1,0] → stored [0,0,1]: p = 1 → code 1 → 6 − 1 = 5;  ·1 = 5
        // col0 s1 [1,0,1] → stored [0,1,0]: p = 2 → code 2 → 6 − 2 = 4;  ·2 = 8    y0 = 13 − 12 = 1
        // col1 s0 [0,0,1] stays:            p = 1 → 1;                   ·1 = 1
        // col1 s1 [0,1,1] → stored [1,0,0]: p = 3 → 3 → 6 − 3 = 3;       ·2 = 6    y1 = 7 − 12 = −5
        // Bound: floor(3·1/2)·(2^2 − 1) = 3 ≤ 2^2 − 1, so the layer is lossless.
        var settings = Base with { DacBits = 2, ColumnFlip = true };
        RunAll(settings, [1, -5]);
        var config = CrossbarConfig.Create(settings);
        Assert.Equal(3, config.LosslessAdcBound);
        Assert.True(ProgrammedLayer.Program(config, Weights, 3, 2).IsLossless);
    }

    [Fact]
    public void Column_flip_bound_is_the_exactness_threshold()
    {
        // ou_rows = 4, 2-bit cells, 1-bit DAC: without flip p_max = 4·3 = 12 needs a 4-bit ADC; with flip
        // floor(4·3/2)·1 = 6 fits a 3-bit ADC. One bit fewer clips an all-ones OU.
        var settings = new CrossbarSettings
        {
            Rows = 4, Cols = 8, OuRows = 4, OuCols = 8, CellBits = 2, DacBits = 1, AdcBits = 3, WeightEncoding = WeightEncoding.Offset,
            ColumnFlip = true, WeightBits = 4, ActivationBits = 1,
        };
        Assert.Equal(6, CrossbarConfig.Create(settings).LosslessAdcBound);
        Assert.Equal(12, CrossbarConfig.Create(settings with { ColumnFlip = false }).LosslessAdcBound);
        // Every weight +7 stores u = 15 = levels [3, 3]: flipped to zeros; the worst unflipped case is a column summing to 6.
        var rng = new Random(5);
        for (int trial = 0; trial < 20; trial++)
        {
            int[] w = Enumerable.Range(0, 4 * 3).Select(_ => rng.Next(-8, 8)).ToArray();
            byte[] a = Enumerable.Range(0, 4 * 7).Select(_ => (byte)rng.Next(2)).ToArray();
            var c = new SimCase(CrossbarConfig.Create(settings), w, 4, 3, a, 7, new ProgramOptions());
            var layer = c.Programmed();
            Assert.True(layer.IsLossless);
            SimCases.AssertIdentical(SimCases.IntegerProduct(c), SimCases.Run(layer, c, SimulationPath.Conductance).Output, "flip at bound");
        }
        // Without flip a 3-bit ADC clips: all-ones input on u = 15 gives p = 4·3 = 12 → 7 per slice.
        var unflipped = new SimCase(CrossbarConfig.Create(settings with { ColumnFlip = false }), [7, 7, 7, 7], 4, 1, [1, 1, 1, 1], 1, new ProgramOptions());
        var y = SimCases.Run(unflipped.Programmed(), unflipped, null).Output;
        // codes 7 (s0) and 7 (s1): 7 + 4·7 = 35, minus offset 8·4 = 32 → 3 instead of 28.
        Assert.Equal(3, y[0]);
    }

    [Fact]
    public void Explicit_step_rounds_half_up()
    {
        // d = 1, step 1.5, codes clamp(⌊p/1.5 + ½⌋, 0, 3). Digits: t0 = [1,0,1], t1 = [1,1,0].
        // col0: t0s0 p=1 → ⌊1.17⌋=1; t0s1 p=2 → ⌊1.83⌋=1 (·2); t1s0 p=2 → 1 (·2); t1s1 p=1 → 1 (·4)
        //       integer sum 1 + 2 + 2 + 4 = 9 → 1.5·9 − 12 = 1.5
        // col1: t0s0 p=1 → 1; t0s1 p=1 → 1 (·2); t1s0 p=0 → 0; t1s1 p=1 → 1 (·4): 7 → 10.5 − 12 = −1.5
        RunAll(Base with { AdcStep = AdcStep.Calibrated(1.5) }, [1.5, -1.5]);
        // Ties round up: with step 2, p = 1 is exactly half a step → code 1, and p = 2 → ⌊1.5⌋ = 1.
        // col0: t0s0 p=1 → 1; t0s1 p=2 → 1 (·2); t1s0 p=2 → 1 (·2); t1s1 p=1 → 1 (·4): 9 → 18 − 12 = 6
        // col1: t0s0 1 → 1; t0s1 1 → 1 (·2); t1s0 0; t1s1 1 → 1 (·4): 7 → 14 − 12 = 2
        RunAll(Base with { AdcStep = AdcStep.Calibrated(2) }, [6, 2]);
    }

    [Fact]
    public void Leaking_cells_and_a_one_bit_adc()
    {
        // Differential, bw = 2 (magnitude 1 bit, one slice), on/off ratio 4: level 0 conducts 1/4.
        // W col0 = [1, -1, 0] → G+ [1,0,0] G− [0,1,0]; col1 = [-1, 0, 1] → G+ [0,0,1] G− [1,0,0].
        // a = [3, 2, 1], d = 1: t0 = [1,0,1], t1 = [1,1,0]; 1-bit ADC at step 1: code = p ≥ ½.
        // col0 G+: t0 p = 1 + 0 + ¼ = 1.25 → 1; t1 p = 1 + ¼ = 1.25 → 1 → 1 + 2 = 3
        //      G−: t0 p = ¼ + ¼ = 0.5 → 1 (half up); t1 p = ¼ + 1 = 1.25 → 1 → 3;  y0 = 3 − 3 = 0
        // col1 G+: t0 p = ¼ + 1 = 1.25 → 1; t1 p = ¼ + ¼ = 0.5 → 1 → 3
        //      G−: t0 p = 1 + ¼ = 1.25 → 1; t1 p = 1 + ¼ → 1 → 3;                    y1 = 0
        var settings = Base with
        {
            Cols = 2, OuCols = 2, WeightEncoding = WeightEncoding.Differential, AdcBits = 1,
            NonIdealities = new NonIdealities { OnOffRatio = 4 },
        };
        var config = CrossbarConfig.Create(settings);
        int[] w = [1, -1, -1, 0, 0, 1];
        var expected = new double[] { 0, 0 };
        SimCases.AssertIdentical(expected, CrossbarReference.Run(config, w, 3, 2, Activations, 1).Output, "reference");
        var c = new SimCase(config, w, 3, 2, Activations, 1, new ProgramOptions());
        var layer = c.Programmed();
        foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            SimCases.AssertIdentical(expected, SimCases.Run(layer, c, path).Output, path.ToString());
    }
}
