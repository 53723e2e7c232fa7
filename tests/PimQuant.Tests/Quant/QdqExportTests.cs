using Microsoft.ML.OnnxRuntime;
using PimQuant.Engine.Execution;
using PimQuant.Quant.Config;
using PimQuant.Quant.Export;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Onnx;
using static TorchSharp.torch;

namespace PimQuant.Tests.Quant;

public class QdqExportTests
{
    private const int EvalStart = 5000, EvalCount = 5000;

    /// <summary>ONNX Runtime's logits; <paramref name="optimized"/> lets its graph optimiser fuse QDQ patterns into integer kernels, as users run it.</summary>
    private static float[] OrtLogits(byte[] model, float[] images, int count, bool optimized = true)
    {
        using var options = new SessionOptions
        {
            IntraOpNumThreads = 2, InterOpNumThreads = 1,
            GraphOptimizationLevel = optimized ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_DISABLE_ALL,
        };
        using var session = new InferenceSession(model, options);
        var logits = new List<float>();
        const int batch = 500;
        for (int start = 0; start < count; start += batch)
        {
            int n = Math.Min(batch, count - start);
            using var input = OrtValue.CreateTensorValueFromMemory(images.AsSpan(start * 784, n * 784).ToArray(), [n, 1, 28, 28]);
            using var run = new RunOptions();
            using var outputs = session.Run(run, [session.InputNames[0]], [input], session.OutputNames);
            logits.AddRange(outputs[0].GetTensorDataAsSpan<float>().ToArray());
        }
        return [.. logits];
    }

