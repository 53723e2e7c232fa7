using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Models;
using PimQuant.Quant.Config;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Observers;
using PimQuant.Quant.Quantizers;

namespace PimQuant.Tests.Quant;

public class ConfigTests
{
    /// <summary>An untrained LeNet-5 (conv1, conv2, gemm1..gemm3), for resolving configs.</summary>
    internal static ModelGraph LeNet()
    {
        Torch.Ensure();
        return ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
    }

    private static QuantConfigException Fails(string yaml, ModelGraph? graph = null)
    {
        var e = Assert.Throws<QuantConfigException>(() =>
        {
            var config = QuantConfigLoader.Parse(yaml, "q.yaml");
            if (graph is not null) config.Resolve(graph);
        });
        Assert.StartsWith("q.yaml: ", e.Message);
        return e;
    }

    [Fact]
    public void FieldsResolveByLayerThenOpTypeThenDefault()
    {
        using var graph = LeNet();
        var plan = QuantConfigLoader.Parse("""
            version: 1
            default:
              weight: {bits: 6, observer: {kind: percentile, percentile: 99.9}}
              activation: {bits: 7}
            op_types:
              Gemm:
                weight: {granularity: tensor, bits: 5}
            layers:
              gemm3:
                weight: {bits: 3, scale: power_of_two}
                activation: none
              conv1: {skip: true}
            """, "q.yaml").Resolve(graph);
        Assert.Equal(["conv1", "conv2", "gemm1", "gemm2", "gemm3"], plan.Layers.Select(l => l.Layer.Name));
        Assert.True(plan["conv1"]!.Skipped);
        var conv2 = plan["conv2"]!;
        Assert.Equal(new IntegerFormat(6, true, NarrowRange: true), conv2.Weight!.Format);
        Assert.Equal(ScaleGranularity.Channel, conv2.Weight.Granularity);
        Assert.Equal(new ObserverSpec.Percentile(99.9), conv2.Weight.Observer);
        // conv2 reads a max-pooled ReLU output: unsigned; the default activation keeps its built-in per-tensor min/max.
        Assert.Equal(new IntegerFormat(7, false), conv2.Activation!.Format);
        Assert.Equal(ObserverSpec.MinMaxObserver, conv2.Activation.Observer);
        var gemm1 = plan["gemm1"]!;
        Assert.Equal(5, gemm1.Weight!.Format.Bits);
        Assert.Equal(ScaleGranularity.Tensor, gemm1.Weight.Granularity);
        Assert.Equal(new ObserverSpec.Percentile(99.9), gemm1.Weight.Observer);
        var gemm3 = plan["gemm3"]!;
        Assert.Equal(3, gemm3.Weight!.Format.Bits);
        Assert.Equal(new ScaleRestriction.PowerOfTwo(), gemm3.Weight.Scale);
        Assert.Null(gemm3.Activation);
    }

    [Fact]
    public void InputsAfterSigmoidsSlicesPadsAndReductionsOfNonNegativeValuesAreNonNegative()
    {
        // ShuffleNet's channel split (a Slice), DenseNet's zero Pad, a ReduceMean head, a squeeze-excite gate.
        var b = new PimQuant.Tests.Onnx.OnnxModelBuilder(13, seed: 3);
        var relu = b.Op("Relu", [b.Conv(b.Input("input", 2, 6, 6), "c0", 2, 4, 3, pad: 1)]);
        var half = b.Op("Slice", [relu, b.Int64s("s", [0], 1), b.Int64s("e", [2], 1), b.Int64s("a", [1], 1)]);
        var padded = b.Op("Pad", [half, b.Int64s("p", [0, 0, 1, 1, 0, 0, 1, 1], 8)]);
        var c1 = b.Conv(padded, "c1", 2, 4, 3);
        var gate = b.Op("Sigmoid", [c1]);
        var c2 = b.Conv(gate, "c2", 4, 4, 1);
        var negativePad = b.Op("Pad", [relu, b.Int64s("p2", [0, 0, 1, 1, 0, 0, 1, 1], 8), b.Constant(PimQuant.Tests.Onnx.OnnxModelBuilder.FloatTensor("", [-1f], []))]);
        var c3 = b.Conv(negativePad, "c3", 4, 4, 3);
        var pooled = b.Op("ReduceMean", [b.Op("Add", [b.Op("Relu", [c2]), b.Op("Relu", [c3])])], ("axes", new[] { 2L, 3 }), ("keepdims", 0L));
        b.Output(b.Linear(pooled, "fc", 4, 3));
        using var graph = PimQuant.Onnx.OnnxImporter.Import(b.Bytes(), "nonneg");
        var canBeNegative = QuantizableLayer.Find(graph).ToDictionary(l => l.WeightName, l => l.InputCanBeNegative);
        Assert.Equal([true, false, false, true, false], new[] { "c0.weight", "c1.weight", "c2.weight", "c3.weight", "fc.weight" }.Select(w => canBeNegative[w]));
    }

