using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using PimQuant.Data;
using PimQuant.Experiments;
using PimQuant.Quant.Formats;
using static TorchSharp.torch;

namespace PimQuant.Tests.Quant;

/// <summary>
/// A QDQ model as PyTorch's own quantization tooling writes it (Fixtures/pytorch-qdq-lenet5.onnx, made by
/// bench/qdq_fixture_pytorch.py: prepare_qat_fx with per-channel symmetric int8 weights and per-tensor affine
/// uint8 activations, torch.onnx.export at opset 13), read as `pimq eval`, `info` and `simulate` read it.
/// PyTorch writes each weight as float initializer → QuantizeLinear → DequantizeLinear → Conv/Gemm, leaves the
/// biases float, and puts a Q/DQ pair on the input and after every Relu, MaxPool, Flatten and the logits.
/// </summary>
public class QdqPyTorchTests
{
    private static readonly string Fixtures = Path.Combine(TestPaths.Root, "tests", "PimQuant.Tests", "Fixtures");
    private static readonly string ModelPath = Path.Combine(Fixtures, "pytorch-qdq-lenet5.onnx");

    private sealed class Lines : IExperimentProgress
    {
        public List<string> Logged { get; } = [];
        public void Log(string message) => Logged.Add(message);
        public T Step<T>(string title, Func<Action<StepProgress>, T> body) => body(_ => { });
    }

    [Fact]
    public void PyTorchsQdqExportImportsWithPyTorchsIntegersAndComputesPyTorchsLogits()
    {
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "pytorch-qdq-lenet5.logits.json")))!;
        var progress = new Lines();
        var imported = ModelFiles.ReadQdq(ModelPath, ModelFiles.Load(ModelPath), progress);
        using var graph = imported.Graph;
        using var model = imported.Model;
        using var scope = NewDisposeScope();

        Assert.Equal(["/conv1/Conv", "/conv2/Conv", "/fc1/Gemm", "/fc2/Gemm", "/fc3/Gemm"], model.Layers.Select(l => l.Name));
        Assert.Equal(5, imported.Notes.Count(n => n.Contains("bias is float32")));
        foreach (var layer in model.Layers)
        {
            Assert.Equal(new IntegerFormat(8, Signed: true), layer.Plan.Weight!.Format);
            Assert.Equal(new IntegerFormat(8, Signed: false), layer.Plan.Activation!.Format);
        }

        // conv1's integers, scales and zero points are PyTorch's (torch.quantize_per_channel of its weight).
        var conv1 = model.Layers[0];
        var integers = conv1.Weight!.ToIntegers(model.WeightOf(conv1));
        Assert.Equal(expected["conv1"]!["scales"]!.AsArray().Select(v => (float)v!), integers.Scales);
        Assert.All(integers.ZeroPoints ?? [], z => Assert.Equal(0, z));
        Assert.All(expected["conv1"]!["zero_points"]!.AsArray(), z => Assert.Equal(0, (int)z!));
        var codes = expected["conv1"]!["codes"]!.AsArray().Select(v => (int)v!).ToArray();
        for (int r = 0; r < integers.Rows; r++)
            for (int c = 0; c < integers.Columns; c++)
                Assert.Equal(codes[integers.Lowering.WeightIndex(r, c)], integers.CodeAt(r, c));

        var pixels = Normalization.Identity.Apply(TestPaths.FashionMnistTest.Slice(0, 8));
        var ours = QuantFixtures.Logits(model.CreateExecutor(), tensor(pixels, [8, 1, 28, 28])).data<float>().ToArray();
        var theirs = expected["logits"]!.AsArray().SelectMany(row => row!.AsArray().Select(v => (float)v!)).ToArray();
        // The logits leave through PyTorch's last fake quantizer, so both sides lie on its grid of step s_out. Ours
        // differ from PyTorch's only through the int32 bias levels round(b / (s_x·s_w)) (at most s_x·s_w / 2, far
        // below the next quantizer's step) and ONNX's x / s against PyTorch's x·(1/s) near ties: either can move a
        // value across one rounding boundary. Measured: 79 of the 80 logits equal, one a single step s_out apart;
        // the test allows one step on any logit and requires nine in ten equal.
        float step = graph.Initializers["activation_post_process_8.scale"].Value.item<float>();
        for (int i = 0; i < theirs.Length; i++)
            Assert.True(Math.Abs(ours[i] - theirs[i]) <= step * 1.001f, $"logit {i}: {ours[i]} against PyTorch's {theirs[i]} (step {step})");
        Assert.True(ours.Zip(theirs).Count(p => p.First == p.Second) >= theirs.Length * 9 / 10);

        // ONNX Runtime runs the file itself, float bias and all.
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(ModelPath, options);
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [8, 1, 28, 28]);
        using var run = new RunOptions();
        using var outputs = session.Run(run, [session.InputNames[0]], [input], session.OutputNames);
        var ort = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        for (int i = 0; i < ort.Length; i++)
            Assert.True(Math.Abs(ours[i] - ort[i]) <= step * 1.001f, $"logit {i}: {ours[i]} against ONNX Runtime's {ort[i]}");
    }
}