    private static double Accuracy(float[] logits, long[] labels)
    {
        int correct = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            var row = logits.AsSpan(i * 10, 10);
            int best = 0;
            for (int k = 1; k < 10; k++) if (row[k] > row[best]) best = k;
            if (best == labels[i]) correct++;
        }
        return (double)correct / labels.Length;
    }

    [Theory]
    [InlineData("version: 1\ndefault: {weight: {bits: 8}, activation: {bits: 8, observer: {kind: percentile, percentile: 99.99}}}", 0)]
    [InlineData("version: 1\ndefault: {weight: {bits: 4, observer: mse}, activation: {bits: 4, observer: mse}}\nop_types: {Gemm: {weight: {granularity: tensor}}}", 0)]
    [InlineData("version: 1\ndefault: {weight: {bits: 4, observer: mse, rounding: learned}, activation: {bits: 6, affine: true}}", 60)]
    public void OnnxRuntimeRunningTheQdqModelMatchesFakeQuantizedAccuracy(string yaml, int iterations)
    {
        var (graph, model) = QuantFixtures.QuantizedLeNet(yaml, iterations, calibration: 512);
        using var ownedGraph = graph;
        using var ownedModel = model;
        using var scope = NewDisposeScope();
        var images = QuantFixtures.Images(EvalStart, EvalCount);
        var labels = QuantFixtures.Labels(EvalStart, EvalCount);
        var fake = QuantFixtures.Logits(model.CreateExecutor(), images);
        double fakeAccuracy = QuantFixtures.Accuracy(fake, labels);

        using var qdq = QdqExport.Rewrite(model).Graph;
        Assert.Contains(qdq.Nodes, n => n.OpType == "QuantizeLinear");
        Assert.Contains(qdq.Initializers.Values, i => i.Value.dtype == ScalarType.Int8);
        // PimQuant runs the QDQ graph itself and computes exactly what fake quantization computes.
        var own = QuantFixtures.Logits(new GraphExecutor(qdq), images);
        Assert.True((own - fake).abs().max().item<float>() <= 1e-4f * fake.abs().max().item<float>());

        Assert.True(fakeAccuracy > 0.6, $"fake-quantized accuracy {fakeAccuracy:P2}");
        byte[] file = OnnxExporter.Export(qdq);
        float[] pixels = images.contiguous().data<float>().ToArray();
        // The file's own operators (QuantizeLinear, DequantizeLinear, float Conv/Gemm) give PimQuant's accuracy.
        double literal = Accuracy(OrtLogits(file, pixels, EvalCount, optimized: false), labels);
        Assert.True(Math.Abs(literal - fakeAccuracy) <= 0.0005, $"ONNX Runtime (unoptimised) {literal:P3}, PimQuant {fakeAccuracy:P3}");
        // Its optimiser runs fused integer kernels (QLinearConv) that requantize with their own rounding of ties:
        // at 4-bit activations a few predictions of 5,000 change (measured: 4, W4A4 with bias correction).
        double fused = Accuracy(OrtLogits(file, pixels, EvalCount), labels);
        Assert.True(Math.Abs(fused - fakeAccuracy) <= 0.001, $"ONNX Runtime {fused:P3}, PimQuant {fakeAccuracy:P3}");
    }

    /// <summary>
    /// A precision map of integer groups (conv2: bits per 9 × 8 OU block, some pruned, with channel
    /// scales; gemm1: bits per output channel) has no ONNX type of its own: the int8 container holds
    /// every group's codes, DequantizeLinear gives the fake-quantized weights bit for bit, and ONNX
    /// Runtime running the file gives PimQuant's accuracy.
    /// </summary>
    [Fact]
    public void APrecisionMapOfIntegerGroupsRoundTripsExactlyThroughInt8Qdq()
    {
        using var graph = QuantFixtures.LeNet();
        using var scope = NewDisposeScope();
        string conv2 = string.Join(", ", Enumerable.Range(0, 34).Select(i => i % 17 == 16 ? 0 : 5 + i % 4));
        string gemm1 = string.Join(", ", Enumerable.Range(0, 120).Select(i => 4 + i % 5));
        string yaml = "version: 1\ndefault: {weight: {bits: 8}, activation: {bits: 8}}\nlayers:\n"
            + $"  conv2: {{weight: {{precision: {{granularity: {{kind: ou, rows: 9, cols: 8}}, bits: [{conv2}]}}}}}}\n"
            + $"  gemm1: {{weight: {{precision: {{bits: [{gemm1}]}}}}}}\n";
        using var model = new QuantizedModel(graph, QuantConfigLoader.Parse(yaml, "q.yaml").Resolve(graph), seed: 1);
        PostTrainingQuantization.Run(model, QuantFixtures.Calibration(512), new PtqOptions());
        var result = QdqExport.Rewrite(model);
        using var qdq = result.Graph;
        Assert.Empty(result.Notes);
        foreach (string name in new[] { "conv2", "gemm1" })
        {
            var layer = model.Layer(name)!;
            var dequantize = qdq.Nodes.Single(n => n.OpType == "DequantizeLinear" && n.Name.StartsWith($"{name}.weight"));
            var codes = qdq.Initializers[dequantize.Inputs[0]].Value;
            var scale = qdq.Initializers[dequantize.Inputs[1]].Value;
            Assert.Equal(ScalarType.Int8, codes.dtype);
            // DequantizeLinear along axis 0 (Conv, Gemm with transB): code · scale of the output channel.
            var shape = Enumerable.Repeat(1L, (int)codes.dim()).ToArray();
            shape[0] = -1;
            var dequantized = codes.to_type(ScalarType.Float32) * scale.reshape(shape);
            var fake = layer.Weight!.Quantize(model.WeightOf(layer), training: false);
            Assert.Equal(fake.contiguous().data<float>().ToArray(), dequantized.contiguous().data<float>().ToArray());
        }
        Assert.Contains(model.Layer("conv2")!.Weight!.ToIntegers(model.WeightOf(model.Layer("conv2")!)).Codes, c => c == 0);

        const int count = 2000;
        var images = QuantFixtures.Images(EvalStart, count);
        var labels = QuantFixtures.Labels(EvalStart, count);
        double fakeAccuracy = QuantFixtures.Accuracy(QuantFixtures.Logits(model.CreateExecutor(), images), labels);
        Assert.True(fakeAccuracy > 0.6, $"fake-quantized accuracy {fakeAccuracy:P2}");
        double literal = Accuracy(OrtLogits(OnnxExporter.Export(qdq), images.contiguous().data<float>().ToArray(), count, optimized: false), labels);
        Assert.True(Math.Abs(literal - fakeAccuracy) <= 0.0005, $"ONNX Runtime (unoptimised) {literal:P3}, PimQuant {fakeAccuracy:P3}");
    }

    [Fact]
    public void ActivationsQdqCannotExpressAreRefusedWithTheLayerNamed()
    {
        using var graph = QuantFixtures.LeNet();
        using var scope = NewDisposeScope();
        using var model = new QuantizedModel(graph, QuantConfigLoader.Parse(
            "version: 1\nlayers: {gemm2: {activation: {granularity: {kind: dynamic, group_size: 16}}}}", "q.yaml").Resolve(graph));
        PostTrainingQuantization.Calibrate(model, QuantFixtures.Calibration(64), 64);
        var e = Assert.Throws<QdqExportException>(() => QdqExport.Rewrite(model));
        Assert.Contains("layer gemm2", e.Message);
        Assert.Contains("dynamic", e.Message);
    }

    [Fact]
    public void WeightsWithoutAQdqFormAreWrittenAsExactFakeQuantizedValues()
    {
        using var graph = QuantFixtures.LeNet();
        using var scope = NewDisposeScope();
        using var model = new QuantizedModel(graph, QuantConfigLoader.Parse(
            "version: 1\nlayers: {conv2: {weight: {format: apot, bits: 5, granularity: {kind: ou, rows: 9, cols: 8}}}}", "q.yaml").Resolve(graph));
        var calibration = QuantFixtures.Calibration(128);
        PostTrainingQuantization.Calibrate(model, calibration, 64);
        var result = QdqExport.Rewrite(model);
        using var qdq = result.Graph;
        Assert.Contains(result.Notes, n => n.StartsWith("layer conv2: weight written as float32"));
        var fake = QuantFixtures.Logits(model.CreateExecutor(), calibration);
        var own = QuantFixtures.Logits(new GraphExecutor(qdq), calibration);
        Assert.Equal(fake.data<float>().ToArray(), own.data<float>().ToArray());
    }
}

