using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Quant.Config;
using PimQuant.Quant.Export;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Statistics;
using static TorchSharp.torch;

namespace PimQuant.Experiments;

/// <summary>The steps every quantization run shares: the config, the quantizers, the calibration images, the statistics and the written model.</summary>
public static class Quantization
{
    /// <summary>The quantization config for <paramref name="weightBits"/>-bit weights (signed, narrow range, per
    /// output channel) and <paramref name="activationBits"/>-bit activations (per tensor, 99.99th percentile,
    /// signed only where the input can be negative): configs/w8a8-per-channel.yaml with the widths substituted,
    /// the ISAAC-style integer model crossbars run.</summary>
    public static QuantConfig Config(int weightBits, int activationBits) => QuantConfigLoader.Parse(string.Format(CultureInfo.InvariantCulture, """
        version: 1
        default:
          weight: {{format: int, bits: {0}, signed: true, narrow_range: true, granularity: channel, observer: minmax, scale: float, rounding: nearest}}
          activation: {{format: int, bits: {1}, signed: auto, granularity: tensor, observer: {{kind: percentile, percentile: 99.99}}, scale: float, rounding: nearest}}
        """, weightBits, activationBits), $"--wbits {weightBits} --abits {activationBits}");

    /// <summary>Reads a quantization config file; a malformed one is an <see cref="ExperimentException"/> naming the file.</summary>
    public static QuantConfig LoadConfig(string path)
    {
        try { return QuantConfigLoader.LoadFile(path); }
        catch (QuantConfigException e) { throw new ExperimentException(e.Message); }
    }

    /// <summary>Folds <paramref name="graph"/>'s batch norms into the convolutions, resolves <paramref name="config"/>
    /// against it and builds the (uncalibrated) quantizers; a config that does not fit the graph is an <see cref="ExperimentException"/>.</summary>
    public static QuantizedModel Build(ModelGraph graph, QuantConfig config, long seed)
    {
        BatchNormFolding.Run(graph);
        ShapeInference.Run(graph);
        try { return new QuantizedModel(graph, config.Resolve(graph), seed); }
        catch (QuantConfigException e) { throw new ExperimentException(e.Message); }
    }

    /// <summary>
    /// Checks that <paramref name="config"/> fits the model at <paramref name="modelPath"/> before anything is evaluated:
    /// resolves it against a folded copy, leaving the caller's graph (whose FP32 accuracy is measured unfolded) as it is.
    /// </summary>
    public static QuantizationPlan Check(string modelPath, QuantConfig config)
    {
        using var probe = ModelFiles.Load(modelPath);
        BatchNormFolding.Run(probe);
        ShapeInference.Run(probe);
        try { return config.Resolve(probe); }
        catch (QuantConfigException e) { throw new ExperimentException(e.Message); }
    }

    /// <summary>Checks that <paramref name="train"/> holds the <paramref name="count"/> calibration images asked for.</summary>
    public static void CheckCalibrationCount(ImageDataset train, int count)
    {
        if (count > train.Count)
            throw new ExperimentException($"--calibration-images {count}: the {train.Name} split has only {train.Count} images", ExperimentErrorKind.InvalidOption);
    }

    /// <summary>The seeded choice of <paramref name="count"/> training images, normalised, as (N, C, H, W) in the caller's scope.</summary>
    public static Tensor CalibrationImages(ImageDataset train, Normalization normalization, int count, long seed)
    {
        CheckCalibrationCount(train, count);
        var chosen = CalibrationSplit.Choose(train.Count, count, seed);
        var values = new float[(long)count * train.ImageSize];
        for (int i = 0; i < count; i++)
            normalization.Apply(train.GetImage(chosen[i]), train.Channels, train.Height * train.Width, values.AsSpan(i * train.ImageSize, train.ImageSize));
        return tensor(values, [count, train.Channels, train.Height, train.Width]);
    }

    /// <summary>Runs post-training quantization as a progress step.</summary>
    public static PtqReport Run(QuantizedModel model, Tensor calibration, PtqOptions options, IExperimentProgress progress, CancellationToken cancel) =>
        progress.Step("quantizing", report => PostTrainingQuantization.Run(model, calibration, options, Forward(report), cancel));

    /// <summary>PTQ's progress as a step's.</summary>
    public static Action<PtqProgress> Forward(Action<StepProgress> report) => p => report(new StepProgress(p.Stage, p.Done, p.Total, p.Detail));

    /// <summary>Attaches digit statistics (1-bit digits, as a 1-bit DAC streams them) to every activation quantizer.</summary>
    public static Dictionary<string, ActivationStatistics> CollectActivationStatistics(QuantizedModel model)
    {
        var statistics = new Dictionary<string, ActivationStatistics>(StringComparer.Ordinal);
        foreach (var layer in model.Layers)
            if (layer.Activation is { } a)
                statistics[layer.Name] = a.Statistics = new ActivationStatistics(a.Spec.Format, digitBits: 1);
        return statistics;
    }

    /// <summary>Writes <paramref name="model"/> as ONNX QDQ to <paramref name="path"/> (atomically), stamping
    /// <paramref name="command"/> into its metadata; returns the rewrite's notes.</summary>
    public static IReadOnlyList<string> Export(QuantizedModel model, string path, string command)
    {
        var qdq = QdqExport.Rewrite(model);
        // The rewrite keeps the model's value shapes, which the exporter writes for the outputs.
        using (var graph = qdq.Graph)
            ModelFiles.Save(graph, path, command);
        return qdq.Notes;
    }

    /// <summary>Top-1 accuracy of an ONNX file in ONNX Runtime (default optimisations) on <paramref name="test"/>.</summary>
    public static double OnnxRuntimeAccuracy(string path, ImageDataset test, Normalization normalization, int batchSize, CancellationToken cancel)
    {
        using var options = new SessionOptions { IntraOpNumThreads = get_num_threads(), InterOpNumThreads = 1 };
        using var session = new InferenceSession(path, options);
        using var run = new RunOptions();
        var loader = new BatchLoader(test, batchSize, shuffle: false, seed: 0, normalization, Augmentation.None, dropLast: false);
        int correct = 0;
        foreach (var batch in loader.Epoch(0, cancel))
        using (batch)
        {
            using var input = OrtValue.CreateTensorValueFromMemory(batch.Images, [batch.Count, batch.Channels, batch.Height, batch.Width]);
            using var results = session.Run(run, [session.InputNames[0]], [input], [session.OutputNames[0]]);
            var logits = results[0].GetTensorDataAsSpan<float>();
            int classes = logits.Length / batch.Count;
            for (int i = 0; i < batch.Count; i++)
            {
                var row = logits.Slice(i * classes, classes);
                int best = 0;
                for (int k = 1; k < classes; k++) if (row[k] > row[best]) best = k;
                if (best == batch.Labels[i]) correct++;
            }
        }
        return (double)correct / test.Count;
    }
}
