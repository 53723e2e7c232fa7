using PimQuant.Accelerator;
using PimQuant.Cli.Commands;
using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Sim;
using PimQuant.Tests.Quant;
using static TorchSharp.torch;

namespace PimQuant.Tests.Accelerator;

/// <summary>The quantized graph on simulated crossbars: lossless configurations equal the ideal integer
/// model, the libtorch lossless product equals the simulator's own exact path bit for bit, simulated event
/// counts equal the mapping's dense counts, and non-idealities cost accuracy monotonically.</summary>
public class CrossbarModelTests
{
    private static QuantizedModel QuantizedLeNet(int weightBits = 8, int activationBits = 8)
    {
        var graph = QuantFixtures.LeNet();
        var model = new QuantizedModel(graph, SimulationPipeline.Config(weightBits, activationBits).Resolve(graph), seed: 0);
        PostTrainingQuantization.Calibrate(model, QuantFixtures.Calibration(256), 128);
        return model;
    }

    private static Tensor Logits(CrossbarModel crossbars, Tensor images) => QuantFixtures.Logits(crossbars.CreateExecutor(), images, 100);

    [Fact]
    public void Lossless_isaac_equals_the_ideal_integer_model_and_the_simulators_exact_path()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var model = QuantizedLeNet();
        var images = QuantFixtures.Images(5000, 300);
        var ideal = QuantFixtures.Logits(model.CreateExecutor(), images, 100);

        var isaac = PresetCatalog.Load("isaac");
        var viaTorch = CrossbarModel.Program(model, isaac);
        Assert.All(viaTorch.Layers, l => Assert.True(l.IsLossless, l.Name));
        var torchLogits = Logits(viaTorch, images);
        // The integer model in float32 differs from the exact integer product by float rounding, which can move a
        // hidden value across a rounding boundary of the next layer's quantizer: a few codes differ by one.
        double scale = ideal.abs().max().item<float>();
        Assert.True(torchLogits.allclose(ideal, rtol: 0, atol: 0.01 * scale), $"max difference {(torchLogits - ideal).abs().max().item<float>()} at logits up to {scale}");
        Assert.True(torchLogits.argmax(1).eq(ideal.argmax(1)).sum().item<long>() >= 297, "predictions differ");

        var viaSim = CrossbarModel.Program(model, isaac, new SimulationOptions { Path = SimulationPath.Exact });
        var simLogits = Logits(viaSim, images);
        Assert.True(simLogits.eq(torchLogits).all().item<bool>(), "the libtorch product and the simulator's exact path differ");
        for (int i = 0; i < viaSim.Layers.Count; i++) Assert.Equal(viaSim.Layers[i].Events, viaTorch.Layers[i].Events);
        Assert.Equal(300, viaTorch.Images);
    }

    [Theory]
    [InlineData("isaac")]
    [InlineData("isaac-ou")]
    public void Simulated_event_counts_equal_the_dense_mappings(string preset)
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var model = QuantizedLeNet();
        var spec = PresetCatalog.Load(preset);
        var crossbars = CrossbarModel.Program(model, spec, new SimulationOptions { Path = SimulationPath.Conductance });
        Logits(crossbars, QuantFixtures.Images(5000, 20));
        foreach (var layer in crossbars.Layers)
        {
            var mapping = DenseTiling.Instance.Map(new MappingRequest(layer.Shape, spec, 8));
            var dense = DenseEventCounts.Compute(mapping, 8);
            var simulated = CrossbarCost.PerImage(layer.Events, crossbars.Images, mapping, 8);
            Assert.Equal(dense, simulated);
            Assert.Equal(layer.Events.OuReads, 20 * dense.OuReads);
        }
        var cost = CrossbarCost.Evaluate(crossbars);
        Assert.NotNull(cost.Report);
        Assert.True(cost.Report!.Total.EnergyJ > 0);
    }

    [Fact]
    public void A_3_bit_adc_costs_accuracy_that_5_bits_keep()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var model = QuantizedLeNet();
        var images = QuantFixtures.Images(5000, 300);
        var labels = QuantFixtures.Labels(5000, 300);
        double ideal = QuantFixtures.Accuracy(QuantFixtures.Logits(model.CreateExecutor(), images, 100), labels);
        // neurosim-rram with an on/off ratio of 100 instead of 10: PimQuant's level-0 cells leak into every
        // partial sum uncompensated (crossbar-model.md §6), which at a ratio of 10 alone takes LeNet near chance
        // (NeuroSim cancels it with a reference column, not modelled yet) and would leave nothing to fall.
        var neurosim = PresetCatalog.Load("neurosim-rram");
        double Accuracy(int adcBits)
        {
            var spec = neurosim with { Adc = neurosim.Adc with { Bits = adcBits }, NonIdealities = neurosim.NonIdealities with { OnOffRatio = 100 } };
            var crossbars = CrossbarModel.Program(model, spec);
            crossbars.CalibrateAdc(QuantFixtures.Calibration(64));
            return QuantFixtures.Accuracy(Logits(crossbars, images), labels);
        }
        double five = Accuracy(5), three = Accuracy(3);
        Assert.True(five < ideal && three < five - 0.05, $"ideal {ideal}, 5-bit ADC {five}, 3-bit {three}");
        // Not asserted: accuracy falling monotonically as variation sigma rises over 0, 0.05, 0.1, 0.2. Measured on
        // this model it does not (issue 15's note): each programmed chip recalibrates its ADC steps, and at 3 or 5
        // bits a small perturbation already moves the outputs as much as a large one.
    }

    [Fact]
    public void Same_seed_same_noisy_result_and_another_seed_another()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var model = QuantizedLeNet();
        var images = QuantFixtures.Images(5000, 64);
        var spec = PresetCatalog.Load("isaac-ou");
        HardwareSpec Noisy(long seed) => spec with
        {
            NonIdealities = spec.NonIdealities with { Variation = new VariationSpec(PimQuant.Hardware.Spec.VariationKind.Gaussian, 0.1, null), ReadNoise = 0.3, Seed = seed },
        };
        var a = Logits(CrossbarModel.Program(model, Noisy(1)), images);
        var b = Logits(CrossbarModel.Program(model, Noisy(1), new SimulationOptions { Configuration = new SimConfiguration { MaxDegreeOfParallelism = 1 } }), images);
        var c = Logits(CrossbarModel.Program(model, Noisy(2)), images);
        Assert.True(a.eq(b).all().item<bool>());
        Assert.False(a.eq(c).all().item<bool>());
    }

    [Fact]
    public void A_layer_the_crossbars_cannot_hold_is_named()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var graph = QuantFixtures.LeNet();
        var config = PimQuant.Quant.Config.QuantConfigLoader.Parse("""
            version: 1
            default:
              weight: {format: int, bits: 8, signed: true, granularity: {kind: ou, rows: 9, cols: 8}, observer: minmax}
              activation: {format: int, bits: 8, signed: auto, granularity: tensor, observer: minmax}
            """);
        using var model = new QuantizedModel(graph, config.Resolve(graph), seed: 0);
        PostTrainingQuantization.Calibrate(model, QuantFixtures.Calibration(64), 64);
        var e = Assert.Throws<SimulationException>(() => CrossbarModel.Program(model, PresetCatalog.Load("isaac")));
        Assert.Contains("per array or OU block", e.Message);
    }
}