    [Fact]
    public void ActivationSignIsAutomaticUnlessGiven()
    {
        using var graph = LeNet();
        var auto = QuantConfigLoader.Parse("version: 1", "q.yaml").Resolve(graph);
        Assert.True(auto["conv1"]!.Activation!.Format.Signed);   // the normalised image can be negative
        Assert.False(auto["gemm1"]!.Activation!.Format.Signed);    // after ReLU, pooling and flattening
        var forced = QuantConfigLoader.Parse("version: 1\ndefault: {activation: {signed: true}}", "q.yaml").Resolve(graph);
        Assert.True(forced["gemm1"]!.Activation!.Format.Signed);
    }

    [Fact]
    public void FormatsAndTheirParametersResolve()
    {
        using var graph = LeNet();
        var plan = QuantConfigLoader.Parse("""
            version: 1
            layers:
              conv2: {weight: {format: apot, bits: 5, terms: 2, granularity: {kind: ou, rows: 9, cols: 8}}}
              gemm1: {weight: {format: float, exponent_bits: 4, mantissa_bits: 3, granularity: {kind: array, rows: 128, cols: 128}}}
              gemm2: {weight: {format: pot, bits: 4}, activation: {granularity: {kind: dynamic, group_size: 64}, scale: {restriction: power_of_two, rounding: nearest}}}
              gemm3: {activation: {affine: true, observer: mse, signed: false}}
            """, "q.yaml").Resolve(graph);
        Assert.Equal(new AdditivePowerOfTwoFormat(5, true, 2), plan["conv2"]!.Weight!.Format);
        Assert.Equal(new ScaleGranularity.PerOuBlock(9, 8), plan["conv2"]!.Weight!.Granularity);
        Assert.Equal(new FloatFormat(4, 3, true), plan["gemm1"]!.Weight!.Format);
        Assert.Equal(new PowerOfTwoFormat(4, true), plan["gemm2"]!.Weight!.Format);
        Assert.Equal(new ScaleGranularity.DynamicGroup(64), plan["gemm2"]!.Activation!.Granularity);
        Assert.Equal(new ScaleRestriction.PowerOfTwo(RoundUp: false), plan["gemm2"]!.Activation!.Scale);
        Assert.True(plan["gemm3"]!.Activation!.Affine);
        Assert.Equal(new ObserverSpec.Mse(100), plan["gemm3"]!.Activation!.Observer);
    }

    [Fact]
    public void ExampleConfigsLoadAndResolveForTheZoo()
    {
        Torch.Ensure();
        var files = Directory.GetFiles(Path.Combine(TestPaths.Root, "configs"), "*.yaml");
        Assert.NotEmpty(files);
        foreach (var name in new[] { "lenet5", "resnet20", "vgg8" })
        {
            using var graph = ModelZoo.Build(name, new ModelInput(1, 28), seed: 1);
            BatchNormFolding.Run(graph);
            foreach (var file in files)
            {
                var plan = QuantConfigLoader.LoadFile(file).Resolve(graph);
                Assert.Contains(plan.Layers, l => !l.Skipped);
            }
        }
    }

