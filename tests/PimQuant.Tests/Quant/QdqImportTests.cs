using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using PimQuant.Onnx;
using PimQuant.Onnx.Proto;
using PimQuant.Quant.Config;
using PimQuant.Quant.Export;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Tests.Onnx;
using static TorchSharp.torch;
using DataType = PimQuant.Onnx.Proto.TensorProto.Types.DataType;

namespace PimQuant.Tests.Quant;

public class QdqImportTests
{
    [Theory]
    // w4a8.yaml's quantizers: 4-bit narrow per-channel weights stored as int8, so only the metadata says 4 bits.
    [InlineData("version: 1\ndefault: {weight: {bits: 4, narrow_range: true, granularity: channel, observer: mse}, activation: {bits: 8, observer: {kind: percentile, percentile: 99.99}}}", 0)]
    // Affine 6-bit activations (a Clip before QuantizeLinear gives the range), a per-tensor Gemm weight, learned rounding.
    [InlineData("version: 1\ndefault: {weight: {bits: 4, observer: mse, rounding: learned}, activation: {bits: 6, affine: true}}\nop_types: {Gemm: {weight: {granularity: tensor}}}", 40)]
    public void PimQuantsQdqFileReadsBackToTheSameIntegersScalesAndZeroPoints(string yaml, int iterations)
    {
        var (graph, model) = QuantFixtures.QuantizedLeNet(yaml, iterations, calibration: 256);
        using var ownedGraph = graph;
        using var ownedModel = model;
        using var scope = NewDisposeScope();
        using var qdq = QdqExport.Rewrite(model).Graph;
        using var file = OnnxImporter.Import(OnnxExporter.Export(qdq), "q.onnx");
        Assert.True(QdqImport.IsQdq(file));
        var imported = QdqImport.Read(file);
        using var importedGraph = imported.Graph;
        using var read = imported.Model;

        Assert.Empty(imported.Notes);
        Assert.Equal(model.Layers.Select(l => l.Name), read.Layers.Select(l => l.Name));
        foreach (var layer in model.Layers)
        {
            var other = read.Layer(layer.Name)!;
            Assert.Equal(layer.Plan.Weight!.Format, other.Plan.Weight!.Format);
            Assert.Equal(layer.Plan.Weight.Granularity, other.Plan.Weight.Granularity);
            Assert.Equal(layer.Plan.Activation!.Format, other.Plan.Activation!.Format);
            var expected = layer.Weight!.ToIntegers(model.WeightOf(layer));
            var actual = other.Weight!.ToIntegers(read.WeightOf(other));
            Assert.Equal(expected.Codes, actual.Codes);
            Assert.Equal(expected.Scales, actual.Scales);
            Assert.Equal(expected.ZeroPoints, actual.ZeroPoints);
            Assert.Equal(layer.Activation!.Scale().data<float>().ToArray(), other.Activation!.Scale().data<float>().ToArray());
            // An affine quantizer whose zero point came out 0 (after ReLU) reads back as symmetric: the same quantization.
            Assert.Equal(ZeroPoints(layer.Activation), ZeroPoints(other.Activation));
        }
        // The same integer model computes the same logits (the float weights s·(c − z) are the fake-quantized ones).
        var images = QuantFixtures.Images(5000, 500);
        var before = QuantFixtures.Logits(model.CreateExecutor(), images);
        var after = QuantFixtures.Logits(read.CreateExecutor(), images);
        Assert.True((before - after).abs().max().item<float>() <= 1e-5f * before.abs().max().item<float>());
    }

    private static float[] ZeroPoints(PimQuant.Quant.Quantizers.ActivationQuantizer quantizer) =>
        quantizer.ZeroPoint?.data<float>().ToArray() ?? new float[quantizer.Scale().numel()];

