using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Models;
using PimQuant.Tests.Models;
using static TorchSharp.torch;

namespace PimQuant.Tests.Engine;

public class GraphPassTests
{
    private static Tensor Logits(ModelGraph graph, Tensor x)
    {
        using var noGrad = no_grad();
        return new GraphExecutor(graph).Forward(x);
    }

    [Theory]
    [InlineData("resnet20")]
    [InlineData("mobilenetv2")]
    [InlineData("vgg8")]
    public void BatchNormFoldingKeepsTheLogits(string model)
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build(model, new ModelInput(3, 32), seed: 3);
        TrainedLike.RandomizeBatchNorms(graph, 11);
        using var scope = NewDisposeScope();
        var x = randn(4, 3, 32, 32, generator: new Generator(5));
        var before = Logits(graph, x);
        int bnCount = graph.Nodes.Count(n => n.OpType == "BatchNormalization");
        Assert.Equal(bnCount, BatchNormFolding.Run(graph));
        Assert.DoesNotContain(graph.Nodes, n => n.OpType == "BatchNormalization");
        var after = Logits(graph, x);
        double tolerance = 1e-4 * before.abs().max().item<float>();
        Assert.True((before - after).abs().max().item<float>() <= tolerance);
    }

    [Fact]
    public void BatchNormAfterSomethingOtherThanConvStays()
    {
        Torch.Ensure();
        using var graph = new ModelGraph("bn-after-relu");
        graph.Inputs.Add(new GraphInput("x", [-1, 2, 3, 3]));
        using var scope = NewDisposeScope();
        foreach (var (n, v) in new[] { ("g", ones(2)), ("b", zeros(2)), ("m", zeros(2)), ("v", ones(2)) })
            graph.AddInitializer(n, v, n is "m" or "v" ? InitializerKind.Buffer : InitializerKind.Parameter);
        graph.Nodes.Add(Node.Create("relu", "Relu", ["x"], ["r"]));
        graph.Nodes.Add(Node.Create("bn", "BatchNormalization", ["r", "g", "b", "m", "v"], ["y"]));
        graph.Outputs.Add("y");
        Assert.Equal(0, BatchNormFolding.Run(graph));
        Assert.Equal(2, graph.Nodes.Count);
    }

    /// <summary>x → Conv → (Shape → Gather(0) → Unsqueeze → Concat with [-1]) → Reshape, as PyTorch exports x.view(x.size(0), -1).</summary>
    private static ModelGraph ExporterStyleFlatten()
    {
        var graph = new ModelGraph("flatten-chain", opset: 13);
        graph.Inputs.Add(new GraphInput("x", [-1, 1, 4, 4]));
        using var scope = NewDisposeScope();
        graph.AddParameter("w", randn(2, 1, 3, 3, generator: new Generator(1)));
        graph.AddInitializer("zero", tensor(0L), InitializerKind.Constant);
        graph.AddInitializer("axes0", tensor(new long[] { 0 }), InitializerKind.Constant);
        graph.AddInitializer("minus1", tensor(new long[] { -1 }), InitializerKind.Constant);
        graph.Nodes.Add(Node.Create("conv", "Conv", ["x", "w"], ["c"]));
        graph.Nodes.Add(Node.Create("shape", "Shape", ["c"], ["s"]));
        graph.Nodes.Add(Node.Create("gather", "Gather", ["s", "zero"], ["n"], [KeyValuePair.Create("axis", (AttributeValue)new AttributeValue.Int(0))]));
        graph.Nodes.Add(Node.Create("unsqueeze", "Unsqueeze", ["n", "axes0"], ["n1"]));
        graph.Nodes.Add(Node.Create("concat", "Concat", ["n1", "minus1"], ["target"], [KeyValuePair.Create("axis", (AttributeValue)new AttributeValue.Int(0))]));
        graph.Nodes.Add(Node.Create("reshape", "Reshape", ["c", "target"], ["y"]));
        graph.Outputs.Add("y");
        return graph;
    }

    [Fact]
    public void ShapeChainsFoldToABatchIndependentReshape()
    {
        Torch.Ensure();
        using var graph = ExporterStyleFlatten();
        using var scope = NewDisposeScope();
        var x = randn(5, 1, 4, 4, generator: new Generator(2));
        var before = Logits(graph, x);
        Assert.Equal(1, ConstantFolding.Run(graph));
        Assert.Equal(["Conv", "Reshape"], graph.Nodes.Select(n => n.OpType));
        var target = graph.Initializers[graph.Nodes[1].Inputs[1]].Value.data<long>().ToArray();
        Assert.Equal(new long[] { 0, -1 }, target);
        Assert.True(before.eq(Logits(graph, x)).all().item<bool>());
        Assert.Equal(new long[] { 7, 8 }, Logits(graph, randn(7, 1, 4, 4)).shape);
    }

    [Fact]
    public void ShapeDependentValueOutsideReshapeDoesNotFold()
    {
        Torch.Ensure();
        using var graph = ExporterStyleFlatten();
        // Add the batch size itself to the data: nothing constant can replace it.
        graph.Nodes[^1] = Node.Create("cast", "Cast", ["n"], ["tf"], [KeyValuePair.Create("to", (AttributeValue)new AttributeValue.Int(1))]);
        graph.Nodes.Add(Node.Create("flat", "Flatten", ["c"], ["f"]));
        graph.Nodes.Add(Node.Create("add", "Add", ["f", "tf"], ["y2"]));
        graph.Outputs[0] = "y2";
        var e = Assert.Throws<GraphException>(() => ConstantFolding.Run(graph));
        Assert.Contains("depends on the batch size", e.Message);
        Assert.Contains("'add'", e.Message);
    }

    [Fact]
    public void ShapeInferenceMarksTheBatchDimension()
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 0);
        ShapeInference.Run(graph);
        Assert.Equal(new long[] { -1, 6, 28, 28 }, graph.ValueShapes[graph.Nodes[0].Output]);
        Assert.Equal(new long[] { -1, 10 }, graph.ValueShapes["logits"]);
    }

    [Fact]
    public void DeadNodesAndTheirTensorsAreRemoved()
    {
        Torch.Ensure();
        using var graph = ExporterStyleFlatten();
        graph.Outputs[0] = "c";
        Assert.Equal(5, DeadNodeElimination.Run(graph));
        Assert.Equal(["w"], graph.Initializers.Keys);
    }

    [Fact]
    public void AnUnknownOperatorIsNamedWithItsNode()
    {
        Torch.Ensure();
        using var graph = new ModelGraph("bad");
        graph.Inputs.Add(new GraphInput("x", [-1, 3]));
        graph.Nodes.Add(Node.Create("lstm_1", "LSTM", ["x"], ["y"]));
        graph.Outputs.Add("y");
        var e = Assert.Throws<GraphException>(() => new GraphExecutor(graph));
        Assert.Contains("'lstm_1'", e.Message);
        Assert.Contains("'LSTM'", e.Message);
    }
}
