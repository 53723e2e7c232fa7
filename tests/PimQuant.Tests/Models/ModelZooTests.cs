using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Models;
using static TorchSharp.torch;

namespace PimQuant.Tests.Models;

public class ModelZooTests
{
    public static TheoryData<string, int, int> Inputs()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var name in ModelZoo.Names)
        {
            data.Add(name, 1, 28);
            data.Add(name, 3, 32);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void EveryModelMapsABatchToClassLogits(string name, int channels, int size)
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build(name, new ModelInput(channels, size), seed: 1);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = new GraphExecutor(graph).Forward(randn(3, channels, size, size));
        Assert.Equal(new long[] { 3, 10 }, logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
    }

    [Theory]
    [InlineData("lenet5", 1, 28, 61_706)]       // 156 + 2,416 + 48,120 + 10,164 + 850
    [InlineData("vgg8", 3, 32, 12_978_058)]     // six 3×3 convs 4,574,592 + BN 3,584 + FC 8,389,632 + 10,250
    [InlineData("resnet20", 1, 28, 272_186)]    // stem 176, stages 14,016 + 51,648 + 205,696, FC 650
    public void ParameterCountsMatchTheArchitecture(string name, int channels, int size, long expected)
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build(name, new ModelInput(channels, size), seed: 0);
        Assert.Equal(expected, graph.ParameterCount());
    }

    [Fact]
    public void SameSeedBuildsSameWeightsAndOtherSeedsDiffer()
    {
        Torch.Ensure();
        using var a = ModelZoo.Build("resnet20", new ModelInput(1, 28), seed: 7);
        using var b = ModelZoo.Build("resnet20", new ModelInput(1, 28), seed: 7);
        using var c = ModelZoo.Build("resnet20", new ModelInput(1, 28), seed: 8);
        Assert.True(a.Initializers["conv5.weight"].Value.eq(b.Initializers["conv5.weight"].Value).all().item<bool>());
        Assert.False(a.Initializers["conv5.weight"].Value.eq(c.Initializers["conv5.weight"].Value).all().item<bool>());
    }

    [Fact]
    public void ResNet20MacsMatchTheLayerShapes()
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build("resnet20", new ModelInput(3, 32), seed: 0);
        ShapeInference.Run(graph);
        var summary = ModelSummary.Of(graph);
        // Stem 32·32·16·27, stage 1: 6 convs 32·32·16·144, stage 2: 16·16·32·(144 + 5·288) + shortcut 16·16·32·16,
        // stage 3: 8·8·64·(288 + 5·576) + shortcut 8·8·64·32, FC 64·10.
        long expected = 32 * 32 * 16 * 27 + 6L * 32 * 32 * 16 * 144
            + 16 * 16 * 32 * (144 + 5 * 288) + 16 * 16 * 32 * 16
            + 8 * 8 * 64 * (288 + 5 * 576) + 8 * 8 * 64 * 32 + 640;
        Assert.Equal(expected, summary.Macs);
        Assert.Equal(graph.ParameterCount(), summary.Parameters);
    }

    [Fact]
    public void MobileNetUsesDepthwiseConvolutions()
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build("mobilenetv2", new ModelInput(3, 32), seed: 0);
        var depthwise = graph.Nodes.Where(n => n.OpType == "Conv" && n.GetInt("group", 1) > 1).ToList();
        Assert.Equal(17, depthwise.Count);
        foreach (var node in depthwise)
            Assert.Equal(1, graph.Initializers[node.Inputs[1]].Value.shape[1]);
    }

    [Fact]
    public void UnknownModelNameIsRejectedWithTheZooList()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelZoo.Build("alexnet", new ModelInput(1, 28)));
        Assert.Contains("resnet20", e.Message);
    }
}
