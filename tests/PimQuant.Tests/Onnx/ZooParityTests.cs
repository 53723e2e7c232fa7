using PimQuant.Engine.Passes;
using PimQuant.Models;
using PimQuant.Onnx;
using PimQuant.Tests.Models;

namespace PimQuant.Tests.Onnx;

/// <summary>Every zoo model exported to ONNX runs in ONNX Runtime with PimQuant's logits.</summary>
public class ZooParityTests
{
    [Theory]
    [MemberData(nameof(ModelZooTests.Inputs), MemberType = typeof(ModelZooTests))]
    public void ExportedZooModelMatchesOnnxRuntime(string name, int channels, int size)
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build(name, new ModelInput(channels, size), seed: 4);
        TrainedLike.RandomizeBatchNorms(graph, 5);
        ShapeInference.Run(graph);
        var input = OnnxParity.Input([channels, size, size]);
        var ours = OnnxParity.RunPimQuant(graph, input);
        OnnxParity.AssertClose(OnnxParity.RunOrt(OnnxExporter.Export(graph), input), ours, $"{name} {channels}×{size}");

        // Export → import keeps the graph and the logits.
        using var reimported = OnnxImporter.Import(OnnxExporter.Export(graph), name);
        Assert.Equal(graph.Nodes.Select(n => n.OpType), reimported.Nodes.Select(n => n.OpType));
        OnnxParity.AssertClose(ours, OnnxParity.RunPimQuant(reimported, input), $"{name} re-imported");

        // After batch-norm folding: still the same function, in PimQuant and in ONNX Runtime.
        BatchNormFolding.Run(graph);
        var folded = OnnxParity.RunPimQuant(graph, input);
        OnnxParity.AssertClose(ours, folded, $"{name} folded");
        OnnxParity.AssertClose(OnnxParity.RunOrt(OnnxExporter.Export(graph), input), folded, $"{name} folded in ONNX Runtime");
    }
}
