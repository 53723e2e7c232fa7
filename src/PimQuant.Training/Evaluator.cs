using System.Diagnostics;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Runtime;
using static TorchSharp.torch;

namespace PimQuant.Training;

/// <summary>Top-1 accuracy of a model over a dataset.</summary>
/// <param name="Correct">Images classified correctly.</param>
/// <param name="Total">Images evaluated.</param>
/// <param name="Seconds">Wall time of the evaluation.</param>
public sealed record EvaluationResult(int Correct, int Total, double Seconds)
{
    /// <summary>Top-1 accuracy as a fraction.</summary>
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;

    public double ImagesPerSecond => Seconds > 0 ? Total / Seconds : 0;
}

/// <summary>Runs a model over a dataset in inference mode.</summary>
public static class Evaluator
{
    /// <summary>Evaluates <paramref name="executor"/> on every image of <paramref name="data"/>.</summary>
    /// <param name="executor">The model's executor (inference mode).</param>
    /// <param name="data">Images and labels.</param>
    /// <param name="normalization">Preprocessing of the pixels.</param>
    /// <param name="batchSize">Images per batch.</param>
    /// <param name="progress">Called after each batch with (images done, total).</param>
    /// <param name="cancellation">Stops between batches.</param>
    /// <param name="logits">Called after each batch with its logits, row-major [images, classes], and the number of classes.</param>
    public static EvaluationResult Evaluate(GraphExecutor executor, ImageDataset data, Normalization normalization,
        int batchSize = 256, Action<int, int>? progress = null, CancellationToken cancellation = default, Action<float[], int>? logits = null)
    {
        bool wasTraining = executor.Training;
        executor.Training = false;
        var watch = Stopwatch.StartNew();
        int correct = 0, done = 0;
        try
        {
            using var noGrad = no_grad();
            var loader = new BatchLoader(data, batchSize, shuffle: false, seed: 0, normalization, Augmentation.None, dropLast: false);
            foreach (var batch in loader.Epoch(0, cancellation))
            using (batch)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                using var x = tensor(batch.Images, [batch.Count, batch.Channels, batch.Height, batch.Width]);
                using var y = tensor(batch.Labels);
                var output = executor.Forward(x);
                correct += (int)output.argmax(1).eq(y).sum().item<long>();
                logits?.Invoke(output.contiguous().data<float>().ToArray(), (int)output.shape[1]);
                done += batch.Count;
                progress?.Invoke(done, data.Count);
                TorchRuntime.ReleaseFinalizedNativeObjects();
            }
        }
        finally
        {
            executor.Training = wasTraining;
        }
        return new EvaluationResult(correct, done, watch.Elapsed.TotalSeconds);
    }
}
