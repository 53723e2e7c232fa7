using PimQuant.Engine.Graph;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Quantizers;

namespace PimQuant.Quant.Config;

/// <summary>
/// A layer that quantization can act on: a Conv, a Gemm (transA = 0) or a rank-2 MatMul whose
/// weight is a tensor of the graph.
/// </summary>
/// <param name="Name">The node's name.</param>
/// <param name="OpType">Conv, Gemm or MatMul.</param>
/// <param name="WeightName">The weight tensor's name.</param>
/// <param name="Orientation">How the weight is laid out.</param>
/// <param name="ConvolutionGroups">Convolution groups (1 for linear layers).</param>
/// <param name="InputCanBeNegative">False when the input is provably non-negative (after ReLU or a sigmoid, or
/// pooling, reshaping, slicing, padding, concatenating or adding values that are), which makes an unsigned activation format lossless at 0.</param>
public sealed record QuantizableLayer(string Name, string OpType, string WeightName, WeightOrientation Orientation, int ConvolutionGroups, bool InputCanBeNegative)
{
    /// <summary>The lowering of this layer's weight in <paramref name="graph"/>.</summary>
    public WeightLowering Lowering(ModelGraph graph) =>
        new([.. graph.Initializers[WeightName].Value.shape], Orientation, ConvolutionGroups);

    /// <summary>The quantizable layers of <paramref name="graph"/>, in graph order.</summary>
    public static IReadOnlyList<QuantizableLayer> Find(ModelGraph graph)
    {
        var nonNegative = NonNegativeValues(graph);
        var layers = new List<QuantizableLayer>();
        foreach (var node in graph.Nodes)
        {
            string? weight = node.InputAt(1);
            if (weight is null || !graph.Initializers.TryGetValue(weight, out var init) || !init.Value.is_floating_point()) continue;
            bool negative = !nonNegative.Contains(node.Inputs[0]);
            switch (node.OpType)
            {
                case "Conv" when init.Value.dim() == 4:
                    layers.Add(new(node.Name, node.OpType, weight, WeightOrientation.OutputFirst, (int)node.GetInt("group", 1), negative));
                    break;
                case "Gemm" when node.GetInt("transA", 0) == 0 && init.Value.dim() == 2:
                    var orientation = node.GetInt("transB", 0) != 0 ? WeightOrientation.OutputFirst : WeightOrientation.InputFirst;
                    layers.Add(new(node.Name, node.OpType, weight, orientation, 1, negative));
                    break;
                case "MatMul" when init.Value.dim() == 2:
                    layers.Add(new(node.Name, node.OpType, weight, WeightOrientation.InputFirst, 1, negative));
                    break;
            }
        }
        return layers;
    }

    /// <summary>Values that are provably ≥ 0, by forward propagation over the operators that keep the sign.</summary>
    private static HashSet<string> NonNegativeValues(ModelGraph graph)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        bool Known(string v) => result.Contains(v);
        foreach (var node in graph.Nodes)
        {
            bool nonNegative = node.OpType switch
            {
                "Relu" or "Sigmoid" or "HardSigmoid" => true,
                "Clip" => ClipMinimum(graph, node) >= 0,
                "MaxPool" or "AveragePool" or "GlobalAveragePool" or "Flatten" or "Reshape" or "Identity" or "Dropout" or "Transpose" or "Squeeze" or "Unsqueeze"
                    or "Slice" or "Gather" or "Expand" or "Resize" or "ReduceMean" or "ReduceMax" or "ReduceSum"
                    => Known(node.Inputs[0]),
                // Reflect and edge pads copy input values; a constant pad adds its value (0 when omitted).
                "Pad" => Known(node.Inputs[0]) && (node.GetString("mode", "constant") != "constant" || node.InputAt(2) is not { } value || IsNonNegativeConstant(graph, value)),
                "Add" or "Concat" or "Mul" => node.Inputs.Where(i => i.Length > 0).All(i => Known(i) || IsNonNegativeConstant(graph, i)),
                _ => false,
            };
            if (nonNegative) result.Add(node.Output);
        }
        return result;
    }

    private static double ClipMinimum(ModelGraph graph, Node node)
    {
        if (node.InputAt(1) is { } lo) return graph.Initializers.TryGetValue(lo, out var t) ? t.Value.item<float>() : double.NegativeInfinity;
        return node.Attributes.ContainsKey("min") ? node.GetFloat("min", 0) : double.NegativeInfinity;
    }

    private static bool IsNonNegativeConstant(ModelGraph graph, string name) =>
        graph.Initializers.TryGetValue(name, out var t) && t.Value.is_floating_point() && t.Value.min().item<float>() >= 0;
}

/// <summary>
/// How one layer is quantized: its weight and input-activation quantizers, either of which may be
/// null (left in float32). A layer with neither is skipped.
/// </summary>
/// <param name="Layer">The layer.</param>
/// <param name="Weight">The weight quantizer, or null.</param>
/// <param name="Activation">The input-activation quantizer, or null.</param>
public sealed record LayerPlan(QuantizableLayer Layer, QuantizerSpec? Weight, QuantizerSpec? Activation)
{
    /// <summary>Whether the layer stays entirely in float32.</summary>
    public bool Skipped => Weight is null && Activation is null;
}

/// <summary>The resolved quantization of every quantizable layer of a graph (skipped ones included).</summary>
public sealed record QuantizationPlan(IReadOnlyList<LayerPlan> Layers)
{
    /// <summary>The plan of layer <paramref name="name"/>, or null.</summary>
    public LayerPlan? this[string name] => Layers.FirstOrDefault(l => l.Layer.Name == name);

    /// <summary>
    /// The same quantizers for every quantizable layer; the activation format's sign follows each
    /// layer's input (unsigned after ReLU) when <paramref name="activationSignFromGraph"/>.
    /// </summary>
    public static QuantizationPlan Uniform(ModelGraph graph, QuantizerSpec? weight, QuantizerSpec? activation, bool activationSignFromGraph = true) =>
        new(QuantizableLayer.Find(graph).Select(l => new LayerPlan(l, weight,
            activation is null || !activationSignFromGraph ? activation : activation with { Format = WithSign(activation.Format, l.InputCanBeNegative) })).ToList());

    /// <summary><paramref name="format"/> with its sign set to <paramref name="signed"/>.</summary>
    public static Formats.NumberFormat WithSign(Formats.NumberFormat format, bool signed) => format switch
    {
        Formats.IntegerFormat i => new Formats.IntegerFormat(i.Bits, signed, i.NarrowRange),
        Formats.PowerOfTwoFormat p => new Formats.PowerOfTwoFormat(p.Bits, signed),
        Formats.AdditivePowerOfTwoFormat a => new Formats.AdditivePowerOfTwoFormat(a.Bits, signed, a.AdditiveTerms),
        Formats.FloatFormat f => new Formats.FloatFormat(f.ExponentBits, f.MantissaBits, signed, f.Bias),
        _ => throw new ArgumentException($"unknown format {format.Name}", nameof(format)),
    };
}
