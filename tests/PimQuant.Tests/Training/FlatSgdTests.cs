using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Training;
using PimQuant.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PimQuant.Tests.Training;

public class FlatSgdTests
{
    /// <summary>Trains lenet5 for a few steps on fixed random batches with the given optimizer; returns the weights.</summary>
    private static float[][] Train(Func<ModelGraph, optim.Optimizer> create, int steps = 4, Action<optim.Optimizer, int>? beforeStep = null)
    {
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 5);
        using var optimizer = create(graph);
        var executor = new GraphExecutor(graph) { Training = true };
        var random = new Generator(11);
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            var x = randn([16, 1, 28, 28], generator: random);
            var y = randint(0, 10, [16], generator: random);
            foreach (var p in graph.Parameters()) p.grad = null;
            F.cross_entropy(executor.Forward(x), y).backward();
            beforeStep?.Invoke(optimizer, s);
            optimizer.step();
        }
        return graph.Parameters().Select(p => p.data<float>().ToArray()).ToArray();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void UpdatesEveryWeightAsSgdDoes(bool nesterov)
    {
        Torch.Ensure();
        // A learning rate that changes between steps, as the trainer's schedule does.
        void Schedule(optim.Optimizer o, int step) { foreach (var g in o.ParamGroups) g.LearningRate = 0.1 / (step + 1); }
        var plain = Train(g => optim.SGD(g.Parameters(), 0.1, 0.9, 0, 5e-4, nesterov), beforeStep: Schedule);
        var flat = Train(g => new FlatSgd(g.Parameters().ToList(), 0.1, 0.9, 5e-4, nesterov), beforeStep: Schedule);
        Assert.Equal(plain.Length, flat.Length);
        for (int i = 0; i < plain.Length; i++)
            for (int j = 0; j < plain[i].Length; j++)
                Assert.True(Math.Abs(plain[i][j] - flat[i][j]) <= 1e-6f * Math.Max(1f, Math.Abs(plain[i][j])),
                    $"parameter {i}[{j}]: SGD {plain[i][j]}, FlatSgd {flat[i][j]}");
    }

    // Resuming with momentum loaded into fresh buffers: TrainerTests.ResumingFromACheckpointEqualsTheUninterruptedRun.

    [Fact]
    public void ParametersKeepTheirValuesShapesAndIdentity()
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 5);
        var parameters = graph.Parameters().ToList();
        var before = parameters.Select(p => (p.shape, p.data<float>().ToArray())).ToList();
        using var optimizer = new FlatSgd(parameters, 0.1, 0.9, 0, nesterov: true);
        var after = graph.Parameters().ToList();
        for (int i = 0; i < parameters.Count; i++)
        {
            Assert.Same(parameters[i], after[i]);
            Assert.Equal(before[i].shape, after[i].shape);
            Assert.True(after[i].is_contiguous());
            Assert.Equal(before[i].Item2, after[i].data<float>().ToArray());
        }
    }
}
