using PimQuant.Experiments;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Methods.Cimq;
using PimQuant.Quant.Granularity;
using PimQuant.Sim;

namespace PimQuant.Tests.Methods.Cimq;

/// <summary>CIMQ's parts compose one by one: each switches off alone, and with every part off the run is the conventional one.</summary>
public class CimqSchemeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-cimq-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("sparsity")]
    [InlineData("array")]
    [InlineData("clip")]
    [InlineData("qdrop")]
    public void Each_part_switches_off_alone(string part)
    {
        var without = CimqScheme.Parts(CimqOptions.Only(CimqOptions.PartNames.Where(p => p != part)));
        var alone = CimqScheme.Parts(CimqOptions.Only([part]));
        bool Has(MethodParts m, string name) => name switch
        {
            "sparsity" => m.DigitPolicy is not null && m.Quantization.OfType<BitSparseActivations>().Any(),
            "array" => m.Quantization.OfType<ArrayWiseWeights>().Any(),
            "clip" => m.AdcCalibration is LearnedAdcClipping,
            _ => m.Quantization.OfType<QDropReconstruction>().Any(),
        };
        foreach (var name in CimqOptions.PartNames)
        {
            Assert.Equal(name != part, Has(without, name));
            Assert.Equal(name == part, Has(alone, name));
        }
        Assert.Equal($"cimq {part}", alone.Label);
        // The sparsity part alone brings its zero-digit skip and nothing else: no part's absence leaves a half of it behind.
        Assert.Equal(part == "sparsity", alone.DigitPolicy is not null);
    }

    [Fact]
    public void Unknown_parts_are_refused_by_name()
    {
        var e = Assert.Throws<ArgumentException>(() => CimqOptions.Only(["clip", "adc"]));
        Assert.Equal("CIMQ part 'adc': expected default, all, none or a comma-separated list of sparsity, array, clip, qdrop", e.Message);
        Assert.Equal(CimqOptions.None, CimqOptions.Only(["none"]));
        Assert.Equal(CimqOptions.All, CimqOptions.Only(["all"]));
        // The default is every part but array-wise weights (docs/methods/cimq.md says why).
        Assert.Equal(CimqOptions.Only(["sparsity", "clip", "qdrop"]), CimqOptions.Only(["default"]));
    }

    [Fact]
    public void Array_tiles_are_the_logical_columns_one_array_holds()
    {
        var isaac = PresetCatalog.Load("isaac");
        Assert.Equal(new ScaleGranularity.PerArray(128, 32), ArrayWiseWeights.Tile(isaac, 8)); // 4 slices of 2-bit cells per 8-bit weight
        Assert.Equal(new ScaleGranularity.PerArray(128, 64), ArrayWiseWeights.Tile(isaac, 4));
    }

    private string LeNet() => TestModels.LeNet(_dir);

    [Fact]
    public void Quantize_applies_the_quantization_parts_for_the_hardware_it_names()
    {
        var isaac = PresetCatalog.Load("isaac");
        PostTrainingRequest Request(HardwareSpec? hw) => new(LeNet(), Quantization.Config(8, 8), new DataOptions(), CalibrationImages: 32, Seed: 0, BatchSize: 32,
            Hardware: hw, Images: 32, Method: CimqScheme.Parts(CimqOptions.Only(["array", "clip"])));
        var refused = Assert.Throws<ExperimentException>(() => PostTraining.Run(Request(null), new QuietProgress(), CancellationToken.None));
        Assert.Equal("cimq array+clip quantizes for a crossbar's arrays: give --hw", refused.Message);
        using var result = PostTraining.Run(Request(isaac), new QuietProgress(), CancellationToken.None);
        Assert.All(result.Model.Layers, l => Assert.Equal(new ScaleGranularity.PerArray(128, 32), l.Weight!.Spec.Granularity));
        Assert.Contains(result.Notes, n => n.StartsWith("cimq array+clip: its digit skipping and ADC steps act on the crossbars' reads", StringComparison.Ordinal));
    }

    [Fact]
    public void With_every_part_off_the_run_is_the_conventional_one()
    {
        string model = LeNet();
        var spec = PresetCatalog.Load("isaac") with { Adc = new AdcSpec(4, AdcStepMode.Calibrated, AdcCalibration.Layer) };
        SimulationRequest Request(MethodParts? method) => new(model, spec, 8, 8, null,
            new DataOptions(), Images: 16, CalibrationImages: 32, Seed: 0, BatchSize: 16, Threads: 2, Path: null, Method: method);
        var conventional = Simulation.Run(Request(null), new QuietProgress(), CancellationToken.None);
        var none = Simulation.Run(Request(CimqScheme.Parts(CimqOptions.None)), new QuietProgress(), CancellationToken.None);
        Assert.Equal(conventional.Simulated.Correct, none.Simulated.Correct);
        Assert.Equal(conventional.Events, none.Events);
        Assert.Equal(conventional.Layers.Select(l => l.Groups[0].Steps.ToArray()), none.Layers.Select(l => l.Groups[0].Steps.ToArray()));
    }
}
