using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Models;
using PimQuant.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PimQuant.Tests.Training;

public class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-train-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly TrainingOptions Small = new()
    {
        Epochs = 2, BatchSize = 64, LearningRate = 0.05, Seed = 42, CropPadding = 2, HorizontalFlip = true,
    };

    private static (ImageDataset train, ImageDataset test) Split()
    {
        var all = TestPaths.FashionMnistTest;
        return (all.Slice(0, 1024), all.Slice(9000, 500));
    }

    private static float[] Flat(ModelGraph graph) =>
        graph.Initializers.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.Value.to_type(ScalarType.Float32).data<float>().ToArray()).ToArray();

    private TrainingResult Train(ModelGraph graph, TrainingOptions options, string? checkpoint, bool resume, string key = "lenet5-test")
    {
        var (train, test) = Split();
        return new Trainer(graph, options, SilentObserver.Instance)
            .Run(train, test, DatasetCatalog.FashionMnist.Normalization, new Trainer.CheckpointPolicy(checkpoint, resume, key));
    }

    [Fact]
    public void TrainingLearnsSomethingQuickly()
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        var (train, test) = Split();
        var result = new Trainer(graph, Small with { BatchSize = 16 }, SilentObserver.Instance)
            .Run(train, test, DatasetCatalog.FashionMnist.Normalization, new Trainer.CheckpointPolicy(null, false, "k"));
        Assert.Equal(2, result.History.Count);
        Assert.True(result.History[^1].TestAccuracy > 0.5, $"test accuracy {result.History[^1].TestAccuracy} after 128 steps");
        Assert.True(result.History[1].TrainLoss < result.History[0].TrainLoss);
    }

    [Fact]
    public void SameSeedGivesBitIdenticalWeights()
    {
        Torch.Ensure();
        using var a = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        using var b = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        var opts = Small with { Epochs = 1 };
        Train(a, opts, null, false);
        Train(b, opts, null, false);
        Assert.Equal(Flat(a), Flat(b));
    }

    [Fact]
    public void ResumingFromACheckpointEqualsTheUninterruptedRun()
    {
        Torch.Ensure();
        using var straight = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        Train(straight, Small, null, false);

        string ckpt = Path.Combine(_dir, "run.ckpt");
        using (var first = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1))
        {
            // Interrupt the 2-epoch run as soon as epoch 1 is done.
            using var stop = new CancellationTokenSource();
            var (train, test) = Split();
            Assert.ThrowsAny<OperationCanceledException>(() =>
                new Trainer(first, Small, new StopAfterFirstEpoch(stop))
                    .Run(train, test, DatasetCatalog.FashionMnist.Normalization, new Trainer.CheckpointPolicy(ckpt, false, "same-run"), stop.Token));
        }
        using var resumed = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        var result = Train(resumed, Small, ckpt, true, key: "same-run");
        Assert.Equal(1, result.ResumedFromEpoch);
        Assert.Equal(Flat(straight), Flat(resumed));
    }

    /// <summary>Cancels the run once the first epoch (and its checkpoint) is done: an interruption at a known point.</summary>
    internal sealed class StopAfterFirstEpoch(CancellationTokenSource stop) : ITrainingObserver
    {
        public void OnBatch(BatchProgress progress) { }
        public void OnEpoch(EpochResult result) => stop.Cancel();
        public void OnMessage(string message) { }
    }

    [Fact]
    public void ACheckpointOfAnotherRunIsRefused()
    {
        Torch.Ensure();
        string ckpt = Path.Combine(_dir, "other.ckpt");
        using (var g = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1))
            Train(g, Small with { Epochs = 1 }, ckpt, false, key: "run-a");
        using var h = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        var e = Assert.Throws<CheckpointException>(() => Train(h, Small, ckpt, true, key: "run-b"));
        Assert.Contains("other.ckpt", e.Message);
        Assert.Contains("different run", e.Message);
    }

    [Fact]
    public void ATruncatedCheckpointIsNamed()
    {
        Torch.Ensure();
        string ckpt = Path.Combine(_dir, "cut.ckpt");
        using (var g = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1))
            Train(g, Small with { Epochs = 1 }, ckpt, false, key: "k");
        var bytes = File.ReadAllBytes(ckpt);
        File.WriteAllBytes(ckpt, bytes[..(bytes.Length / 2)]);
        using var h = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        var e = Assert.Throws<CheckpointException>(() => Train(h, Small, ckpt, true, key: "k"));
        Assert.Contains("cut.ckpt", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Theory]
    [InlineData(0.0, 0.1)]
    [InlineData(0.5, 0.05)]
    [InlineData(1.0, 0.0)]
    public void CosineScheduleFollowsTheFormula(double fraction, double expected)
    {
        var options = new TrainingOptions { Epochs = 10, LearningRate = 0.1, Schedule = ScheduleKind.Cosine };
        Assert.Equal(expected, options.LearningRateAt(10 * fraction), 12);
    }

    [Fact]
    public void InvalidOptionsNameTheField()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainingOptions { BatchSize = 0 }.Validated());
        Assert.Contains("BatchSize", e.Message);
    }

    /// <summary>Hooks change training as written: a loss term λ·‖W‖² on the largest weight drives it towards
    /// zero (and not without the term), and an after-step action that zeroes a tensor leaves it zero, called once per step,
    /// with the after-epoch action once per epoch.</summary>
    [Fact]
    public void Training_hooks_add_loss_terms_and_act_after_steps_and_epochs()
    {
        Torch.Ensure();
        var (train, _) = Split();
        var options = Small with { Epochs = 1 };
        double NormAfter(bool decay)
        {
            using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
            var weight = graph.Parameters().MaxBy(p => p.numel())!; // the largest weight tensor
            new Trainer(graph, options, SilentObserver.Instance, hooks: decay ? [new Decay(weight)] : [])
                .Run(train, null, DatasetCatalog.FashionMnist.Normalization, new Trainer.CheckpointPolicy(null, false, "k"));
            return weight.norm().item<float>();
        }
        double plain = NormAfter(decay: false), decayed = NormAfter(decay: true);
        Assert.True(decayed < 0.2 * plain, $"‖W‖ {decayed} with the term, {plain} without");

        var zeroing = new Zeroing();
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        zeroing.Target = graph.Parameters().Last();
        new Trainer(graph, options, SilentObserver.Instance, hooks: [zeroing])
            .Run(train, null, DatasetCatalog.FashionMnist.Normalization, new Trainer.CheckpointPolicy(null, false, "k"));
        Assert.Equal(0f, zeroing.Target.abs().max().item<float>());
        Assert.Equal(train.Count / options.BatchSize, zeroing.Steps);
        Assert.Equal([0], zeroing.Epochs);
    }

    /// <summary>A large L2 term on one tensor.</summary>
    private sealed class Decay(Parameter weight) : ITrainingHook
    {
        public Tensor? LossTerm(TrainingStep step) => weight.pow(2).sum() * 10.0;
    }

    /// <summary>Zeroes one tensor after every step and records the steps and epochs it saw.</summary>
    private sealed class Zeroing : ITrainingHook
    {
        public Parameter Target = null!;
        public int Steps;
        public List<int> Epochs { get; } = [];
        public void AfterStep(TrainingStep step) { Target.zero_(); Steps++; }
        public void AfterEpoch(int epoch) => Epochs.Add(epoch);
    }
}