    /// <summary>
    /// A QDQ model laid out as ONNX Runtime's quantize_static writes it (QOperator-free QDQ format): uint8 affine
    /// activations with a Q/DQ pair on every tensor, int8 symmetric weights per output channel (axis 0) for the Conv
    /// and per tensor for the Gemm, int32 biases at s_x·s_w, and Q/DQ pairs also after Relu and Flatten.
    /// </summary>
    private static (byte[] Model, sbyte[] ConvCodes, float[] ConvScales) OrtStyleModel()
    {
        var b = new OnnxModelBuilder(opset: 13, seed: 5);
        b.Model.ProducerName = "onnx.quantize";
        var rng = new Random(7);
        sbyte[] Codes(int n) => [.. Enumerable.Range(0, n).Select(_ => (sbyte)rng.Next(-127, 128))];
        string Init(TensorProto t) { b.Graph.Initializer.Add(t); return t.Name; }
        string Scalar(string name, float value) => Init(OnnxModelBuilder.FloatTensor(name, [value], []));
        string U8(string name, byte value) => Init(Raw(name, DataType.Uint8, [value], []));
        string Qdq(string x, string name, float scale, byte zero)
        {
            string s = Scalar($"{name}_scale", scale), z = U8($"{name}_zero_point", zero);
            string q = b.Op("QuantizeLinear", [x, s, z]);
            return b.Op("DequantizeLinear", [q, s, z]);
        }

        const float inputScale = 0.0172f, convOutScale = 0.0213f, reluScale = 0.0109f;
        var x = Qdq(b.Input("input", 1, 8, 8), "input", inputScale, 128);
        var convCodes = Codes(4 * 9);
        float[] convScales = [0.011f, 0.0063f, 0.0157f, 0.0092f];
        string convW = b.Op("DequantizeLinear", [
            Init(Raw("conv.weight_quantized", DataType.Int8, (byte[])(Array)convCodes, [4, 1, 3, 3])),
            Init(OnnxModelBuilder.FloatTensor("conv.weight_scale", convScales, [4])),
            Init(Raw("conv.weight_zero_point", DataType.Int8, new byte[4], [4]))], ("axis", 0L));
        int[] convBias = [412, -97, 35, -600];
        string convB = b.Op("DequantizeLinear", [
            Init(Int32s("conv.bias_quantized", convBias, [4])),
            Init(OnnxModelBuilder.FloatTensor("conv.bias_scale", [.. convScales.Select(s => inputScale * s)], [4])),
            Init(Int32s("conv.bias_zero_point", new int[4], [4]))], ("axis", 0L));
        var conv = b.Op("Conv", [x, convW, convB], ("kernel_shape", new[] { 3L, 3L }), ("pads", new[] { 1L, 1L, 1L, 1L }));
        var relu = Qdq(b.Op("Relu", [Qdq(conv, "conv_out", convOutScale, 119)]), "relu", reluScale, 0);
        var flat = Qdq(b.Op("Flatten", [relu]), "flat", reluScale, 0);
        const float gemmScale = 0.0041f;
        string gemmW = b.Op("DequantizeLinear", [
            Init(Raw("fc.weight_quantized", DataType.Int8, (byte[])(Array)Codes(10 * 256), [10, 256])),
            Scalar("fc.weight_scale", gemmScale), Init(Raw("fc.weight_zero_point", DataType.Int8, [0], []))]);
        string gemmB = b.Op("DequantizeLinear", [
            Init(Int32s("fc.bias_quantized", [.. Enumerable.Range(0, 10).Select(i => (i - 5) * 301)], [10])),
            Scalar("fc.bias_scale", reluScale * gemmScale)]);
        var logits = b.Op("Gemm", [flat, gemmW, gemmB], ("transB", 1L));
        b.Output(logits);
        return (b.Bytes(), convCodes, convScales);
    }

    private static TensorProto Raw(string name, DataType type, byte[] bytes, long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    private static TensorProto Int32s(string name, int[] values, long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Int32 };
        t.Dims.AddRange(dims);
        t.Int32Data.AddRange(values);
        return t;
    }

    [Fact]
    public void AnOnnxRuntimeStyleQdqModelImportsWithItsIntegersAndMatchesOnnxRuntime()
    {
        var (bytes, convCodes, convScales) = OrtStyleModel();
        using var file = OnnxImporter.Import(bytes, "ort-qdq.onnx");
        var imported = QdqImport.Read(file);
        using var importedGraph = imported.Graph;
        using var model = imported.Model;
        using var scope = NewDisposeScope();

        Assert.Equal(2, model.Layers.Count);
        var conv = model.Layers[0];
        Assert.Equal(new IntegerFormat(8, Signed: true), conv.Plan.Weight!.Format);
        Assert.Equal(new IntegerFormat(8, Signed: false), conv.Plan.Activation!.Format);
        Assert.True(conv.Plan.Activation.Affine);
        Assert.Equal(128f, conv.Activation!.ZeroPoint!.item<float>());
        Assert.Equal(0.0172f, conv.Activation.Scale().item<float>());
        var integers = conv.Weight!.ToIntegers(model.WeightOf(conv));
        Assert.Equal(convScales, integers.Scales);
        for (int r = 0; r < integers.Rows; r++)
            for (int c = 0; c < integers.Columns; c++)
                Assert.Equal(convCodes[integers.Lowering.WeightIndex(r, c)], integers.CodeAt(r, c));
        Assert.False(model.Layers[1].Plan.Activation!.Affine); // zero point 0 after ReLU: symmetric unsigned
        Assert.Contains(imported.Notes, n => n.Contains("int8") && n.Contains("storage"));
        // The QDQ pairs that are no layer's input (after the Conv, Relu) stay in the graph.
        Assert.Equal(2, importedGraph.Nodes.Count(n => n.OpType == "QuantizeLinear"));

        var images = randn([64, 1, 8, 8], generator: new Generator(3UL));
        var ours = QuantFixtures.Logits(model.CreateExecutor(), images).data<float>().ToArray();
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(bytes, options);
        using var input = OrtValue.CreateTensorValueFromMemory(images.contiguous().data<float>().ToArray(), [64, 1, 8, 8]);
        using var run = new RunOptions();
        using var outputs = session.Run(run, [session.InputNames[0]], [input], session.OutputNames);
        var theirs = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        // The same float operators on the same integers; only the summation order may differ.
        float largest = theirs.Max(Math.Abs);
        for (int i = 0; i < theirs.Length; i++) Assert.True(Math.Abs(ours[i] - theirs[i]) <= 1e-5f * largest, $"logit {i}: {ours[i]} against ONNX Runtime's {theirs[i]}");
    }
}
