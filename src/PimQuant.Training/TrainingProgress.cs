namespace PimQuant.Training;

/// <summary>Progress within an epoch, reported after each batch.</summary>
public sealed record BatchProgress(int Epoch, int Epochs, int Batch, int Batches, double Loss, double Accuracy, double ImagesPerSecond, double LearningRate);

/// <summary>The outcome of one epoch.</summary>
public sealed record EpochResult(int Epoch, double TrainLoss, double TrainAccuracy, double? TestAccuracy, double Seconds, double ImagesPerSecond);

/// <summary>Receives progress; the CLI draws it on stderr, tests ignore it.</summary>
public interface ITrainingObserver
{
    void OnBatch(BatchProgress progress);
    void OnEpoch(EpochResult result);
    void OnMessage(string message);
}

/// <summary>An observer that discards everything.</summary>
public sealed class SilentObserver : ITrainingObserver
{
    public static SilentObserver Instance { get; } = new();
    public void OnBatch(BatchProgress progress) { }
    public void OnEpoch(EpochResult result) { }
    public void OnMessage(string message) { }
}
