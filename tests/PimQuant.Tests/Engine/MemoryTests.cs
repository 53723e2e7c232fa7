using System.Diagnostics;
using PimQuant.Engine.Execution;
using PimQuant.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PimQuant.Tests.Engine;

[Collection(IsolatedCollection.Name)]
public class MemoryTests
{
    private static long ResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var self = Process.GetCurrentProcess();
        return self.WorkingSet64;
    }

    [Fact]
    public void TwoHundredTrainingStepsDoNotGrowTheProcess()
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 0);
        var executor = new GraphExecutor(graph) { Training = true };
        using var optimizer = optim.SGD(graph.Parameters(), 0.01, momentum: 0.9);
        using var gen = new Generator(3);
        void Step()
        {
            using var scope = NewDisposeScope();
            var x = randn(64, 1, 28, 28, generator: gen);
            var y = randint(0, 10, [64], generator: gen);
            optimizer.zero_grad();
            F.cross_entropy(executor.Forward(x), y).backward();
            optimizer.step();
        }
        for (int i = 0; i < 20; i++) Step(); // allocator pools reach their steady state
        long start = ResidentBytes();
        for (int i = 0; i < 200; i++) Step();
        long growth = ResidentBytes() - start;
        // A leak of one 64-image input per step alone would be 200 × 200 KB = 40 MB.
        Assert.True(growth < 8 << 20, $"resident memory grew by {growth / 1024.0 / 1024.0:F1} MB over 200 steps");
    }
}
