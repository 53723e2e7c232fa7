using PimQuant.Data;
using PimQuant.Engine.Training;
using PimQuant.Models;
using PimQuant.Training;
using static TorchSharp.torch;

namespace PimQuant.Tests.Training;

/// <summary>The fill setting is process-wide, so these run alone (no trainer of another test suspends it meanwhile).</summary>
[Collection(IsolatedCollection.Name)]
public class UninitializedMemoryFillTests
{
    [Fact]
    public void DeterministicModeFillsNewTensorsWithNaN()
    {
        Torch.Ensure();
        // What the switch controls: with deterministic algorithms on (the test fixture's setting), empty memory reads NaN.
        Assert.True(UninitializedMemoryFill.Enabled);
        using var t = empty(1000);
        Assert.True(t.isnan().all().item<bool>());
    }

    [Fact]
    public void NestedScopesKeepTheFillOffUntilTheLastEnds()
    {
        Torch.Ensure();
        bool before = UninitializedMemoryFill.Enabled;
        var outer = UninitializedMemoryFill.Suspend();
        var inner = UninitializedMemoryFill.Suspend();
        Assert.False(UninitializedMemoryFill.Enabled);
        outer.Dispose();
        Assert.False(UninitializedMemoryFill.Enabled);
        inner.Dispose();
        inner.Dispose();
        Assert.Equal(before, UninitializedMemoryFill.Enabled);
    }

    [Fact]
    public void TrainingLeavesTheSettingAsItFoundIt()
    {
        Torch.Ensure();
        bool before = UninitializedMemoryFill.Enabled;
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        new Trainer(graph, new TrainingOptions { Epochs = 1, BatchSize = 64, Seed = 3 }, SilentObserver.Instance)
            .Run(TestPaths.FashionMnistTest.Slice(0, 128), null, DatasetCatalog.FashionMnist.Normalization, new Trainer.CheckpointPolicy(null, false, "k"));
        Assert.Equal(before, UninitializedMemoryFill.Enabled);
    }
}
