using System.Text.Json.Nodes;
using PimQuant.Onnx;
using Xunit;

namespace PimQuant.Tests.Onnx;

/// <summary>
/// torchvision's MobileNetV3, EfficientNet, DenseNet and ShuffleNetV2 at tiny widths, as torch.onnx.export writes them
/// (Fixtures/torchvision-*.onnx, made by bench/torchvision_fixtures.py with Debian's torch 1.13): PimQuant computes
/// PyTorch's logits and ONNX Runtime's, at batch 1 and 8, also for the files whose batch is fixed at 1.
/// </summary>
public class TorchvisionFixtureTests
{
    private static readonly string Fixtures = Path.Combine(TestPaths.Root, "tests", "PimQuant.Tests", "Fixtures");

    /// <summary>The fixture's images: pixel i of the [8, 3, 32, 32] batch is ((i · 7919) mod 1000) / 500 − 1.</summary>
    private static (float[] Data, long[] Shape) Images(int count)
    {
        var data = new float[count * 3 * 32 * 32];
        for (long i = 0; i < data.Length; i++) data[i] = (float)(i * 7919 % 1000 / 500.0 - 1.0);
        return (data, [count, 3, 32, 32]);
    }

    [Theory]
    [InlineData("torchvision-mobilenet_v3-o11-batch.onnx")]
    [InlineData("torchvision-efficientnet-o17-dyn.onnx")]
    [InlineData("torchvision-densenet-o11-batch.onnx")]
    [InlineData("torchvision-shufflenet_v2-o17-batch.onnx")]
    public void ComputesPyTorchsAndOnnxRuntimesLogitsAtBatch1And8(string file)
    {
        var logits = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "torchvision.logits.json")))!["logits"]![file]!.AsArray();
        var pytorch = new ModelOutput([8, 10], [.. logits.SelectMany(row => row!.AsArray().Select(v => (float)v!))]);
        var bytes = File.ReadAllBytes(Path.Combine(Fixtures, file));
        using var graph = OnnxImporter.Import(bytes, file);

        OnnxParity.AssertClose([pytorch], OnnxParity.RunPimQuant(graph, Images(8)), $"{file} against PyTorch at batch 8");
        var first = OnnxParity.RunPimQuant(graph, Images(1));
        OnnxParity.AssertClose([new ModelOutput([1, 10], pytorch.Values[..10])], first, $"{file} against PyTorch at batch 1");
        OnnxParity.AssertClose(OnnxParity.RunOrt(bytes, Images(1)), first, $"{file} against ONNX Runtime at batch 1");
        if (file.Contains("-dyn"))
            OnnxParity.AssertClose(OnnxParity.RunOrt(bytes, Images(8)), OnnxParity.RunPimQuant(graph, Images(8)), $"{file} against ONNX Runtime at batch 8");
    }
}
