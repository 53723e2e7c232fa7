using PimQuant.Onnx;
using PimQuant.Tests.Onnx;

namespace PimQuant.Tests.Reliability;

/// <summary>
/// The fixes of fuzz findings, asserted by message: FuzzRegressionTests only checks that each
/// kept input is rejected cleanly, these check that the rejection says what is wrong and where.
/// </summary>
public class FuzzFindingTests
{
    /// <summary>
    /// findings/onnx/0588eea76cb1d3ab: a BatchNormalization with fewer than its five inputs reached
    /// the kernel, which indexed the missing ones (ArgumentOutOfRangeException during shape inference).
    /// </summary>
    [Theory]
    [InlineData(3, "has no input 3 (input_mean)")]
    [InlineData(1, "has no input 1 (scale)")]
    public void BatchNormWithoutItsStatisticsIsRefusedByName(int keep, string expected)
    {
        Torch.Ensure();
        var model = OnnxTestModels.ConvBn(13);
        var bn = model.Builder.Graph.Node.Single(n => n.OpType == "BatchNormalization");
        while (bn.Input.Count > keep) bn.Input.RemoveAt(bn.Input.Count - 1);
        var e = Assert.Throws<OnnxException>(() => OnnxImporter.Import(model.Builder.Bytes(), "model.onnx"));
        Assert.StartsWith("model.onnx: node ", e.Message);
        Assert.Contains($"(BatchNormalization) {expected}; it needs X, scale, B, input_mean, input_var", e.Message);
    }

    /// <summary>An omitted required input (ONNX's empty name) is refused like a missing one; an omitted optional one (a Conv's bias) is not.</summary>
    [Fact]
    public void EmptyNameForARequiredInputIsRefused()
    {
        Torch.Ensure();
        var model = OnnxTestModels.ConvBn(13);
        var conv = model.Builder.Graph.Node.First(n => n.OpType == "Conv");
        conv.Input[1] = "";
        var e = Assert.Throws<OnnxException>(() => OnnxImporter.Import(model.Builder.Bytes(), "model.onnx"));
        Assert.Contains("(Conv) has no input 1 (W); it needs X, W", e.Message);

        var noBias = OnnxTestModels.ConvBn(13);
        var biased = noBias.Builder.Graph.Node.First(n => n.OpType == "Conv");
        Assert.Equal(3, biased.Input.Count);
        biased.Input[2] = "";
        using var graph = OnnxImporter.Import(noBias.Builder.Bytes(), "model.onnx");
        Assert.Contains(graph.Nodes, n => n.OpType == "Conv");
    }
}