public class QdqTensorCodecTests
{
    [Fact]
    public void Int8AndUint8TensorsRoundTripInRawAndTypedForm()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        PimQuant.Onnx.OnnxException Fail(string m) => new(m);
        var signed = tensor(new sbyte[] { -128, -1, 0, 7, 127 }, [5]);
        var unsigned = tensor(new byte[] { 0, 1, 128, 255 }, [2, 2]);
        var s = PimQuant.Onnx.TensorCodec.Write("s", signed, "g");
        var u = PimQuant.Onnx.TensorCodec.Write("u", unsigned, "g");
        Assert.Equal(signed.data<sbyte>().ToArray(), PimQuant.Onnx.TensorCodec.Read(s, "s", Fail).data<sbyte>().ToArray());
        Assert.Equal(unsigned.data<byte>().ToArray(), PimQuant.Onnx.TensorCodec.Read(u, "u", Fail).data<byte>().ToArray());
        // The typed form keeps 8-bit integers in int32_data.
        var typed = new PimQuant.Onnx.Proto.TensorProto { Name = "t", DataType = (int)PimQuant.Onnx.Proto.TensorProto.Types.DataType.Int8 };
        typed.Dims.Add(3);
        typed.Int32Data.AddRange([-5, 0, 9]);
        Assert.Equal([(sbyte)-5, 0, 9], PimQuant.Onnx.TensorCodec.Read(typed, "t", Fail).data<sbyte>().ToArray());
    }
}
