using System.Globalization;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Experiments;
using PimQuant.Quant.Config;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Qat;
using PimQuant.Quant.Quantizers;
using PimQuant.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PimQuant.Methods.Bwq;

/// <summary>BWQ-A's parameters (docs/methods/bwq.md); the defaults fine-tune a trained model in minutes, the paper trains for 650 epochs.</summary>
public sealed record BwqOptions
{
    /// <summary>Rows of a weight block (the OU's wordlines; BWQ: 9).</summary>
    public int BlockRows { get; init; } = 9;

    /// <summary>Columns of a weight block (the OU's bitlines; BWQ: 8).</summary>
    public int BlockColumns { get; init; } = 8;

    /// <summary>n: magnitude bits of a weight (BWQ: 8); a weight is stored as a sign and n bits.</summary>
    public int MagnitudeBits { get; init; } = 8;

    /// <summary>α of the first step of the outer loop.</summary>
    public double Alpha { get; init; } = 0.01;

    /// <summary>Factor α grows by from one step to the next.</summary>
    public double AlphaGrowth { get; init; } = 3;

    /// <summary>Steps of the α phase at most (the phase ends earlier at the first step over the allowed loss).</summary>
    public int AlphaSteps { get; init; } = 4;

    /// <summary>Activation bits the α phase trains with (PACT); the activation phase lowers them one at a time.</summary>
    public int ActivationBits { get; init; } = 8;

    /// <summary>The activation phase stops at this width.</summary>
    public int MinActivationBits { get; init; } = 4;

    /// <summary>Training epochs of every step.</summary>
    public int EpochsPerStep { get; init; } = 1;

    /// <summary>Accuracy loss against FP32 a step may have and be kept (a fraction: 0.01 is one point).</summary>
    public double AllowedLoss { get; init; } = 0.01;

    /// <summary>Optimizer steps between re-quantizations inside an epoch (0: only after each epoch).</summary>
    public int RequantizeEvery { get; init; }

    /// <summary>Throws <see cref="ExperimentException"/> naming the first invalid field.</summary>
    public BwqOptions Validated()
    {
        void Check(bool ok, string name, object value, string expected)
        {
            if (!ok) throw new ExperimentException($"BWQ option {name} = {Convert.ToString(value, CultureInfo.InvariantCulture)}: expected {expected}", ExperimentErrorKind.InvalidOption);
        }
        Check(BlockRows >= 1, nameof(BlockRows), BlockRows, "at least 1");
        Check(BlockColumns >= 1, nameof(BlockColumns), BlockColumns, "at least 1");
        Check(MagnitudeBits is >= 1 and <= 15, nameof(MagnitudeBits), MagnitudeBits, "1 to 15");
        Check(Alpha >= 0 && double.IsFinite(Alpha), nameof(Alpha), Alpha, "a non-negative number");
        Check(AlphaGrowth >= 1 && double.IsFinite(AlphaGrowth), nameof(AlphaGrowth), AlphaGrowth, "at least 1");
        Check(AlphaSteps >= 0, nameof(AlphaSteps), AlphaSteps, "non-negative");
        Check(ActivationBits is >= 2 and <= 16, nameof(ActivationBits), ActivationBits, "2 to 16");
        Check(MinActivationBits >= 2 && MinActivationBits <= ActivationBits, nameof(MinActivationBits), MinActivationBits, $"2 to {ActivationBits}");
        Check(EpochsPerStep >= 1, nameof(EpochsPerStep), EpochsPerStep, "at least 1");
        Check(AllowedLoss >= 0 && AllowedLoss < 1, nameof(AllowedLoss), AllowedLoss, "in [0, 1)");
        Check(RequantizeEvery >= 0, nameof(RequantizeEvery), RequantizeEvery, "non-negative");
        return this;
    }
}

