using PimQuant.Accelerator;
using PimQuant.Experiments;
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
    private static QuantizedModel QuantizedLeNet(int weightBits = 8, int activationBits = 8) =>
        QuantizedLeNet(Quantization.Config(weightBits, activationBits), 256);

    /// <summary>LeNet quantized by <paramref name="config"/>, calibrated on <paramref name="images"/> images.</summary>
    private static QuantizedModel QuantizedLeNet(PimQuant.Quant.Config.QuantConfig config, int images)
    {
        var graph = QuantFixtures.LeNet();
        var model = new QuantizedModel(graph, config.Resolve(graph), seed: 0);
        PostTrainingQuantization.Calibrate(model, QuantFixtures.Calibration(images), Math.Min(images, 128));
        return model;
    }

    /// <summary>The counts the cost model prices: without what only the simulator sees in the data (zero-input reads, non-zero
    /// drives, skipped reads), which dense counts leave at 0.</summary>
    private static EventCounts Priced(EventCounts e) => e with { ZeroInputReads = 0, NonzeroDacDrives = 0, DigitSkippedReads = 0, OuSkippedReads = 0 };

    private static Tensor Logits(CrossbarModel crossbars, Tensor images) => QuantFixtures.Logits(crossbars.CreateExecutor(), images, 100);

    /// <summary>A lossless simulation against the ideal integer model: the integer model in float32 differs from the exact
    /// integer product by float rounding, which can move a hidden value across a rounding boundary of the next layer's
    /// quantizer, so a few codes differ by one.</summary>
    private static void AssertNearIdeal(Tensor logits, Tensor ideal, long agreeing)
    {
        double scale = ideal.abs().max().item<float>();
        Assert.True(logits.allclose(ideal, rtol: 0, atol: 0.01 * scale), $"max difference {(logits - ideal).abs().max().item<float>()} at logits up to {scale}");
        Assert.True(logits.argmax(1).eq(ideal.argmax(1)).sum().item<long>() >= agreeing, "predictions differ");
    }

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
        AssertNearIdeal(torchLogits, ideal, 297);

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
            Assert.Equal(dense, Priced(simulated));
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
    public void Bwq_h_simulates_and_is_priced_on_its_precision_aware_mapping()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var model = QuantizedLeNet(weightBits: 9);
        var images = QuantFixtures.Images(5000, 20);
        var spec = PresetCatalog.Load("bwq-h");
        // 9-row OUs of 1-bit cells and a 1-bit DAC: p ≤ 9 ≤ 15, the 4-bit ADC is exact, so the libtorch product applies;
        // the conductance path reads the mapping's OUs one by one.
        var lossless = CrossbarModel.Program(model, spec);
        Assert.All(lossless.Layers, l => Assert.True(l.IsLossless, l.Name));
        var read = CrossbarModel.Program(model, spec, new SimulationOptions { Path = SimulationPath.Conductance });
        Assert.True(Logits(read, images).eq(Logits(lossless, images)).all().item<bool>(), "reading the mapped OUs differs from the integer product");
        long ous = 0, fullWidth = 0;
        foreach (var layer in read.Layers)
        {
            var mapping = layer.Mapping;
            Assert.Equal(MappingNames.PrecisionAware, mapping.Strategy);
            // The simulator reads exactly the mapping's OUs, array by array: its counts are the mapping's dense counts.
            var dense = DenseEventCounts.Compute(mapping, 8);
            Assert.Equal(dense, Priced(CrossbarCost.PerImage(layer.Events, read.Images, mapping, 8)));
            // A block takes 2 OUs (G+, G−) per bit it needs.
            var precision = BlockPrecision.Of(new LoweredWeights(mapping.Lowered, Codes(layer)), 9, 8);
            Assert.Equal(precision.Bits.Sum(p => 2 * p), mapping.Blocks.Count);
            ous += mapping.Blocks.Count;
            fullWidth += 16 * precision.Bits.Count;
        }
        // Per-channel scales give each channel's largest weight all 8 bits, but many blocks need fewer.
        Assert.True(ous < fullWidth, $"{ous} OUs of {fullWidth} at full width");
        for (int i = 0; i < read.Layers.Count; i++) Assert.Equal(read.Layers[i].Events, lossless.Layers[i].Events);
        var cost = CrossbarCost.Evaluate(read);
        Assert.Null(cost.Unavailable);
        Assert.Equal(read.Layers.Select(l => l.Mapping.Arrays.Count), cost.Report!.Layers.Select(l => l.Arrays));
        Assert.True(cost.Report.Total.EnergyJ > 0);
    }

    [Fact]
    public void Bwq_h_maps_the_bits_the_quantizer_chose_per_ou_block()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        // conv1 (1 → 6, 5 × 5): K = 25, N = 6, three 9 × 8 blocks at 9, 5 and 0 (pruned) signed bits: 8 + 4 + 0 magnitude
        // bits, so 2·(8 + 4) = 24 OUs; the other layers keep 9-bit channels and derive each block's bits from the weights.
        using var model = QuantizedLeNet(PimQuant.Quant.Config.QuantConfigLoader.Parse("""
            version: 1
            default:
              weight: {format: int, bits: 9, signed: true, narrow_range: true, granularity: channel, observer: minmax}
              activation: {format: int, bits: 8, signed: auto, granularity: tensor, observer: minmax}
            layers:
              conv1:
                weight: {precision: {granularity: {kind: ou, rows: 9, cols: 8}, bits: [9, 5, 0]}}
            """), 256);
        var images = QuantFixtures.Images(5000, 100);
        var ideal = QuantFixtures.Logits(model.CreateExecutor(), images, 100);
        var crossbars = CrossbarModel.Program(model, PresetCatalog.Load("bwq-h"));
        var conv1 = crossbars.Layers[0].Mapping;
        Assert.Equal(24, conv1.Blocks.Count);
        Assert.Equal([16, 8], conv1.Blocks.GroupBy(b => b.MatrixRow).Select(g => g.Count()));
        Assert.All(crossbars.Layers, l => Assert.True(l.IsLossless, l.Name));
        AssertNearIdeal(Logits(crossbars, images), ideal, 98);
    }

    [Theory]
    [InlineData("isaac")]
    [InlineData("bwq-h")]
    public void Widths_per_layer_simulate_and_equal_the_ideal_integer_model_where_the_adc_is_exact(string preset)
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        // The first convolution and the classifiers at 8 bits, the rest at 4.
        using var model = QuantizedLeNet(PimQuant.Quant.Config.QuantConfigLoader.Parse("""
            version: 1
            default:
              weight: {format: int, bits: 4, signed: true, narrow_range: true, granularity: channel, observer: minmax}
              activation: {format: int, bits: 4, signed: auto, granularity: tensor, observer: minmax}
            op_types:
              Gemm: {weight: {bits: 8}, activation: {bits: 8}}
            layers:
              conv1: {weight: {bits: 8}, activation: {bits: 8}}
            """), 256);
        var images = QuantFixtures.Images(5000, 100);
        var ideal = QuantFixtures.Logits(model.CreateExecutor(), images, 100);

        var spec = PresetCatalog.Load(preset);
        var crossbars = CrossbarModel.Program(model, spec);
        Assert.Equal((8, 8), (crossbars.Layers[0].Config.WeightBits, crossbars.Layers[0].Config.ActivationBits));
        Assert.Contains(crossbars.Layers, l => l.Config.WeightBits == 4 && l.Config.ActivationBits == 4);
        Assert.All(crossbars.Layers, l => Assert.True(l.IsLossless, l.Name));
        var logits = Logits(crossbars, images);
        AssertNearIdeal(logits, ideal, 98);
        // Read bit-serially on each layer's own crossbar: the same outputs, and each layer's events at its own widths.
        var read = CrossbarModel.Program(model, spec, new SimulationOptions { Path = SimulationPath.Conductance });
        Assert.True(Logits(read, images).eq(logits).all().item<bool>(), "the bit-serial read differs from the integer product");
        foreach (var layer in read.Layers)
            Assert.Equal(DenseEventCounts.Compute(layer.Mapping, layer.Config.ActivationBits),
                Priced(CrossbarCost.PerImage(layer.Events, read.Images, layer.Mapping, layer.Config.ActivationBits)));
        Assert.NotNull(CrossbarCost.Evaluate(read).Report);
    }

    /// <summary>A layer's integer weights in its own layout (each output channel's K codes in a row), read back from the
    /// programmed crossbars of its convolution groups.</summary>
    private static int[] Codes(CrossbarLayer layer)
    {
        int k = layer.Shape.RowsPerGroup, perGroup = layer.Shape.ColumnsPerGroup;
        var codes = new int[layer.Shape.OutChannels * k];
        for (int g = 0; g < layer.Groups.Count; g++)
        {
            var weights = layer.Groups[g].Weights;
            for (int r = 0; r < k; r++)
                for (int j = 0; j < perGroup; j++) codes[(g * perGroup + j) * k + r] = weights[r * perGroup + j];
        }
        return codes;
    }

    [Fact]
    public void A_layer_the_crossbars_cannot_hold_is_named()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        // ISAAC reads all 128 rows of an array at once: one conversion per column cannot take the scales of 9-row blocks.
        using var model = QuantizedLeNet(PimQuant.Quant.Config.QuantConfigLoader.Parse("""
            version: 1
            default:
              weight: {format: int, bits: 8, signed: true, granularity: {kind: ou, rows: 9, cols: 8}, observer: minmax}
              activation: {format: int, bits: 8, signed: auto, granularity: tensor, observer: minmax}
            """), 64);
        var e = Assert.Throws<SimulationException>(() => CrossbarModel.Program(model, PresetCatalog.Load("isaac")));
        Assert.Contains("layer conv1", e.Message);
        Assert.Contains("OU row group", e.Message);
    }

    /// <summary>Weight scales per OU block or per array are applied on the digital side, per OU row group's conversions: with
    /// an exact ADC the simulation equals the ideal integer model, on the libtorch product and read bit-serially alike.</summary>
    [Theory]
    [InlineData("isaac-ou", "{kind: ou, rows: 9, cols: 8}", true)]
    [InlineData("bwq-h", "{kind: ou, rows: 9, cols: 8}", true)]
    [InlineData("isaac-ou", "{kind: array, rows: 128, cols: 32}", false)]
    [InlineData("isaac", "{kind: array, rows: 128, cols: 16}", false)]
    public void Weight_scales_per_ou_block_or_array_equal_the_ideal_integer_model_where_the_adc_is_exact(string preset, string granularity, bool wholeOuRows)
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var model = QuantizedLeNet(PimQuant.Quant.Config.QuantConfigLoader.Parse($$"""
            version: 1
            default:
              weight: {format: int, bits: 4, signed: true, narrow_range: true, granularity: {{granularity}}, observer: minmax}
              activation: {format: int, bits: 8, signed: auto, granularity: tensor, observer: minmax}
            """), 256);
        var images = QuantFixtures.Images(5000, 100);
        var ideal = QuantFixtures.Logits(model.CreateExecutor(), images, 100);
        var spec = PresetCatalog.Load(preset);
        var crossbars = CrossbarModel.Program(model, spec);
        Assert.All(crossbars.Layers, l => Assert.True(l.IsLossless, l.Name));
        // Whole-OU row tiles where 9-row blocks would otherwise straddle a 128-row tile (conv2: K = 150).
        Assert.Equal(wholeOuRows, crossbars.Layers[1].Config.WholeOuRowTiles);
        var logits = Logits(crossbars, images);
        AssertNearIdeal(logits, ideal, 98);
        var read = CrossbarModel.Program(model, spec, new SimulationOptions { Path = SimulationPath.Conductance });
        var bitSerial = Logits(read, images);
        double largest = logits.abs().max().item<float>();
        Assert.True(bitSerial.allclose(logits, rtol: 0, atol: 1e-4 * largest), $"bit-serial read differs by {(bitSerial - logits).abs().max().item<float>()}");
        // The mapping priced is the one simulated: its arrays have the simulator's row tiles.
        foreach (var layer in read.Layers)
            Assert.Equal(DenseEventCounts.Compute(layer.Mapping, 8), Priced(CrossbarCost.PerImage(layer.Events, read.Images, layer.Mapping, 8)));
        Assert.NotNull(CrossbarCost.Evaluate(read).Report);
    }

    /// <summary>A heterogeneous pool (64×64, 128×128 and 256×256 arrays): each layer maps on the geometry whose arrays take
    /// the least area for it, is simulated on that geometry's crossbars, and the cost counts each geometry's arrays and area.</summary>
    [Fact]
    public void A_heterogeneous_array_pool_maps_simulates_and_prices_each_geometry()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var model = QuantizedLeNet();
        var images = QuantFixtures.Images(5000, 40);
        var spec = HardwareSpecLoader.LoadFile(Path.Combine(TestPaths.Root, "configs", "hw", "isaac-mixed.yaml"));
        Assert.Equal(["xbar64", "xbar128", "xbar256"], spec.Arrays.Select(a => a.Name));
        var crossbars = CrossbarModel.Program(model, spec);
        foreach (var layer in crossbars.Layers)
        {
            var geometry = layer.Mapping.Geometry;
            Assert.Equal((geometry.Rows, geometry.Cols, geometry.OuRows), (layer.Config.Rows, layer.Config.Cols, layer.Config.OuRows));
            Assert.All(layer.Mapping.Arrays, a => Assert.Equal(geometry, a.Geometry));
            // No geometry of the pool holds the layer in less area (arrays × an IMA's area / arrays per IMA).
            double Area(LayerMapping m) => m.Arrays.Count * ComponentTotals.Ima(spec, m.Geometry).AreaMm2 / spec.Organisation!.ArraysPerIma;
            foreach (var other in spec.Arrays)
                Assert.True(Area(DenseTiling.Instance.Map(new MappingRequest(layer.Shape, spec, 8, other.Name))) >= Area(layer.Mapping), $"{layer.Name} on {other.Name}");
        }
        Assert.True(crossbars.Layers.Select(l => l.Mapping.Geometry.Name).Distinct().Count() >= 2, "every layer took one geometry");
        var lossless = Logits(crossbars, images);
        var read = CrossbarModel.Program(model, spec, new SimulationOptions { Path = SimulationPath.Conductance });
        Assert.True(Logits(read, images).eq(lossless).all().item<bool>(), "the bit-serial read on each geometry differs from the integer product");

        var report = CrossbarCost.Evaluate(read).Report!;
        Assert.Equal(read.Layers.Select(l => l.Mapping.Geometry.Name), report.Layers.Select(l => l.Geometry));
        Assert.Equal(read.Layers.Sum(l => l.Mapping.AllocatedCells), report.Total.AllocatedCells);
        Assert.Equal(read.Layers.Sum(l => l.Mapping.ProgrammedCells), report.Total.ProgrammedCells);
        // A layer's area is its IMAs of its own geometry plus its share of tile-level parts: a geometry of more cells costs more per IMA.
        foreach (var layer in report.Layers)
        {
            var geometry = spec.Array(layer.Geometry);
            double expected = layer.Imas * ComponentTotals.Ima(spec, geometry).AreaMm2 + (double)layer.Imas / spec.Organisation!.ImasPerTile * ComponentTotals.TileLevel(spec).AreaMm2;
            Assert.Equal(expected, layer.AreaMm2, 12);
        }
    }
}

