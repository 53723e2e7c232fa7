using System.Diagnostics;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Runtime;
using PimQuant.Quant.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Quant.Ptq;

/// <summary>
/// Post-training quantization of a <see cref="QuantizedModel"/> from calibration images:
/// <list type="number">
/// <item>calibration — weight quantizers observe the weights, activation quantizers observe the
/// layers' inputs over the images (full-precision forward passes);</item>
/// <item>block reconstruction (optional, <see cref="ReconstructionOptions"/>) — block after block,
/// inputs from the already quantized blocks, targets from the full-precision model;</item>
/// <item>bias correction (optional) — layer after layer, in graph order.</item>
/// </list>
/// Deterministic: the same model, images, options and thread count give the same result.
/// </summary>
public static class PostTrainingQuantization
{
    /// <summary>Quantizes <paramref name="model"/> in place and leaves it in <see cref="QuantizationMode.Quantized"/> mode.</summary>
    /// <param name="model">The model; its graph's biases may change (bias correction).</param>
    /// <param name="images">Calibration images, (N, C, H, W), normalised as the model expects.</param>
    /// <param name="options">What to do.</param>
    /// <param name="progress">Receives progress, or null.</param>
    /// <param name="cancellation">Stops between steps.</param>
    public static PtqReport Run(QuantizedModel model, Tensor images, PtqOptions options, Action<PtqProgress>? progress = null, CancellationToken cancellation = default)
    {
        options.Validated();
        var watch = Stopwatch.StartNew();
        Calibrate(model, images, options.BatchSize, progress, cancellation);
        double calibrationSeconds = watch.Elapsed.TotalSeconds;

        watch.Restart();
        var blocks = options.Reconstruction is { } r
            ? Reconstruct(model, images, r, options.BatchSize, options.Seed, progress, cancellation)
            : [];
        double reconstructionSeconds = watch.Elapsed.TotalSeconds;

        watch.Restart();
        var corrections = options.CorrectsBiases ? CorrectBiases(model, images, options.BatchSize, progress, cancellation) : [];
        return new PtqReport((int)images.shape[0], calibrationSeconds, blocks, reconstructionSeconds, corrections, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Calibrates every quantizer: weights from the graph, activations over <paramref name="images"/>.</summary>
    public static void Calibrate(QuantizedModel model, Tensor images, int batchSize, Action<PtqProgress>? progress = null, CancellationToken cancellation = default)
    {
        model.CalibrateWeights();
        var executor = model.CreateExecutor();
        executor.Training = false;
        model.Mode = QuantizationMode.Calibration;
        try
        {
            int total = (int)((images.shape[0] + batchSize - 1) / batchSize), done = 0;
            foreach (var batch in images.split(batchSize))
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                executor.Forward(batch);
                progress?.Invoke(new PtqProgress("calibration", ++done, total, "observing activations"));
                TorchRuntime.ReleaseFinalizedNativeObjects();
            }
            model.FinishActivationCalibration();
        }
        finally
        {
            model.Mode = QuantizationMode.Quantized;
        }
    }

    /// <summary>Runs <paramref name="executor"/> over <paramref name="inputs"/> in chunks without gradients; the outputs concatenated.</summary>
    private static Tensor Propagate(GraphExecutor executor, Tensor inputs, int batchSize)
    {
        using var noGrad = no_grad();
        executor.Training = false;
        var outputs = new List<Tensor>();
        foreach (var chunk in inputs.split(batchSize))
        {
            outputs.Add(executor.Forward(chunk));
            TorchRuntime.ReleaseFinalizedNativeObjects();
        }
        return cat(outputs, 0);
    }

    /// <summary>Mean squared block-output error per image: Σ over the output's elements, averaged over images.</summary>
    private static double OutputError(Tensor output, Tensor target) =>
        (output - target).square().sum().item<float>() / output.shape[0];

    private static IReadOnlyList<BlockReconstruction> Reconstruct(QuantizedModel model, Tensor images, ReconstructionOptions options,
        int batchSize, long seed, Action<PtqProgress>? progress, CancellationToken cancellation)
    {
        var quantized = model.Layers.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
        var blocks = BlockPartition.Of(model.Graph, quantized);
        var reports = new List<BlockReconstruction>();
        var mode = model.Mode;
        using var scope = NewDisposeScope();
        // Block inputs as the quantized model computes them, and as the full-precision one does.
        Tensor quantizedInput = images.alias(), fullInput = images.alias();
        try
        {
            foreach (var block in blocks)
            {
                var watch = Stopwatch.StartNew();
                using var blockScope = NewDisposeScope();
                var executor = new GraphExecutor(BlockPartition.Subgraph(model.Graph, block), model.Overrides);
                model.Mode = QuantizationMode.FullPrecision;
                var target = Propagate(executor, fullInput, batchSize);
                model.Mode = QuantizationMode.Quantized;
                double before;
                using (var unoptimised = Propagate(executor, quantizedInput, batchSize)) before = OutputError(unoptimised, target);
                var layers = block.Layers.Select(name => model.Layer(name)!).ToList();
                Optimise(model, block, layers, executor, quantizedInput, fullInput, target, options, unchecked(seed * 1_000_003 + block.Index), progress, cancellation);
                var output = Propagate(executor, quantizedInput, batchSize);
                double after = OutputError(output, target);
                reports.Add(new BlockReconstruction(block.Index, block.ToString(), block.Layers, before, after, watch.Elapsed.TotalSeconds));
                // The next block reads what this quantized block produces, and the full-precision target.
                quantizedInput.Dispose();
                fullInput.Dispose();
                quantizedInput = output.MoveToOuterDisposeScope();
                fullInput = target.MoveToOuterDisposeScope();
            }
        }
        finally
        {
            model.Mode = mode;
            model.Dropping = null;
        }
        return reports;
    }

    private static void Optimise(QuantizedModel model, QuantBlock block, List<QuantizedLayer> layers, GraphExecutor executor,
        Tensor quantizedInput, Tensor fullInput, Tensor target, ReconstructionOptions options, long seed,
        Action<PtqProgress>? progress, CancellationToken cancellation)
    {
        var roundings = new List<Parameter>();
        var steps = new List<Parameter>();
        foreach (var layer in layers)
        {
            if (layer.Weight is { } w && w.Spec.Rounding == RoundingMode.Learned)
                roundings.Add(w.BeginLearnedRounding(model.WeightOf(layer)));
            if (options.LearnActivationSteps && layer.Activation is { IsDynamic: false, Clip: null } a)
                steps.Add(a.EnableLearnedScale());
        }
        if (roundings.Count == 0 && steps.Count == 0) return;
        using var generator = new Generator(unchecked((ulong)seed));
        using var roundingOptimizer = roundings.Count > 0 ? optim.Adam(roundings, options.RoundingLearningRate) : null;
        using var stepOptimizer = steps.Count > 0 && options.StepLearningRate > 0 ? optim.Adam(steps, options.StepLearningRate) : null;
        model.Dropping = options.DropProbability > 0 ? new ActivationDropping(options.DropProbability, generator) : null;
        var atInput = layers.Where(l => l.Plan.Layer.Name is var name && block.Nodes.First(n => n.Name == name).Inputs[0] == block.Input).ToList();
        long count = quantizedInput.shape[0];
        int batch = (int)Math.Min(options.BatchSize, count);
        executor.Training = false;
        try
        {
            for (int it = 0; it < options.Iterations; it++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var iteration = NewDisposeScope();
                var pick = randperm(count, generator: generator).narrow(0, 0, batch);
                var x = quantizedInput.index_select(0, pick);
                if (model.Dropping is not null)
                {
                    var reference = fullInput.index_select(0, pick);
                    foreach (var layer in atInput) layer.DropValue = reference;
                }
                var y = target.index_select(0, pick);
                roundingOptimizer?.zero_grad();
                stepOptimizer?.zero_grad();
                var output = executor.Forward(x);
                var loss = (output - y).square().sum(1).mean();
                if (options.RegularizerOn(it) && options.RoundingLossWeight > 0)
                {
                    double beta = options.BetaAt(it);
                    foreach (var layer in layers)
                        if (layer.Weight is { HasLearnedRounding: true } w)
                            loss = loss + options.RoundingLossWeight * w.RoundingRegularizer(beta);
                }
                loss.backward();
                roundingOptimizer?.step();
                stepOptimizer?.step();
                if ((it + 1) % 50 == 0 || it + 1 == options.Iterations)
                {
                    progress?.Invoke(new PtqProgress("reconstruction", it + 1, options.Iterations, $"block {block.Index + 1}: {block}"));
                    // With the progress, every 50 iterations: their batches are small, so the heap fragments slowly.
                    TorchRuntime.ReleaseFinalizedNativeObjects();
                }
            }
        }
        finally
        {
            foreach (var layer in atInput) layer.DropValue = null;
            model.Dropping = null;
            foreach (var layer in layers)
                if (layer.Weight is { } w) w.SoftRounding = false;
        }
    }

    /// <summary>
    /// Empirical bias correction (Nagel et al. 2019), layer by layer in graph order: bias_c −= E[y_q,c] − E[y_c],
    /// the expectation over the calibration images and the output's positions, where y_q is the quantized
    /// layer's output and y the same layer's output in float32 (quantizers off) on the same input — the input
    /// the quantized model, its earlier layers already corrected, hands the layer. So each layer removes the
    /// mean error its own quantization adds, and only that: comparing with the full-precision model's output
    /// instead would also make the layer absorb the mean shift that the earlier layers' errors cause after
    /// passing through ReLUs and clipping, which is not this layer's to fix. Layers without a bias tensor are
    /// left alone. Runs block by block (<see cref="BlockPartition"/>) on cached block inputs, so each layer costs
    /// two passes over its own block, not over the whole network.
    /// </summary>
    public static IReadOnlyList<LayerBiasCorrection> CorrectBiases(QuantizedModel model, Tensor images, int batchSize,
        Action<PtqProgress>? progress = null, CancellationToken cancellation = default)
    {
        var graph = model.Graph;
        var nodes = graph.Nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        bool Correctable(QuantizedLayer l) => l.Weight is not null && nodes[l.Name].InputAt(2) is { } b && graph.Initializers.ContainsKey(b);
        int total = model.Layers.Count(Correctable);
        if (total == 0) return [];
        var blocks = BlockPartition.Of(graph, model.Layers.Select(l => l.Name).ToHashSet(StringComparer.Ordinal));
        var corrections = new List<LayerBiasCorrection>();
        var mode = model.Mode;
        model.Mode = QuantizationMode.Quantized;
        using var scope = NewDisposeScope();
        Tensor input = images.alias();
        try
        {
            foreach (var block in blocks)
            {
                using var blockScope = NewDisposeScope();
                var executor = new GraphExecutor(BlockPartition.Subgraph(graph, block), model.Overrides);
                foreach (var layer in block.Layers.Select(name => model.Layer(name)!).Where(Correctable))
                {
                    cancellation.ThrowIfCancellationRequested();
                    string output = nodes[layer.Name].Output;
                    var quantized = ChannelMeans(executor, input, batchSize, [output])[0];
                    Tensor reference;
                    (bool weight, bool activation) = (layer.QuantizeWeight, layer.QuantizeActivation);
                    layer.QuantizeWeight = layer.QuantizeActivation = false;
                    try { reference = ChannelMeans(executor, input, batchSize, [output])[0]; }
                    finally { (layer.QuantizeWeight, layer.QuantizeActivation) = (weight, activation); }
                    var shift = quantized - reference;
                    using (no_grad())
                    {
                        var bias = graph.Initializers[nodes[layer.Name].Inputs[2]].Value;
                        bias.sub_(shift.reshape(bias.shape).to_type(bias.dtype));
                    }
                    corrections.Add(new LayerBiasCorrection(layer.Name, shift.abs().max().item<double>()));
                    progress?.Invoke(new PtqProgress("bias correction", corrections.Count, total, layer.Name));
                }
                var next = Propagate(executor, input, batchSize);
                input.Dispose();
                input = next.MoveToOuterDisposeScope();
            }
        }
        finally
        {
            model.Mode = mode;
        }
        return corrections;
    }

    /// <summary>Per-channel (dimension 1) means of <paramref name="values"/> over the images and every other dimension, in float64, in the caller's scope.</summary>
    private static List<Tensor> ChannelMeans(GraphExecutor executor, Tensor images, int batchSize, IReadOnlyList<string> values)
    {
        executor.Training = false;
        var sums = new List<Tensor>();
        long[] counts = new long[values.Count];
        using var noGrad = no_grad();
        foreach (var chunk in images.split(batchSize))
        {
            using var scope = NewDisposeScope();
            var captured = executor.RunCapturing([chunk], values);
            for (int k = 0; k < values.Count; k++)
            {
                var v = captured[values[k]].to_type(ScalarType.Float64);
                var dims = Enumerable.Range(0, (int)v.dim()).Where(d => d != 1).Select(d => (long)d).ToArray();
                var sum = v.sum(dims).MoveToOuterDisposeScope();
                if (sums.Count <= k) sums.Add(sum);
                else sums[k].add_(sum);
                counts[k] += v.numel() / v.shape[1];
            }
            TorchRuntime.ReleaseFinalizedNativeObjects();
        }
        return sums.Select((s, k) => s.div_(counts[k])).ToList();
    }
}