/// <summary>A BWQ-A run: fine-tunes <paramref name="Model"/> with bit-plane weights and writes the block-precision model.</summary>
/// <param name="Model">The trained ONNX model.</param>
/// <param name="Data">Dataset, directory and preprocessing.</param>
/// <param name="Options">BWQ-A's parameters.</param>
/// <param name="Training">Optimizer, learning rate, batch, augmentation and seed of every step (its epochs are <see cref="BwqOptions.EpochsPerStep"/>).</param>
/// <param name="CalibrationImages">Training images that set the activation quantizers' first clips.</param>
/// <param name="Output">Where the model is written (ONNX QDQ: integer codes, per-block precision).</param>
/// <param name="Checkpoints">Folder of the steps' checkpoints (one file per step).</param>
/// <param name="Resume">Continue from the checkpoints in <paramref name="Checkpoints"/>.</param>
/// <param name="Command">The command line stamped into the written model.</param>
/// <param name="Images">Evaluate on the first N test images; null: all.</param>
public sealed record BwqRequest(string Model, DataOptions Data, BwqOptions Options, TrainingOptions Training, int CalibrationImages, string Output,
    string Checkpoints, bool Resume = false, string Command = "", int? Images = null);

/// <summary>One step of BWQ-A's outer loop, as logged.</summary>
/// <param name="Index">The step, from 0.</param>
/// <param name="Phase"><c>alpha</c> (α rising) or <c>activation</c> (activation bits falling).</param>
/// <param name="Alpha">α of the step.</param>
/// <param name="ActivationBits">Activation bits of the step.</param>
/// <param name="Accuracy">Test accuracy after the step (exact bits).</param>
/// <param name="MeanWeightBits">Mean stored bits per weight after the step, sign included (a pruned block's weights count 0).</param>
/// <param name="Kept">Whether the loss stayed within the allowed loss, so the run continued from this step.</param>
/// <param name="Seconds">Training time of the step (0 for a step read from its checkpoint).</param>
public sealed record BwqStep(int Index, string Phase, double Alpha, int ActivationBits, double Accuracy, double MeanWeightBits, bool Kept, double Seconds);

/// <summary>What a BWQ-A run measured and wrote.</summary>
/// <param name="Fp32Accuracy">The model's accuracy before BWQ.</param>
/// <param name="Steps">The outer loop's steps.</param>
/// <param name="Accuracy">Accuracy of the written model (fake-quantized integers).</param>
/// <param name="MeanWeightBits">Its mean stored bits per weight, sign included.</param>
/// <param name="ActivationBits">Its activation bits.</param>
/// <param name="Alpha">α of the kept state.</param>
/// <param name="Blocks">Weight blocks of all layers.</param>
/// <param name="PrunedBlocks">Blocks of precision 0.</param>
/// <param name="Output">The written model.</param>
/// <param name="DatasetName">The dataset.</param>
/// <param name="TestImages">Test images evaluated.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record BwqResult(double Fp32Accuracy, IReadOnlyList<BwqStep> Steps, double Accuracy, double MeanWeightBits, int ActivationBits,
    double Alpha, long Blocks, long PrunedBlocks, string Output, string DatasetName, int TestImages, double Seconds);

/// <summary>
/// BWQ-A (docs/methods/bwq.md): the model's batch norms are folded, every Conv/Gemm weight becomes bit planes
/// (<see cref="BitPlaneLayer"/>), and an outer loop trains with the block group lasso, raising α step by step while the test
/// accuracy stays within <see cref="BwqOptions.AllowedLoss"/> of FP32, then lowering the activation bits (PACT) one at a time under
/// the same rule. A step over the limit is undone and ends its phase. Every step is a <see cref="Trainer"/> run with the
/// <see cref="BitPlaneHook"/> and a checkpoint of its own, so a run resumes at the step it stopped in, and the steps done replay
/// from their checkpoints to the same decisions.
/// </summary>
public static class BwqTraining
{
    private const int EvaluationBatch = 256;

