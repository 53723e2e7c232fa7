using PimQuant.Engine.Runtime;
using static TorchSharp.torch;

namespace PimQuant.Tests.Engine;

public class TorchRuntimeTests
{
    [Fact]
    public void LibTorchLoadsAndComputes()
    {
        Torch.Ensure();
        Assert.StartsWith("2.10", TorchRuntime.LibTorchVersion());
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4 }, [2, 2]);
        var product = a.matmul(a).data<float>().ToArray();
        Assert.Equal(new float[] { 7, 10, 15, 22 }, product);
    }

    [Fact]
    public void DeterministicAlgorithmsAreSwitchedOn()
    {
        Torch.Ensure();
        Assert.True(TorchRuntime.DeterministicAlgorithmsEnabled);
        Assert.Equal(2, get_num_threads());
    }

    [Fact]
    public void OptionsRejectNegativeThreads() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new EngineOptions(threads: -1));
}
