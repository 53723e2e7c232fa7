using PimQuant.Training;
using Spectre.Console;

namespace PimQuant.Cli.Terminal;

/// <summary>
/// Shows training progress on stderr: a live bar (epoch, loss, accuracy, images/s, ETA) on a
/// terminal, one line per epoch otherwise, so logs stay readable when redirected.
/// </summary>
public sealed class TrainingProgressView(Output output, ProgressTask? task) : ITrainingObserver
{
    public void OnBatch(BatchProgress p)
    {
        if (task is null) return;
        task.MaxValue = p.Batches;
        task.Value = p.Batch;
        task.Description = $"epoch {p.Epoch}/{p.Epochs}  loss {p.Loss:F4}  acc {p.Accuracy:P2}  {p.ImagesPerSecond:F0} img/s  lr {p.LearningRate:G3}";
    }

    public void OnEpoch(EpochResult r)
    {
        string test = r.TestAccuracy is { } t ? $"  test {t:P2}" : "";
        output.Log($"epoch {r.Epoch}: loss {r.TrainLoss:F4}  train {r.TrainAccuracy:P2}{test}  {r.Seconds:F1} s  {r.ImagesPerSecond:F0} img/s");
    }

    public void OnMessage(string message) => output.Log(message);
}
