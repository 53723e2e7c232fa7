using PimQuant.Training;

namespace PimQuant.Experiments;

/// <summary>A training loop's progress as an experiment step's: each batch moves the step (stage "epoch e/E",
/// the loss, accuracy, images/s and learning rate as detail), each epoch and message is a log line.</summary>
public sealed class TrainingObserver(IExperimentProgress progress, Action<StepProgress> report) : ITrainingObserver
{
    /// <summary>Runs <paramref name="train"/> as a step called <paramref name="title"/>, observed by a <see cref="TrainingObserver"/>.</summary>
    public static TrainingResult Run(IExperimentProgress progress, string title, Func<ITrainingObserver, TrainingResult> train) =>
        progress.Step(title, report => train(new TrainingObserver(progress, report)));

    /// <inheritdoc/>
    public void OnBatch(BatchProgress p) => report(new StepProgress($"epoch {p.Epoch}/{p.Epochs}", p.Batch, p.Batches,
        $"loss {p.Loss:F4}  acc {p.Accuracy:P2}  {p.ImagesPerSecond:F0} img/s  lr {p.LearningRate:G3}"));

    /// <inheritdoc/>
    public void OnEpoch(EpochResult r)
    {
        string test = r.TestAccuracy is { } t ? $"  test {t:P2}" : "";
        progress.Log($"epoch {r.Epoch}: loss {r.TrainLoss:F4}  train {r.TrainAccuracy:P2}{test}  {r.Seconds:F1} s  {r.ImagesPerSecond:F0} img/s");
    }

    /// <inheritdoc/>
    public void OnMessage(string message) => progress.Log(message);
}
