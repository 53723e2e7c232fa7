using System.Diagnostics;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PimQuant.Training;

/// <summary>The outcome of a training run.</summary>
public sealed record TrainingResult(IReadOnlyList<EpochResult> History, double Seconds, int ResumedFromEpoch);

/// <summary>
/// Trains a graph with cross-entropy (optionally label-smoothed) plus the hooks' loss terms, SGD or AdamW and a per-step
/// learning-rate schedule; the hooks act after every step and epoch (<see cref="ITrainingHook"/>). Every random choice (shuffle, augmentation, dropout) is a function of
/// the seed and the epoch, and the learning rate a function of the step, so a run resumed from a
/// checkpoint after epoch e continues exactly as the uninterrupted run would.
/// </summary>
/// <param name="graph">The graph whose parameters are trained.</param>
/// <param name="options">The run's options.</param>
/// <param name="observer">Receives progress.</param>
/// <param name="overrides">Kernel substitutions for the executor, e.g. fake-quantized layers (quantization-aware training).</param>
/// <param name="extraParameters">Trained along with the graph's parameters, e.g. learned quantization steps, by name
/// (distinct from the graph's tensor names); checkpoints hold them beside the graph's tensors.</param>
/// <param name="hooks">Extra loss terms and after-step / after-epoch actions, called in order.</param>
public sealed class Trainer(ModelGraph graph, TrainingOptions options, ITrainingObserver observer,
    KernelOverrides? overrides = null, IReadOnlyList<(string Name, Parameter Value)>? extraParameters = null,
    IReadOnlyList<ITrainingHook>? hooks = null)
{
    private readonly IReadOnlyList<ITrainingHook> _hooks = hooks ?? [];

    /// <summary>What checkpoints hold beside the graph: the extra trained tensors, then the hooks' state.</summary>
    private readonly IReadOnlyList<(string Name, Tensor Value)> _extra = (extraParameters ?? []).Select(p => (p.Name, (Tensor)p.Value))
        .Concat((hooks ?? []).SelectMany(h => h.State)).ToList();

    private readonly TrainingOptions _options = options.Validated();

    /// <summary>What the optimizer updates: the graph's parameters, then the extra ones.</summary>
    private readonly IReadOnlyList<Parameter> _trained = graph.Parameters().Concat((extraParameters ?? []).Select(p => p.Value)).ToList();

    /// <summary>Where checkpoints go and whether to continue from one.</summary>
    /// <param name="Path">Checkpoint file written after every epoch (atomically); null disables checkpoints.</param>
    /// <param name="Resume">Continue from <paramref name="Path"/> if it exists.</param>
    /// <param name="RunKey">Identity of the run (model, data, options); a checkpoint of another run is refused.</param>
    public sealed record CheckpointPolicy(string? Path, bool Resume, string RunKey);

    /// <summary>Runs the remaining epochs.</summary>
    public TrainingResult Run(ImageDataset train, ImageDataset? test, Normalization normalization, CheckpointPolicy checkpoints,
        CancellationToken cancellation = default)
    {
        // libtorch's NaN fill of new tensors (a debugging aid of deterministic mode) adds nothing to the results and
        // a parallel region per allocation; see UninitializedMemoryFill.
        using var noFill = UninitializedMemoryFill.Suspend();
        // Channels-last convolutions spare oneDNN a layout reorder of every activation and gradient (about 15 % of a resnet20 step).
        var executor = new GraphExecutor(graph, overrides) { ChannelsLast = true };
        using var optimizer = CreateOptimizer();
        var history = new List<EpochResult>();
        int start = 0;
        if (checkpoints.Resume && checkpoints.Path is not null && File.Exists(checkpoints.Path))
        {
            var loaded = Checkpoint.Load(checkpoints.Path, checkpoints.RunKey, graph, optimizer, _extra);
            start = loaded.EpochsCompleted;
            history.AddRange(loaded.History);
            observer.OnMessage($"resumed from {checkpoints.Path} after epoch {start}");
        }

        var augmentation = new Augmentation(_options.CropPadding, _options.HorizontalFlip);
        var loader = new BatchLoader(train, _options.BatchSize, shuffle: true, _options.Seed, normalization, augmentation, dropLast: true);
        int batches = train.Count / _options.BatchSize;
        if (batches == 0)
            throw new ArgumentException($"the training set has {train.Count} images, fewer than one batch of {_options.BatchSize}");
        var total = Stopwatch.StartNew();
        for (int epoch = start; epoch < _options.Epochs; epoch++)
        {
            cancellation.ThrowIfCancellationRequested();
            // Dropout and any other torch randomness restart from a seed of (seed, epoch).
            manual_seed(_options.Seed * 1_000_003 + epoch);
            var result = RunEpoch(executor, optimizer, loader, epoch, batches, cancellation);
            foreach (var hook in _hooks) hook.AfterEpoch(epoch);
            double? testAccuracy = test is null ? null : Evaluator.Evaluate(executor, test, normalization, 256, cancellation: cancellation).Accuracy;
            result = result with { TestAccuracy = testAccuracy };
            history.Add(result);
            observer.OnEpoch(result);
            if (checkpoints.Path is not null)
                new Checkpoint { RunKey = checkpoints.RunKey, EpochsCompleted = epoch + 1, History = history }
                    .Save(checkpoints.Path, graph, optimizer, _extra);
        }
        executor.Training = false;
        return new TrainingResult(history, total.Elapsed.TotalSeconds, start);
    }

    private EpochResult RunEpoch(GraphExecutor executor, optim.Optimizer optimizer, BatchLoader loader, int epoch, int batches, CancellationToken cancellation)
    {
        executor.Training = true;
        var watch = Stopwatch.StartNew();
        double lossSum = 0;
        long correct = 0, seen = 0;
        int b = 0;
        foreach (var batch in loader.Epoch(epoch, cancellation))
        using (batch)
        {
            cancellation.ThrowIfCancellationRequested();
            double lr = _options.LearningRateAt(epoch + (double)b / batches);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
            using (var scope = NewDisposeScope())
            {
                var x = tensor(batch.Images, [batch.Count, batch.Channels, batch.Height, batch.Width]);
                var y = tensor(batch.Labels);
                ClearGradients();
                var logits = executor.Forward(x);
                var step = new TrainingStep(epoch, b, batches);
                var loss = F.cross_entropy(logits, y, label_smoothing: _options.LabelSmoothing);
                foreach (var hook in _hooks)
                    if (hook.LossTerm(step) is { } term) loss = loss + term;
                loss.backward();
                optimizer.step();
                using (no_grad())
                    foreach (var hook in _hooks) hook.AfterStep(step);
                lossSum += loss.item<float>() * batch.Count;
                correct += logits.argmax(1).eq(y).sum().item<long>();
                seen += batch.Count;
            }
            b++;
            observer.OnBatch(new BatchProgress(epoch + 1, _options.Epochs, b, batches, lossSum / seen, (double)correct / seen,
                seen / watch.Elapsed.TotalSeconds, lr));
        }
        double seconds = watch.Elapsed.TotalSeconds;
        return new EpochResult(epoch + 1, lossSum / seen, (double)correct / seen, null, seconds, seen / seconds);
    }

    /// <summary>
    /// Sets every gradient to none instead of zeroing it (PyTorch's <c>zero_grad(set_to_none=True)</c>): backward
    /// then stores each new gradient rather than adding it to zeros, sparing a fill and an add per parameter.
    /// The step is the same: the graph is static, so every trained tensor gets a gradient in every step.
    /// </summary>
    private void ClearGradients()
    {
        foreach (var p in _trained) p.grad = null;
    }

    private optim.Optimizer CreateOptimizer()
    {
        return _options.Optimizer switch
        {
            // One flat update instead of five small operations per parameter (FlatSgd); the same arithmetic.
            OptimizerKind.Sgd when _options.Momentum > 0 && _trained.All(p => p.dtype == ScalarType.Float32) =>
                new FlatSgd(_trained, _options.LearningRate, _options.Momentum, _options.WeightDecay, _options.Nesterov),
            OptimizerKind.Sgd => optim.SGD(_trained, _options.LearningRate, _options.Momentum, 0, _options.WeightDecay, _options.Nesterov),
            _ => optim.AdamW(_trained, _options.LearningRate, weight_decay: _options.WeightDecay),
        };
    }
}
