using PimQuant.Onnx;
using Xunit;

namespace PimQuant.Tests.Onnx;

/// <summary>
/// The operators PyTorch's exporter writes for torchvision's CNNs beyond ResNet (MobileNetV3, EfficientNet,
/// DenseNet, ShuffleNet), each in a tiny graph checked against ONNX Runtime, in the forms of old and new
/// opsets; then exported by PimQuant and checked again, so the export writes each opset's form.
/// </summary>
public class OnnxOperatorTests
{
    private static void ImportExportAndCompare(OnnxModelBuilder b, long[] sampleShape, string what)
    {
        var bytes = b.Bytes();
        var input = OnnxParity.Input(sampleShape);
        var expected = OnnxParity.RunOrt(bytes, input);
        using var graph = OnnxImporter.Import(bytes, what);
        OnnxParity.AssertClose(expected, OnnxParity.RunPimQuant(graph, input), what);
        OnnxParity.AssertClose(expected, OnnxParity.RunOrt(OnnxExporter.Export(graph), input), $"{what} exported");
    }

    private static string Ints(OnnxModelBuilder b, string name, params long[] values) => b.Int64s(name, values, values.Length);

    /// <summary>
    /// Sigmoid, SiLU (x·sigmoid(x)), a squeeze-excite gate (GlobalAveragePool → 1×1 convs → HardSigmoid → Mul),
    /// HardSwish (HardSigmoid · x before opset 14, as PyTorch writes it), Tanh, LeakyRelu and PRelu.
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(17)]
    public void ActivationsAndGates(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 21);
        var x = b.Conv(b.Input("input", 4, 6, 6), "conv", 4, 8, 3, pad: 1);
        var silu = b.Op("Mul", [x, b.Op("Sigmoid", [x])]);
        var squeezed = b.Op("Relu", [b.Conv(b.Op("GlobalAveragePool", [silu]), "se1", 8, 4, 1)]);
        var gate = b.Op("HardSigmoid", [b.Conv(squeezed, "se2", 4, 8, 1)], ("alpha", 1f / 6), ("beta", 0.5f));
        var y = b.Op("Mul", [silu, gate]);
        y = opset >= 14 ? b.Op("HardSwish", [y]) : b.Op("Mul", [y, b.Op("HardSigmoid", [y], ("alpha", 1f / 6), ("beta", 0.5f))]);
        y = b.Op("Tanh", [b.Conv(y, "conv2", 8, 8, 3, pad: 1)]);
        y = b.Op("LeakyRelu", [y], ("alpha", 0.1f));
        b.Output(b.Op("PRelu", [b.Conv(y, "conv3", 8, 6, 1), b.Weight("prelu.slope", [6, 1, 1], 0.5f, positive: true)]));
        ImportExportAndCompare(b, [4, 6, 6], $"activations-{opset}");
    }

    /// <summary>ReduceMean, ReduceMax and ReduceSum, axes as attributes or inputs as each opset has them, with and without keepdims.</summary>
    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    [InlineData(18)]
    public void Reductions(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 22);
        var x = b.Conv(b.Input("input", 3, 5, 7), "conv", 3, 6, 3);
        string Reduce(string op, long[] axes, long keep, int inputsSince) => opset >= inputsSince
            ? b.Op(op, [x, Ints(b, $"{op}.axes", axes)], ("keepdims", keep))
            : b.Op(op, [x], ("axes", axes), ("keepdims", keep));
        var mean = b.Op("Flatten", [Reduce("ReduceMean", [2, 3], 1, 18)], ("axis", 1L));
        var max = Reduce("ReduceMax", [-1, -2], 0, 18);
        var sum = b.Op("Mul", [Reduce("ReduceSum", [2, 3], 0, 13), b.Weight("scale", [1], 0.05f, positive: true)]);
        b.Output(b.Op("Concat", [mean, max, sum], ("axis", 1L)));
        ImportExportAndCompare(b, [3, 5, 7], $"reduce-{opset}");
    }

    /// <summary>
    /// The all-zero Pad PyTorch writes before AvgPool2d(count_include_pad=True), a constant pad with a value
    /// and asymmetric amounts, an edge and a reflect pad, and (opset 18) a pad over named axes.
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(18)]
    public void Pads(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 23);
        var x = b.Conv(b.Input("input", 2, 6, 6), "conv", 2, 4, 3, pad: 1);
        var zero = b.Op("Pad", [x, Ints(b, "zero.pads", 0, 0, 0, 0, 0, 0, 0, 0), b.Constant(OnnxModelBuilder.FloatTensor("", [0f], []))], ("mode", "constant"));
        var pooled = b.Op("AveragePool", [zero], ("ceil_mode", 0L), ("count_include_pad", 1L), ("kernel_shape", new[] { 2L, 2 }), ("pads", new[] { 0L, 0, 0, 0 }), ("strides", new[] { 2L, 2 }));
        var constant = b.Op("Pad", [pooled, Ints(b, "c.pads", 0, 0, 1, 0, 0, 0, 2, 1), b.Constant(OnnxModelBuilder.FloatTensor("", [0.5f], []))]);
        var edge = b.Op("Pad", [constant, Ints(b, "e.pads", 0, 0, 1, 1, 0, 0, 1, 1)], ("mode", "edge"));
        var reflect = b.Op("Pad", [edge, Ints(b, "r.pads", 0, 0, 2, 1, 0, 0, 0, 2)], ("mode", "reflect"));
        var last = opset >= 18
            ? b.Op("Pad", [reflect, Ints(b, "a.pads", 1, 2), "", Ints(b, "a.axes", -1)])
            : reflect;
        b.Output(last);
        ImportExportAndCompare(b, [2, 6, 6], $"pad-{opset}");
    }

    /// <summary>
    /// ShuffleNet's channel split as Slice and as Split (sizes as attribute before opset 13, as input from 13,
    /// by the number of outputs, and opset 18's num_outputs with an uneven last part); Slice with negative and
    /// out-of-range bounds, a step of 2 and a negative step.
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    [InlineData(18)]
    public void SlicesAndSplits(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 24);
        var x = b.Conv(b.Input("input", 3, 6, 6), "conv", 3, 10, 3, pad: 1);
        var left = b.Op("Slice", [x, Ints(b, "l.starts", 0), Ints(b, "l.ends", 4), Ints(b, "l.axes", 1)]);
        var right = b.Op("Slice", [x, Ints(b, "r.starts", -6), Ints(b, "r.ends", long.MaxValue), Ints(b, "r.axes", 1), Ints(b, "r.steps", 1)]);
        var strided = b.Op("Slice", [right, Ints(b, "s.starts", 1, 100), Ints(b, "s.ends", 6, -100), Ints(b, "s.axes", 2, 3), Ints(b, "s.steps", 2, -1)]);
        string[] parts = ["/Split_a", "/Split_b", "/Split_c"];
        if (opset < 13) b.Add("Split", [left], parts, "/Split", ("axis", 1L), ("split", new[] { 1L, 2, 1 }));
        else b.Add("Split", [left, Ints(b, "split.sizes", 1, 2, 1)], parts, "/Split", ("axis", 1L));
        string[] halves = ["/Halves_a", "/Halves_b"];
        // Before opset 18 the parts must be equal: the 6 columns; from 18 the 3 rows split 2 + 1.
        if (opset < 18) b.Add("Split", [strided], halves, "/Halves", ("axis", -1L));
        else b.Add("Split", [strided], halves, "/Halves", ("axis", 2L), ("num_outputs", 2L));
        var shuffled = b.Op("Concat", [parts[2], parts[0], parts[1]], ("axis", 1L));
        b.Output(shuffled);
        b.Output(b.Op("Mul", [halves[0], b.Op("Slice", [halves[1], Ints(b, "h.starts", 0), Ints(b, "h.ends", 1), Ints(b, "h.axes", 3)])]));
        ImportExportAndCompare(b, [3, 6, 6], $"slice-{opset}");
    }

    /// <summary>Resize nearest as PyTorch writes F.interpolate (scales, asymmetric, floor) and with sizes and ONNX's defaults.</summary>
    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    [InlineData(18)]
    public void NearestResize(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 25);
        var x = b.Conv(b.Input("input", 2, 5, 4), "conv", 2, 3, 3, pad: 1);
        var roi = b.Constant(OnnxModelBuilder.FloatTensor("", [], [0]));
        var scales = b.Constant(OnnxModelBuilder.FloatTensor("", [1f, 1f, 2f, 3f], [4]));
        var torchStyle = b.Op("Resize", [x, roi, scales], ("coordinate_transformation_mode", "asymmetric"), ("mode", "nearest"), ("nearest_mode", "floor"));
        var noScales = b.Constant(OnnxModelBuilder.FloatTensor("", [], [0]));
        // A batch-following sizes input, as PyTorch writes for a dynamic batch: [N, C] from Shape, then constants.
        var nc = b.Op("Slice", [b.Op("Shape", [torchStyle]), Ints(b, "nc.starts", 0), Ints(b, "nc.ends", 2), Ints(b, "nc.axes", 0)]);
        var sizes = b.Op("Concat", [nc, Ints(b, "hw", 7, 5)], ("axis", 0L));
        b.Output(b.Op("Resize", [torchStyle, roi, noScales, sizes], ("mode", "nearest")));
        ImportExportAndCompare(b, [2, 5, 4], $"resize-{opset}");
    }

    /// <summary>
    /// A ConvNeXt block as PyTorch writes it: channels-last LayerNorm (LayerNormalization from opset 17, spelled out
    /// with ReduceMean, Sub, Pow, Sqrt and Div before), pointwise linear layers as MatMul on rank-4 values, exact
    /// GELU through Erf; and a LayerNormalization over two axes whose scale broadcasts.
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(17)]
    public void LayerNormAndGelu(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 27);
        var x = b.Op("Transpose", [b.Conv(b.Input("input", 3, 4, 4), "dw", 3, 6, 3, pad: 1)], ("perm", new[] { 0L, 2, 3, 1 }));
        string norm;
        if (opset >= 17)
            norm = b.Op("LayerNormalization", [x, b.Weight("ln.weight", [6], 0.5f, positive: true), b.Weight("ln.bias", [6], 0.2f)], ("axis", -1L), ("epsilon", 1e-6f));
        else
        {
            var centred = b.Op("Sub", [x, b.Op("ReduceMean", [x], ("axes", new[] { -1L }), ("keepdims", 1L))]);
            var variance = b.Op("ReduceMean", [b.Op("Pow", [centred, b.Constant(OnnxModelBuilder.FloatTensor("", [2f], []))])], ("axes", new[] { -1L }), ("keepdims", 1L));
            var std = b.Op("Sqrt", [b.Op("Add", [variance, b.Constant(OnnxModelBuilder.FloatTensor("", [1e-6f], []))])]);
            norm = b.Op("Add", [b.Op("Mul", [b.Op("Div", [centred, std]), b.Weight("ln.weight", [6], 0.5f, positive: true)]), b.Weight("ln.bias", [6], 0.2f)]);
        }
        var h = b.Op("Add", [b.Op("MatMul", [norm, b.Weight("pw1.weight_t", [6, 12])]), b.Weight("pw1.bias", [12], 0.1f)]);
        var erf = b.Op("Erf", [b.Op("Div", [h, b.Constant(OnnxModelBuilder.FloatTensor("", [MathF.Sqrt(2)], []))])]);
        var gelu = b.Op("Mul", [b.Op("Mul", [h, b.Op("Add", [erf, b.Constant(OnnxModelBuilder.FloatTensor("", [1f], []))])]), b.Constant(OnnxModelBuilder.FloatTensor("", [0.5f], []))]);
        var y = b.Op("Add", [b.Op("MatMul", [gelu, b.Weight("pw2.weight_t", [12, 6])]), b.Weight("pw2.bias", [6], 0.1f)]);
        if (opset >= 17)
            y = b.Op("LayerNormalization", [y, b.Weight("ln2.weight", [1, 6], 0.5f, positive: true)], ("axis", -2L));
        b.Output(b.Op("Flatten", [b.Op("Transpose", [y], ("perm", new[] { 0L, 3, 1, 2 }))], ("axis", 1L)));
        ImportExportAndCompare(b, [3, 4, 4], $"layernorm-{opset}");
    }

    /// <summary>Expand of a constant to the activation's shape and of an activation by ones; Gather on constant indices.</summary>
    [Theory]
    [InlineData(11)]
    [InlineData(17)]
    public void ExpandAndGather(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 26);
        var x = b.Conv(b.Input("input", 2, 4, 4), "conv", 2, 5, 3, pad: 1);
        var bias = b.Op("Expand", [b.Weight("bias", [5, 1, 1], 0.5f), Ints(b, "bias.shape", 1, 5, 4, 4)]);
        var y = b.Op("Add", [b.Op("Expand", [x, Ints(b, "ones", 1, 1, 1)]), bias]);
        b.Output(b.Op("Gather", [y, Ints(b, "picked", 4, 0, -1)], ("axis", 1L)));
        ImportExportAndCompare(b, [2, 4, 4], $"expand-{opset}");
    }
}
