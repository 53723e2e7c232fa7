using PimQuant.Sim;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;

namespace PimQuant.Tests.Sim;

/// <summary>The reference column cancels the leakage of level-0 cells: with 1-bit cells and an ideal ADC the
/// result is the integer product again (up to the float rounding of the gain), where without it the leakage
/// adds G_min per driven level-0 cell.</summary>
public class ReferenceColumnTests
{
    [Theory]
    [InlineData(WeightEncoding.Offset, false)]
    [InlineData(WeightEncoding.Offset, true)]
    [InlineData(WeightEncoding.Differential, false)]
    public void One_bit_cells_read_through_a_reference_column_lose_nothing_to_leakage(WeightEncoding encoding, bool flip)
    {
        var rng = new Random(5);
        int k = 200, n = 7, pixels = 9;
        var weights = Enumerable.Range(0, k * n).Select(_ => rng.Next(-127, 128)).ToArray();
        var activations = SimCases.RandomActivations(rng, pixels * k, 8);
        CrossbarConfig Config(bool reference) => CrossbarConfig.Create(new CrossbarSettings
        {
            Rows = 128, Cols = 128, OuRows = 128, OuCols = 128, CellBits = 1, DacBits = 1, AdcBits = 0,
            WeightEncoding = encoding, ColumnFlip = flip, WeightBits = 8, ActivationBits = 8,
            NonIdealities = new NonIdealities { OnOffRatio = 10 }, ReferenceColumn = reference,
        });
        var c = new SimCase(Config(true), weights, k, n, activations, pixels, new ProgramOptions { Name = "fc" });
        var expected = SimCases.IntegerProduct(c);
        var compensated = new double[pixels * n];
        c.Programmed().Run(activations, compensated, pixels);
        var leaky = new double[pixels * n];
        (c with { Config = Config(false) }).Programmed().Run(activations, leaky, pixels);
        double largest = expected.Max(Math.Abs);
        for (int e = 0; e < expected.Length; e++) Assert.Equal(expected[e], compensated[e], 1e-9 * largest);
        Assert.True(expected.Zip(leaky).Max(p => Math.Abs(p.First - p.Second)) > 0.01 * largest);
    }

    [Fact]
    public void Every_read_converts_the_reference_column_once_more()
    {
        var c = SimCases.Random(3, effects: Effects.Leakage);
        var without = c.Programmed().Run(c.Activations, new double[c.Pixels * c.N], c.Pixels);
        var with = (c with { Config = CrossbarConfig.Create(Settings(c.Config) with { ReferenceColumn = true }) }).Programmed()
            .Run(c.Activations, new double[c.Pixels * c.N], c.Pixels);
        Assert.Equal(without.AdcConversions + without.OuReads, with.AdcConversions);
        Assert.Equal(with.AdcConversions, with.ShiftAdds); // each conversion, the reference's too, is shift-added once
        Assert.Equal(without with { AdcConversions = 0, ShiftAdds = 0 }, with with { AdcConversions = 0, ShiftAdds = 0 });
    }

    private static CrossbarSettings Settings(CrossbarConfig c) => new()
    {
        Rows = c.Rows, Cols = c.Cols, OuRows = c.OuRows, OuCols = c.OuCols, CellBits = c.CellBits, DacBits = c.DacBits, AdcBits = c.AdcBits,
        AdcStep = c.AdcStep, WeightEncoding = c.WeightEncoding, ColumnFlip = c.ColumnFlip, WeightBits = c.WeightBits,
        ActivationBits = c.ActivationBits, ColumnLayout = c.ColumnLayout, NonIdealities = c.NonIdealities,
        ConductanceFractionBits = c.ConductanceFractionBits, ReferenceColumn = c.ReferenceColumn,
    };
}
