using PimQuant.Sim;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;

namespace PimQuant.Tests.Sim;

/// <summary>Settings, weights, steps and activations outside their ranges are refused with the field named.</summary>
public class ConfigValidationTests
{
    [Theory]
    [InlineData("ou_rows")]
    [InlineData("cell_bits")]
    [InlineData("adc_bits")]
    [InlineData("activation_bits")]
    [InlineData("weight_bits")]
    [InlineData("on_off_ratio")]
    [InlineData("saf")]
    [InlineData("bitlines")]
    [InlineData("adc_step")]
    [InlineData("32 bits")]
    public void Invalid_settings_are_refused(string field)
    {
        var bad = field switch
        {
            "ou_rows" => new CrossbarSettings { OuRows = 129 },
            "cell_bits" => new CrossbarSettings { CellBits = 0 },
            "adc_bits" => new CrossbarSettings { AdcBits = 17 },
            "activation_bits" => new CrossbarSettings { ActivationBits = 9 },
            "weight_bits" => new CrossbarSettings { WeightEncoding = WeightEncoding.Differential, WeightBits = 1 },
            "on_off_ratio" => new CrossbarSettings { NonIdealities = new NonIdealities { OnOffRatio = 1 } },
            "saf" => new CrossbarSettings { NonIdealities = new NonIdealities { StuckAtZero = 0.7, StuckAtOne = 0.5 } },
            "bitlines" => new CrossbarSettings { Cols = 6, OuCols = 6, CellBits = 1, WeightBits = 8 },
            "adc_step" => new CrossbarSettings { AdcStep = AdcStep.Calibrated(0) },
            _ => new CrossbarSettings { OuRows = 128, CellBits = 4, DacBits = 5 }, // 128·31·15·2^16 ≥ 2^31
        };
        var error = Assert.Throws<ArgumentException>(() => CrossbarConfig.Create(bad));
        Assert.Contains(field, error.Message);
    }

    [Fact]
    public void Derived_quantities()
    {
        var isaac = CrossbarConfig.Create(new CrossbarSettings());
        Assert.Equal((4, 8, 1, 3, 255), (isaac.Slices, isaac.Digits, isaac.Polarities, isaac.LevelMax, isaac.AdcCodeMax));
        Assert.Equal(192, isaac.LosslessAdcBound); // floor(128·3/2)·1: ISAAC's 8-bit ADC suffices
        var bwq = CrossbarConfig.Create(new CrossbarSettings { OuRows = 9, OuCols = 8, CellBits = 1, AdcBits = 4, AdcStep = AdcStep.FullRange, WeightEncoding = WeightEncoding.Differential, ColumnFlip = false });
        Assert.Equal((7, 2, 9, 0.6), (bwq.Slices, bwq.Polarities, (int)bwq.PartialSumMax, bwq.NominalStep));
    }

    [Fact]
    public void Weights_outside_the_encoding_range_are_refused()
    {
        var differential = CrossbarConfig.Create(new CrossbarSettings { WeightEncoding = WeightEncoding.Differential, WeightBits = 4 });
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(differential, [-8], 1, 1)); // narrow range: −7..7
        ProgrammedLayer.Program(differential, [-7, 7], 2, 1);
        var offset = CrossbarConfig.Create(new CrossbarSettings { WeightBits = 4 });
        ProgrammedLayer.Program(offset, [-8, 7], 2, 1);
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(offset, [8], 1, 1));
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(offset, [1, 2, 3], 2, 2));
    }

    [Fact]
    public void Steps_activations_and_paths_are_checked()
    {
        var config = CrossbarConfig.Create(new CrossbarSettings { Rows = 4, Cols = 8, OuRows = 4, OuCols = 8, ActivationBits = 4, AdcBits = 6 });
        int[] w = [1, -2, 3, -4, 5, -6, 7, -8];
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(config, w, 8, 1, new ProgramOptions { AdcSteps = [1, 2, 3] }));
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(config, w, 8, 1, new ProgramOptions { AdcSteps = [-1] }));
        var layer = ProgrammedLayer.Program(config, w, 8, 1, new ProgramOptions { AdcSteps = [1, 2] }); // 2 row tiles × 1 column tile
        Assert.Equal([1.0, 2.0], layer.Steps);
        var y = new double[1];
        Assert.Throws<ArgumentException>(() => layer.Run(new byte[] { 1, 2, 3, 16, 0, 0, 0, 0 }, y, 1)); // 16 needs 5 bits
        Assert.Throws<ArgumentException>(() => layer.Run(new byte[8], y, 1, options: new RunOptions { Path = SimulationPath.Exact }));
    }

    [Fact]
    public void Layout_changes_events_not_values()
    {
        for (int seed = 0; seed < 8; seed++)
        {
            var c = SimCases.Random(1300 + seed, effects: seed % 2 == 0 ? Effects.All : Effects.None);
            // Arrays of whole OU row groups: slice-major tiles hold only whole ones (the precision-aware mapping's weight blocks),
            // so with a partial group at the array's foot the row groups, and with them lossy values, would differ.
            var settings = new CrossbarSettings
            {
                Rows = c.Config.Rows / c.Config.OuRows * c.Config.OuRows, Cols = 8 * c.Config.ColumnsPerWeight, OuRows = c.Config.OuRows, OuCols = 3, CellBits = c.Config.CellBits,
                DacBits = c.Config.DacBits, AdcBits = c.Config.AdcBits, AdcStep = c.Config.AdcStep, WeightEncoding = c.Config.WeightEncoding,
                ColumnFlip = c.Config.ColumnFlip, WeightBits = c.Config.WeightBits, ActivationBits = c.Config.ActivationBits,
                NonIdealities = c.Config.NonIdealities, ConductanceFractionBits = c.Config.ConductanceFractionBits,
            };
            var weightMajor = c with { Config = CrossbarConfig.Create(settings), Program = c.Program with { AdcSteps = null } };
            var sliceMajor = weightMajor with { Config = CrossbarConfig.Create(settings with { ColumnLayout = ColumnLayout.SliceMajor }) };
            var a = SimCases.Run(weightMajor.Programmed(), weightMajor, null);
            var b = SimCases.Run(sliceMajor.Programmed(), sliceMajor, null);
            SimCases.AssertIdentical(a.Output, b.Output, "layouts");
            Assert.Equal(a.Events.AdcConversions, b.Events.AdcConversions);
        }
    }
}
