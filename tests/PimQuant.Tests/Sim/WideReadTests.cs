using PimQuant.Sim;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;
using VariationKind = PimQuant.Hardware.Spec.VariationKind;

namespace PimQuant.Tests.Sim;

/// <summary>Preset-shaped layers (whole-array reads of 128 rows, 9×8 OUs) against the reference,
/// including the corner where all 128 driven rows meet 1-cells (count 128, the code table's last entry).</summary>
public class WideReadTests
{
    private static CrossbarSettings NeuroSim => new()
    {
        Rows = 128, Cols = 128, OuRows = 128, OuCols = 128, CellBits = 1, DacBits = 1, AdcBits = 5, AdcStep = AdcStep.FullRange,
        WeightEncoding = WeightEncoding.Offset, ColumnFlip = false, WeightBits = 8, ActivationBits = 8,
        NonIdealities = new NonIdealities { OnOffRatio = 10 },
    };

    private static CrossbarSettings Isaac => new() { AdcBits = 6 }; // defaults are ISAAC's; a 6-bit ADC makes it lossy

    private static CrossbarSettings BwqH => new()
    {
        Rows = 128, Cols = 128, OuRows = 9, OuCols = 8, CellBits = 1, DacBits = 1, AdcBits = 4, AdcStep = AdcStep.FullRange,
        WeightEncoding = WeightEncoding.Differential, ColumnFlip = false, WeightBits = 8, ActivationBits = 8, ColumnLayout = ColumnLayout.SliceMajor,
    };

    public static TheoryData<string> Presets => ["neurosim", "isaac", "bwq-h", "isaac-ou"];

    private static CrossbarSettings Settings(string name) => name switch
    {
        "neurosim" => NeuroSim,
        "isaac" => Isaac,
        "bwq-h" => BwqH,
        _ => new CrossbarSettings { OuRows = 9, OuCols = 8, AdcBits = 3 }, // flip bound 13 > 7: lossy
    };

    [Theory]
    [MemberData(nameof(Presets))]
    public void Preset_shaped_layers_equal_reference(string preset)
    {
        var rng = new Random(preset.GetHashCode(StringComparison.Ordinal) & 0xFFFF);
        var config = CrossbarConfig.Create(Settings(preset));
        int k = 301, n = 5, pixels = 4;
        int max = (1 << (config.WeightBits - 1)) - 1, min = config.WeightEncoding == WeightEncoding.Offset ? -max - 1 : -max;
        var weights = Enumerable.Range(0, k * n).Select(_ => rng.Next(min, max + 1)).ToArray();
        var activations = SimCases.RandomActivations(rng, pixels * k, 8);
        // Column 0 all +127 and pixel 0 all 255: every 1-bit slice of u = 255 counts all 128 driven rows.
        for (int i = 0; i < k; i++) weights[i * n] = max;
        Array.Fill(activations, (byte)255, 0, k);
        var c = new SimCase(config, weights, k, n, activations, pixels, new ProgramOptions { Name = preset, Seed = 3 });
        var reference = CrossbarReference.Run(config, weights, k, n, activations, pixels, c.Program);
        var layer = c.Programmed();
        Assert.False(layer.IsLossless);
        foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            foreach (var width in SimCases.Widths)
            {
                var (y, events) = SimCases.Run(layer, c, path, width);
                SimCases.AssertIdentical(reference.Output, y, $"{preset} {path} {width.SimdWidth}");
                Assert.Equal(reference.Events, events);
            }
    }

    [Fact]
    public void Default_paths_of_the_presets()
    {
        var weights = new int[300 * 7];
        Assert.Equal(SimulationPath.BitCount, ProgrammedLayer.Program(CrossbarConfig.Create(NeuroSim), weights, 300, 7).DefaultPath);
        Assert.Equal(SimulationPath.OuTable, ProgrammedLayer.Program(CrossbarConfig.Create(BwqH), weights, 300, 7).DefaultPath);
        Assert.Equal(SimulationPath.Conductance, ProgrammedLayer.Program(CrossbarConfig.Create(Isaac), weights, 300, 7).DefaultPath);
        Assert.Equal(SimulationPath.Exact, ProgrammedLayer.Program(CrossbarConfig.Create(new CrossbarSettings()), weights, 300, 7).DefaultPath);
        var withVariation = NeuroSim with { NonIdealities = NeuroSim.NonIdealities with { Variation = new(VariationKind.Gaussian, 0.1) } };
        Assert.Equal(SimulationPath.Conductance, ProgrammedLayer.Program(CrossbarConfig.Create(withVariation), weights, 300, 7).DefaultPath);
        var bwqNoisy = BwqH with { NonIdealities = new NonIdealities { ReadNoise = 0.1 } };
        Assert.Equal(SimulationPath.Conductance, ProgrammedLayer.Program(CrossbarConfig.Create(bwqNoisy), weights, 300, 7).DefaultPath);
    }
}
