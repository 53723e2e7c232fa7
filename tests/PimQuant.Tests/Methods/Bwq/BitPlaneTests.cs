using PimQuant.Accelerator;
using PimQuant.Sim;
using PimQuant.Hardware.Presets;
using PimQuant.Methods.Bwq;
using PimQuant.Quant.Config;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Quantizers;
using PimQuant.Tests.Quant;
using static TorchSharp.torch;

namespace PimQuant.Tests.Methods.Bwq;

public class BitPlaneTests
{
    private static readonly ScaleGranularity.PerOuBlock Ou = new(9, 8);

    /// <summary>LeNet's layers as bit planes (8 magnitude bits, 9 × 8 blocks), re-quantized once as BWQ-A starts.</summary>
    private static List<BitPlaneLayer> Planes(PimQuant.Engine.Graph.ModelGraph graph)
    {
        var layers = QuantizableLayer.Find(graph).Select(l =>
            new BitPlaneLayer(l.Name, l.WeightName, graph.Initializers[l.WeightName].Value, l.Lowering(graph), Ou, 8)).ToList();
        foreach (var layer in layers) layer.Requantize();
        return layers;
    }

    [Fact]
    public void The_first_planes_give_each_weight_its_nearest_level_and_re_quantization_leaves_exact_bits()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var graph = QuantFixtures.LeNet();
        var layers = Planes(graph);
        foreach (var layer in layers)
        {
            var w = graph.Initializers[layer.WeightName].Value;
            using (no_grad())
            {
                Assert.True((layer.Weight() - w).abs().max().item<float>() <= layer.Step / 2 * 1.0001, layer.Name);
                Assert.True(layer.Planes.eq(0).logical_or(layer.Planes.eq(1)).all().item<bool>(), $"{layer.Name}: planes are not bits");
                var levels = tensor(layer.Levels()).to_type(ScalarType.Float32).reshape(w.shape);
                Assert.True(layer.Weight().eq(levels * (float)layer.Step).all().item<bool>(), $"{layer.Name}: the weight is not its levels");
            }
            // A block's precision is the bit length of its largest level.
            var levelsByBlock = layer.Levels();
            using var layout = WeightGroupLayout.Create(layer.Lowering, Ou);
            var group = layout.GroupIndex.flatten().data<long>().ToArray();
            var expected = new int[layer.Blocks];
            for (int i = 0; i < group.Length; i++)
                expected[group[i]] = Math.Max(expected[group[i]], 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)Math.Abs(levelsByBlock[i])));
            Assert.Equal(expected, layer.BlockPrecision());
        }
    }

    [Fact]
    public void Re_quantization_never_turns_a_mask_back_on()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var graph = QuantFixtures.LeNet();
        var layer = Planes(graph)[1];
        using var generator = new TorchSharp.torch.Generator(7);
        var before = layer.Masks.clone();
        double first = before.sum().item<float>();
        for (int round = 0; round < 6; round++)
        {
            // Training can push any plane anywhere in [0, 2], masked ones included: the masks must still only turn off.
            using (no_grad()) layer.Planes.copy_(rand(layer.Planes.shape, generator: generator) * 2 * (round % 2 == 0 ? 1 : 0.3));
            layer.Requantize();
            Assert.True(layer.Masks.le(before).all().item<bool>(), $"round {round}: a mask turned back on");
            // A block's mask is always its low p bits.
            Assert.True(layer.Masks[..^1].ge(layer.Masks[1..]).all().item<bool>(), $"round {round}: a mask is not the low bits");
            // A masked bit holds 0 in every weight of its block.
            Assert.Equal(0, (layer.Planes.sum(1) * (1 - layer.Masks.amax(1))).sum().item<float>());
            before = layer.Masks.clone();
        }
        // Planes shrunk to a third lower the levels, so some leading bits did turn off.
        Assert.True(layer.Masks.sum().item<float>() < first);
    }

    [Fact]
    public void The_group_lasso_is_the_sum_of_the_unmasked_block_bit_norms()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var graph = QuantFixtures.LeNet();
        var layer = Planes(graph)[0];
        using (no_grad()) layer.Planes.copy_(rand(layer.Planes.shape, generator: new TorchSharp.torch.Generator(3)) * 2);
        using var layout = WeightGroupLayout.Create(layer.Lowering, Ou);
        var group = layout.GroupIndex.flatten().data<long>().ToArray();
        var planes = layer.Planes.detach().data<float>().ToArray();
        var masks = layer.Masks.data<float>().ToArray();
        double expected = 0;
        long weights = layer.Weights;
        for (int b = 0; b < layer.MagnitudeBits; b++)
            for (int g = 0; g < layer.Blocks; g++)
            {
                if (masks[b * layer.Blocks + g] == 0) continue;
                double squares = 0;
                for (long i = 0; i < weights; i++)
                    if (group[i] == g) squares += Math.Pow(planes[b * weights + i], 2);
                expected += Math.Sqrt(squares);
            }
        Assert.Equal(expected, layer.GroupLasso().item<float>(), expected * 1e-5);
    }

    [Fact]
    public void The_bwq_model_programs_the_plane_levels_and_simulates_as_its_integer_model_on_bwq_h()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var graph = QuantFixtures.LeNet();
        var layers = Planes(graph);
        // Prune one block of conv1 and narrow another to 2 bits, as training would.
        var conv1 = layers[0];
        using (no_grad())
        {
            var block = WeightGroupLayout.Create(conv1.Lowering, Ou).GroupIndex.flatten();
            conv1.Planes.index_fill_(1, block.eq(0).nonzero().flatten(), 0);
            conv1.Planes[TensorIndex.Slice(2), TensorIndex.Tensor(block.eq(1).nonzero().flatten())] = tensor(0f);
        }
        conv1.Requantize();
        Assert.Equal(0, conv1.BlockPrecision()[0]);
        Assert.True(conv1.BlockPrecision()[1] <= 2);

        var activations = new QuantizedModel(graph, QuantizationPlan.Uniform(graph, weight: null, QuantizerSpec.IntActivationPerTensor(8, signed: false)));
        PostTrainingQuantization.Calibrate(activations, QuantFixtures.Calibration(128), 128);
        using var model = BwqTraining.FinalModel(graph, layers, activations, new BwqOptions());
        foreach (var (layer, planes) in model.Layers.Zip(layers))
        {
            var integers = layer.Weight!.ToIntegers(model.WeightOf(layer));
            var lowered = planes.Lowering.ToLowered(tensor(planes.Levels()).reshape([.. planes.Lowering.WeightShape])).contiguous().data<int>().ToArray();
            Assert.Equal(lowered, integers.Codes.ToArray());
        }
        activations.Dispose();

        var images = QuantFixtures.Images(5000, 100);
        var ideal = QuantFixtures.Logits(model.CreateExecutor(), images, 100);
        var crossbars = CrossbarModel.Program(model, PresetCatalog.Load("bwq-h"), new SimulationOptions { Path = SimulationPath.Conductance });
        // The 4-bit ADC is exact for 9-row OUs of 1-bit cells: the read-by-read simulation is the integer model.
        Assert.True(QuantFixtures.Logits(crossbars.CreateExecutor(), images, 100).allclose(ideal, rtol: 0, atol: 1e-3 * ideal.abs().max().item<float>()));
        // The pruned block holds no OU; the narrowed one two per bit (G+ and G−).
        var mapping = crossbars.Layers[0].Mapping;
        var precision = conv1.BlockPrecision();
        Assert.Equal(precision.Sum(p => 2 * p), mapping.Blocks.Count);
    }
}
