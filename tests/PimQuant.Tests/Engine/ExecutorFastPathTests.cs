using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Models;
using PimQuant.Onnx;
using PimQuant.Tests.Models;
using PimQuant.Tests.Onnx;
using static TorchSharp.torch;

namespace PimQuant.Tests.Engine;

/// <summary>
/// The executor's speed paths (channels-last convolutions; results written into dying inputs without
/// autograd) compute the same function as the plain path, and never overwrite a tensor anyone else sees.
/// </summary>
public class ExecutorFastPathTests
{
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();

    private static float[] Run(ModelGraph graph, Tensor x, bool channelsLast, bool grad, bool training = false)
    {
        using var scope = NewDisposeScope();
        using var mode = grad ? enable_grad() : no_grad();
        return Values(new GraphExecutor(graph) { ChannelsLast = channelsLast, OverwriteDyingValues = true, Training = training }.Forward(x));
    }

    [Theory]
    [MemberData(nameof(ModelZooTests.Inputs), MemberType = typeof(ModelZooTests))]
    public void ChannelsLastAndInPlaceInferenceMatchOnnxRuntime(string name, int channels, int size)
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build(name, new ModelInput(channels, size), seed: 4);
        TrainedLike.RandomizeBatchNorms(graph, 5);
        ShapeInference.Run(graph);
        BatchNormFolding.Run(graph);
        var input = OnnxParity.Input([channels, size, size]);
        var expected = OnnxParity.RunOrt(OnnxExporter.Export(graph), input);
        using var scope = NewDisposeScope();
        var x = tensor(input.Data, input.Shape);
        var fast = Run(graph, x, channelsLast: true, grad: false);
        OnnxParity.AssertClose(expected, [new ModelOutput(expected[0].Shape, fast)], $"{name} {channels}×{size} channels-last");
        // Writing into dying inputs changes no bit: the in-place operators are the same arithmetic.
        Assert.Equal(Run(graph, x, channelsLast: false, grad: true), Run(graph, x, channelsLast: false, grad: false));
    }

    // Not mobilenetv2: untrained, its gradients already differ by 1-2 % between 1 and 2 threads.
    [Theory]
    [InlineData("resnet20")]
    [InlineData("lenet5")]
    public void ChannelsLastTrainingGivesTheSameGradients(string name)
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build(name, new ModelInput(3, 32), seed: 2);
        using var scope = NewDisposeScope();
        var x = randn(4, 3, 32, 32, generator: new Generator(9));
        Tensor[] Gradients(bool channelsLast)
        {
            foreach (var p in graph.Parameters()) p.grad = null;
            var executor = new GraphExecutor(graph) { ChannelsLast = channelsLast, Training = true };
            executor.Forward(x).square().sum().backward();
            return graph.Parameters().Select(p => p.grad!.clone()).ToArray();
        }
        var plain = Gradients(false);
        var fast = Gradients(true);
        for (int k = 0; k < plain.Length; k++)
        {
            double scale = Math.Max(plain[k].abs().max().item<float>(), 1e-6);
            double diff = (plain[k] - fast[k]).abs().max().item<float>();
            Assert.True(diff <= 1e-3 * scale, $"gradient {k} {string.Join("x", plain[k].shape)} differs by {diff} (max {scale})");
        }
    }

    /// <summary>Keeps every input it is given, as an observer or a simulator might.</summary>
    private sealed class KeepingKernel(INodeKernel inner, List<Tensor> kept) : INodeKernel
    {
        public Tensor Run(Node node, IReadOnlyList<Tensor?> inputs, PimQuant.Engine.Execution.ExecutionContext context)
        {
            // Tensors a kernel makes die with its node unless it keeps them out of the executor's scope.
            kept.Add(inputs[0]!.alias().DetachFromDisposeScope());
            return inner.Run(node, inputs, context);
        }
    }

    /// <summary>x → Relu r; r → Reshape (a view) → output v; r → Conv (override) → c; Add(r, c) → Relu → output y.</summary>
    private static ModelGraph SharedValueGraph()
    {
        var graph = new ModelGraph("shared");
        graph.Inputs.Add(new GraphInput("x", [-1, 2, 3, 3]));
        graph.AddParameter("w", randn(2, 2, 1, 1, generator: new Generator(1)));
        graph.AddInitializer("shape", tensor(new long[] { 0, -1 }), InitializerKind.Constant);
        graph.Nodes.Add(Node.Create("relu", "Relu", ["x"], ["r"]));
        graph.Nodes.Add(Node.Create("view", "Reshape", ["r", "shape"], ["v"]));
        graph.Nodes.Add(Node.Create("conv", "Conv", ["r", "w"], ["c"]));
        graph.Nodes.Add(Node.Create("add", "Add", ["r", "c"], ["s"]));
        graph.Nodes.Add(Node.Create("relu2", "Relu", ["s"], ["y"]));
        graph.Outputs.AddRange(["v", "y"]);
        return graph;
    }

    [Fact]
    public void NothingAnotherTensorSharesIsOverwritten()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var graph = SharedValueGraph();
        using var noGrad = no_grad();
        var x = randn(2, 2, 3, 3, generator: new Generator(4));
        var xBefore = x.clone();
        var kept = new List<Tensor>();
        var executor = new GraphExecutor(graph, n => n.OpType == "Conv" ? new KeepingKernel(StandardKernels.ByOpType["Conv"], kept) : null) { OverwriteDyingValues = true };
        var outputs = executor.Run([x]);
        var r = x.relu();
        Assert.True(Same(x, xBefore), "the graph input was overwritten");
        Assert.True(Same(outputs[0], r.reshape(2, -1)), "a view of a dying value was overwritten");
        Assert.True(Same(kept[0], r), "a value an override kernel kept was overwritten");
        var c = nn.functional.conv2d(r, graph.Initializers["w"].Value);
        Assert.True(Same(outputs[1], (r + c).relu()));
    }

    [Fact]
    public void CapturedValuesAndInputsAreNeverOverwritten()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var graph = new ModelGraph("chain");
        graph.Inputs.Add(new GraphInput("x", [-1, 4]));
        graph.AddInitializer("b", ones(4), InitializerKind.Constant);
        graph.Nodes.Add(Node.Create("add", "Add", ["x", "b"], ["s"]));
        graph.Nodes.Add(Node.Create("relu", "Relu", ["s"], ["t"]));
        graph.Nodes.Add(Node.Create("add2", "Add", ["t", "b"], ["y"]));
        graph.Outputs.Add("y");
        var x = randn(3, 4, generator: new Generator(2));
        var xBefore = x.clone();
        using var noGrad = no_grad();
        var executor = new GraphExecutor(graph) { OverwriteDyingValues = true };
        var captured = executor.RunCapturing([x], ["s", "t", "y"]);
        Assert.True(Same(captured["s"], x + 1));
        Assert.True(Same(captured["t"], (x + 1).relu()));
        var y = executor.Forward(x);
        Assert.True(Same(y, (x + 1).relu() + 1));
        Assert.True(Same(x, xBefore), "the graph input was overwritten");
    }
}