    [Theory]
    [InlineData("version: 1\nlayers:\n  conv2:\n    weight:\n      bits: 17", "layers.conv2.weight.bits: 17 is not allowed (1..16) (line 5)")]
    [InlineData("version: 1\ndefault: {weight: {bitz: 4}}", "default.weight.bitz: unknown key 'bitz'")]
    [InlineData("version: 2", "version: 2 is not allowed (this PimQuant reads version 1)")]
    [InlineData("default: {}", "'version: 1' is missing")]
    [InlineData("version: 1\nop_types: {Relu: {skip: true}}", "op_types.Relu: 'Relu' is not allowed (Conv, Gemm, MatMul)")]
    [InlineData("version: 1\ndefault: {weight: {granularity: ou}}", "default.weight.granularity: 'ou' needs its tile size")]
    [InlineData("version: 1\ndefault: {activation: {observer: {kind: percentile, percentile: 120}}}", "default.activation.observer.percentile: 120 is not allowed (50..100)")]
    [InlineData("version: 1\ndefault: {weight: {signed: auto}}", "default.weight.signed: 'auto' is not allowed (true, false)")]
    [InlineData("version: 1\ndefault: {weight: {rounding: up}}", "default.weight.rounding: 'up' is not allowed (nearest, stochastic, learned)")]
    [InlineData("version: 1\ndefault: [1, 2]", "default: expected a mapping")]
    [InlineData("version: 1\ndefault: {weight: {bits: four}}", "default.weight.bits: 'four' is not an integer")]
    [InlineData("version: 1\n  bad: indentation", "not valid YAML")]
    public void LoadErrorsNameThePathTheValueAndWhatIsAllowed(string yaml, string expected)
    {
        var e = Fails(yaml);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("version: 1\nlayers: {conv9: {skip: true}}", "layers.conv9: the model has no quantizable layer 'conv9' (its Conv/Gemm/MatMul layers: conv1, conv2, gemm1, gemm2, gemm3)")]
    [InlineData("version: 1\nlayers: {gemm1: {activation: {rounding: learned}}}", "layers.gemm1.activation.rounding: learned rounding applies to weights only")]
    [InlineData("version: 1\nlayers: {gemm1: {weight: {granularity: {kind: dynamic, group_size: 8}}}}", "layers.gemm1.weight.granularity: dynamic groups apply to activations only")]
    [InlineData("version: 1\nlayers: {conv1: {activation: {learn: pact}}}", "layers.conv1.activation.learn: PACT clips to [0, β]; it needs an unsigned format, not int8 (layer conv1)")]
    [InlineData("version: 1\ndefault: {weight: {format: apot, bits: 4}}", "default.weight.bits: 2 does not divide the 3 magnitude bits (allowed: 1, 3)")]
    [InlineData("version: 1\nlayers: {gemm2: {weight: {format: float, bits: 8, exponent_bits: 3, mantissa_bits: 2}}}", "layers.gemm2.weight.bits: 8 does not match 1 sign + 3 exponent + 2 mantissa bits = 6")]
    [InlineData("version: 1\nlayers: {gemm2: {weight: {format: pot, narrow_range: true}}}", "layers.gemm2.weight.narrow_range: narrow_range does not apply to format pot")]
    [InlineData("version: 1\ndefault: {weight: {format: pot, bits: 12}}", "default.weight.bits: 12 is not allowed for signed power-of-two (2..8)")]
    [InlineData("version: 1\ndefault: {weight: {format: float, affine: true}}", "default.weight.affine: a zero point needs an integer format")]
    public void ResolveErrorsNameThePathAndTheLayer(string yaml, string expected)
    {
        using var graph = LeNet();
        var e = Fails(yaml, graph);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void InheritedFieldsThatDoNotApplyToAMoreSpecificFormatAreIgnored()
    {
        using var graph = LeNet();
        // The default's narrow_range belongs to its integer format; a layer switching to pot does not inherit the conflict.
        var plan = QuantConfigLoader.Parse("version: 1\ndefault: {weight: {narrow_range: true}}\nlayers: {gemm2: {weight: {format: pot, bits: 5}}}", "q.yaml").Resolve(graph);
        Assert.Equal(new PowerOfTwoFormat(5, true), plan["gemm2"]!.Weight!.Format);
    }

    [Fact]
    public void CapabilitiesReportEveryMismatchWithLayerAndReason()
    {
        using var graph = LeNet();
        var plan = QuantConfigLoader.Parse("""
            version: 1
            default: {weight: {bits: 8}, activation: {bits: 8}}
            layers:
              conv2: {weight: {granularity: {kind: array, rows: 64, cols: 64}}}
              gemm1: {weight: {format: pot, bits: 4}}
            """, "q.yaml").Resolve(graph);
        var hardware = new QuantCapabilities
        {
            Name = "test-xbar",
            MaxWeightBits = 4,
            SignedActivations = false,
            WeightGranularities = new HashSet<string> { "channel", "array" },
            Array = (128, 128),
        };
        var mismatches = hardware.Check(plan).Select(m => m.ToString()).ToList();
        Assert.Contains("layer conv1, weight: 8-bit weights exceed the 4 bits test-xbar stores", mismatches);
        Assert.Contains("layer conv1, activation: signed activations (int8): test-xbar streams unsigned inputs only", mismatches);
        Assert.Contains("layer conv2, weight: array tiles of 64x64 do not fit test-xbar's 128x128 crossbars (rows equal to an array's, at most 128 columns)", mismatches);
        Assert.Contains("layer gemm1, weight: pot4 weights: test-xbar maps int weights only", mismatches);
        Assert.DoesNotContain(mismatches, m => m.StartsWith("layer gemm2, activation"));
        Assert.Empty(new QuantCapabilities { MaxWeightBits = 8, WeightFormats = new HashSet<FormatKind> { FormatKind.Integer, FormatKind.PowerOfTwo }, WeightGranularities = new HashSet<string> { "channel", "array" }, Array = (64, 64) }.Check(plan));
    }
}