    /// <summary>Runs <paramref name="request"/>.</summary>
    /// <exception cref="ExperimentException">A mistake in the request, named.</exception>
    public static BwqResult Run(BwqRequest request, IExperimentProgress progress, Action<BwqStep>? onStep, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = request.Options.Validated();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var graph = ModelFiles.Load(request.Model);
        var data = request.Data.Resolve(graph, request.Model, request.Images);
        var train = data.LoadTrain();
        Quantization.CheckCalibrationCount(train, request.CalibrationImages);
        progress.Log($"{train}; test {data.Test.Count} images");
        double fp32 = Evaluation.Run(new GraphExecutor(graph), data.Test, data.Normalization, EvaluationBatch, progress, cancel).Accuracy;
        progress.Log($"FP32 accuracy {fp32:P2} on {data.Test.Count} test images");
        BatchNormFolding.Run(graph);
        ShapeInference.Run(graph);

        using var scope = NewDisposeScope();
        var layers = BitPlanes(graph, options);
        try
        {
            foreach (var layer in layers) layer.Requantize();
            using var calibration = Quantization.CalibrationImages(train, data.Normalization, request.CalibrationImages, request.Training.Seed);
            string baseKey = string.Join('|', "bwq", ModelFiles.Digest(request.Model), data.DatasetName, train.Count, data.Test.Count, request.CalibrationImages,
                options, request.Training with { Epochs = options.EpochsPerStep });

            var steps = new List<BwqStep>();
            var activations = ActivationModel(graph, layers, options.ActivationBits, null, calibration, cancel);
            var kept = Snapshot.Take(graph, layers, activations);
            double keptAlpha = 0;
            int keptBits = options.ActivationBits;
            try
            {
                // The α phase at the starting activation width, then the activation phase at the kept α.
                var plan = new List<(string Phase, double Alpha, int Bits)>();
                for (int k = 0; k < options.AlphaSteps; k++) plan.Add(("alpha", options.Alpha * Math.Pow(options.AlphaGrowth, k), options.ActivationBits));
                int index = 0;
                bool phaseOver = false;
                string phase = "alpha";
                foreach (var planned in plan.Concat(ActivationSteps(options)))
                {
                    if (planned.Phase != phase) (phase, phaseOver) = (planned.Phase, false);
                    if (phaseOver) continue;
                    double alpha = planned.Phase == "alpha" ? planned.Alpha : keptAlpha;
                    activations = ActivationModel(graph, layers, planned.Bits, activations, calibration, cancel);
                    var result = RunStep(request, graph, layers, activations, alpha, index, baseKey, data, train, progress, cancel);
                    double accuracy = result.History[^1].TestAccuracy ?? 0;
                    bool ok = fp32 - accuracy <= options.AllowedLoss + 1e-12;
                    double seconds = result.History.Skip(result.ResumedFromEpoch).Sum(h => h.Seconds);
                    var step = new BwqStep(index, planned.Phase, alpha, planned.Bits, accuracy, MeanStoredBits(layers), ok, seconds);
                    steps.Add(step);
                    onStep?.Invoke(step);
                    progress.Log(string.Create(CultureInfo.InvariantCulture,
                        $"step {index} ({step.Phase}): alpha {alpha:G3}, a{planned.Bits}: accuracy {accuracy:P2}, {step.MeanWeightBits:F2} bits/weight — {(ok ? "kept" : "over the limit, undone")}"));
                    if (ok)
                    {
                        kept.Dispose();
                        kept = Snapshot.Take(graph, layers, activations);
                        (keptAlpha, keptBits) = (alpha, planned.Bits);
                    }
                    else
                    {
                        kept.Restore();
                        kept.RestoreClips(activations);
                        phaseOver = true;
                    }
                    index++;
                }

                // The kept state, with its activation width and clips, is what is written.
                activations = ActivationModel(graph, layers, keptBits, activations, calibration, cancel);
                kept.RestoreClips(activations);
                using var final = FinalModel(graph, layers, activations, options);
                double writtenAccuracy = Evaluation.Run(final.CreateExecutor(), data.Test, data.Normalization, EvaluationBatch, progress, cancel).Accuracy;
                var notes = Quantization.Export(final, request.Output, request.Command);
                foreach (var note in notes) progress.Log(note);
                long blocks = layers.Sum(l => (long)l.Blocks);
                long pruned = layers.Sum(l => (long)l.BlockPrecision().Count(p => p == 0));
                return new BwqResult(fp32, steps, writtenAccuracy, MeanStoredBits(layers), keptBits, keptAlpha, blocks, pruned,
                    Path.GetFullPath(request.Output), data.DatasetName, data.Test.Count, watch.Elapsed.TotalSeconds);
            }
            finally
            {
                kept.Dispose();
                activations.Dispose();
            }
        }
        finally
        {
            foreach (var layer in layers) layer.Dispose();
        }
    }

    /// <summary>The activation phase's steps: one bit narrower each, down to the minimum.</summary>
    private static IEnumerable<(string Phase, double Alpha, int Bits)> ActivationSteps(BwqOptions options)
    {
        for (int bits = options.ActivationBits - 1; bits >= options.MinActivationBits; bits--) yield return ("activation", 0, bits);
    }

