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
/// counts equal the mapping's dense counts, and a coarser ADC or more variation costs accuracy.</summary>
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
    public void Neurosim_rram_loses_accuracy_to_a_3_bit_adc_and_monotonically_to_variation()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var model = QuantizedLeNet();
        var images = QuantFixtures.Images(5000, 400);
        var labels = QuantFixtures.Labels(5000, 400);
        double ideal = QuantFixtures.Accuracy(QuantFixtures.Logits(model.CreateExecutor(), images, 100), labels);
        // The preset as shipped: on/off ratio 10 with its reference column, ADC steps calibrated per array.
        var neurosim = PresetCatalog.Load("neurosim-rram");
        // Mean accuracy over programmed chips (device seeds); the chips share their draws across sigma (the same
        // cells, scaled). One chip's accuracy is not monotone in sigma: each chip recalibrates its ADC steps, and a
        // small perturbation can dither a 5-bit ADC's rounding bias away (measured: the mean squared logit error
        // against the ideal model was 0.61 at sigma 0 and 0.53 at 0.05). Measured means over 6 chips:
        // 0.7200, 0.6813, 0.6813, 0.6483.
        double Measure(int adcBits, double sigma, int chips)
        {
            double accuracy = 0;
            for (long seed = 0; seed < chips; seed++)
            {
                var spec = neurosim with
                {
                    Adc = neurosim.Adc with { Bits = adcBits },
                    NonIdealities = neurosim.NonIdealities with { Variation = new VariationSpec(PimQuant.Hardware.Spec.VariationKind.Gaussian, sigma, null), Seed = seed },
                };
                var crossbars = CrossbarModel.Program(model, spec);
                crossbars.CalibrateAdc(QuantFixtures.Calibration(64));
                accuracy += QuantFixtures.Accuracy(Logits(crossbars, images), labels) / chips;
            }
            return accuracy;
        }
        var five = Measure(5, 0, 1);
        var three = Measure(3, 0, 1);
        Assert.True(five > ideal - 0.03 && three < five - 0.1, $"ideal {ideal}, 5-bit ADC {five}, 3-bit {three}");
        var sweep = new[] { 0.0, 0.05, 0.1, 0.2 }.Select(sigma => sigma == 0 ? five : Measure(5, sigma, 6)).ToArray();
        string measured = string.Join(", ", sweep.Select(a => a.ToString("F4")));
        for (int i = 1; i < sweep.Length; i++) Assert.True(sweep[i] <= sweep[i - 1], $"accuracy rose with sigma: {measured}");
        Assert.True(sweep[^1] < sweep[0] - 0.05, $"sigma 0.2 costs little: {measured}");
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