    /// <summary>The bit planes of every Conv/Gemm/MatMul weight; each graph weight becomes a constant the planes' value is written to.</summary>
    private static List<BitPlaneLayer> BitPlanes(ModelGraph graph, BwqOptions options)
    {
        var block = new ScaleGranularity.PerOuBlock(options.BlockRows, options.BlockColumns);
        var layers = new List<BitPlaneLayer>();
        foreach (var layer in QuantizableLayer.Find(graph))
        {
            var initializer = graph.Initializers[layer.WeightName];
            layers.Add(new BitPlaneLayer(layer.Name, layer.WeightName, initializer.Value, layer.Lowering(graph), block, options.MagnitudeBits));
            graph.Initializers[layer.WeightName] = initializer with { Kind = InitializerKind.Constant };
        }
        if (layers.Count == 0) throw new ExperimentException("the model has no Conv, Gemm or MatMul weight for BWQ to quantize");
        return layers;
    }

    /// <summary>Writes every layer's exact-bit weight into the graph, so the graph alone computes what the planes do.</summary>
    private static void WriteWeights(ModelGraph graph, IReadOnlyList<BitPlaneLayer> layers)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var layer in layers) graph.Initializers[layer.WeightName].Value.copy_(layer.Weight());
    }

    /// <summary>
    /// The activation quantizers of a step (no weight quantizer: the planes give exact weights): unsigned PACT clips at
    /// <paramref name="bits"/> where the input is non-negative, max-calibrated signed ones elsewhere. A width already built is
    /// reused (its clips carry on); a new width starts from the previous width's clips, or from calibration for the first.
    /// </summary>
    private static QuantizedModel ActivationModel(ModelGraph graph, IReadOnlyList<BitPlaneLayer> layers, int bits, QuantizedModel? previous,
        Tensor calibration, CancellationToken cancel)
    {
        if (previous is not null && previous.Layers.All(l => l.Activation is not { } a || a.Spec.Format.Bits == bits)) return previous;
        WriteWeights(graph, layers);
        var plan = QuantizationPlan.Uniform(graph, weight: null, QuantizerSpec.IntActivationPerTensor(bits, signed: false));
        var model = new QuantizedModel(graph, plan);
        try
        {
            PostTrainingQuantization.Calibrate(model, calibration, 128, cancellation: cancel);
            model.Mode = QuantizationMode.Quantized;
            if (previous is not null)
                foreach (var layer in model.Layers)
                    if (layer.Activation is { } a && previous.Layer(layer.Name)?.Activation?.Clip is { } clip)
                        using (no_grad()) a.SetParameters((clip.detach() / a.Spec.Format.MaxLevel).reshape(1), null);
            QuantizationAwareTraining.Prepare(model, new QatLearning(Lsq: false, Pact: true));
            previous?.Dispose();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>One step of the outer loop: a trainer run with the bit-plane kernels and hook, checkpointed to its own file.</summary>
    private static TrainingResult RunStep(BwqRequest request, ModelGraph graph, IReadOnlyList<BitPlaneLayer> layers, QuantizedModel activations,
        double alpha, int index, string baseKey, ResolvedData data, PimQuant.Data.ImageDataset train, IExperimentProgress progress, CancellationToken cancel)
    {
        var byWeight = layers.ToDictionary(l => l.WeightName, StringComparer.Ordinal);
        INodeKernel? Overrides(Node node)
        {
            var inner = activations.Overrides(node);
            if (node.Inputs.Length < 2 || !byWeight.TryGetValue(node.Inputs[1], out var layer)) return inner;
            return new BitPlaneKernel(layer, inner ?? StandardKernels.ByOpType[node.OpType]);
        }
        int bits = activations.Layers.Select(l => l.Activation?.Spec.Format.Bits ?? 0).Max();
        var parameters = layers.Select(l => ($"bwq.planes.{l.Name}", l.Planes)).Concat(activations.QuantizerParameters()).ToList();
        var hook = new BitPlaneHook(layers, alpha, request.Options.RequantizeEvery);
        string key = string.Create(CultureInfo.InvariantCulture, $"{baseKey}|step={index}|alpha={alpha:R}|a{bits}");
        var policy = new Trainer.CheckpointPolicy(Path.Combine(request.Checkpoints, $"step-{index}.ckpt"), request.Resume, key);
        var options = request.Training with { Epochs = request.Options.EpochsPerStep };
        // Made by the first step, so a run of no step (pimq quantize --scheme bwq) leaves no empty folder.
        Directory.CreateDirectory(request.Checkpoints);
        return TrainingObserver.Run(progress, string.Create(CultureInfo.InvariantCulture, $"BWQ step {index}: alpha {alpha:G3}, a{bits}"),
            observer => new Trainer(graph, options, observer, Overrides, parameters, [hook]).Run(train, data.Test, data.Normalization, policy, cancel));
    }

    /// <summary>Mean stored bits per weight over every layer, sign included: Σ size_g · (p_g + 1, or 0 pruned) / weights.</summary>
    public static double MeanStoredBits(IReadOnlyList<BitPlaneLayer> layers)
    {
        double bits = 0, weights = 0;
        foreach (var layer in layers)
        {
            var p = layer.BlockPrecision();
            for (int g = 0; g < p.Length; g++) bits += (double)layer.BlockSizes[g] * (p[g] == 0 ? 0 : p[g] + 1);
            weights += layer.Weights;
        }
        return bits / weights;
    }

    /// <summary>
    /// The model BWQ-H runs: signed integer weights of n + 1 bits (sign and magnitude, narrow range), one step s/(2^n − 1) per layer,
    /// and a precision map of p + 1 bits per block (pruned at p = 0); the activation quantizers at the kept width and clips.
    /// Its integer weights are the planes' levels exactly.
    /// </summary>
    public static QuantizedModel FinalModel(ModelGraph graph, IReadOnlyList<BitPlaneLayer> layers, QuantizedModel activations, BwqOptions options)
    {
        WriteWeights(graph, layers);
        var family = new IntegerFormat(options.MagnitudeBits + 1, Signed: true, NarrowRange: true);
        var byName = layers.ToDictionary(l => l.Name, StringComparer.Ordinal);
        var plan = new QuantizationPlan([.. activations.Plan.Layers.Select(l =>
        {
            var layer = byName[l.Layer.Name];
            var precision = WeightPrecision.FromBits(layer.Block, [.. layer.BlockPrecision().Select(p => p == 0 ? 0 : p + 1)], family);
            var weight = new QuantizerSpec { Format = family, Precision = precision };
            return l with { Weight = weight, Activation = l.Activation is null ? null : l.Activation with { Learning = LearningMode.None } };
        })]);
        var model = new QuantizedModel(graph, plan);
        try
        {
            foreach (var layer in model.Layers)
            {
                layer.Weight!.SetParameters(tensor(new[] { (float)byName[layer.Name].Step }), null);
                if (layer.Activation is { } a && activations.Layer(layer.Name)?.Activation is { } trained)
                    using (no_grad()) a.SetParameters(trained.Scale().detach().clone(), null);
            }
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A copy of the state a step changes (graph tensors, planes, masks, activation clips), to undo a step over the limit.</summary>
    private sealed class Snapshot : IDisposable
    {
        private readonly List<(Tensor Target, Tensor Copy)> _tensors = [];
        private readonly Dictionary<string, Tensor> _clips = new(StringComparer.Ordinal);

        public static Snapshot Take(ModelGraph graph, IReadOnlyList<BitPlaneLayer> layers, QuantizedModel activations)
        {
            var snapshot = new Snapshot();
            using var noGrad = no_grad();
            foreach (var initializer in graph.Initializers.Values) snapshot.Add(initializer.Value);
            foreach (var layer in layers)
            {
                snapshot.Add(layer.Planes);
                snapshot.Add(layer.Masks);
            }
            foreach (var layer in activations.Layers)
                if (layer.Activation?.Clip is { } clip)
                    snapshot._clips[layer.Name] = clip.detach().clone().DetachFromDisposeScope();
            return snapshot;
        }

        private void Add(Tensor target) => _tensors.Add((target, target.detach().clone().DetachFromDisposeScope()));

        public void Restore()
        {
            using var noGrad = no_grad();
            foreach (var (target, copy) in _tensors) target.copy_(copy);
        }

        /// <summary>Sets the clips of <paramref name="activations"/> to the snapshot's (those it has).</summary>
        public void RestoreClips(QuantizedModel activations)
        {
            using var noGrad = no_grad();
            foreach (var layer in activations.Layers)
                if (layer.Activation?.Clip is { } clip && _clips.TryGetValue(layer.Name, out var saved)) clip.copy_(saved);
        }

        public void Dispose()
        {
            foreach (var (_, copy) in _tensors) copy.Dispose();
            foreach (var clip in _clips.Values) clip.Dispose();
        }
    }
}
