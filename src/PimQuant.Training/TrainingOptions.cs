namespace PimQuant.Training;

/// <summary>The optimizer that updates the weights.</summary>
public enum OptimizerKind { Sgd, AdamW }

/// <summary>How the learning rate evolves over the run.</summary>
public enum ScheduleKind { Cosine, Step, Constant }

/// <summary>
/// Everything that determines a training run. Validated on construction; together with the
/// model, data and seed it fixes the result bit for bit (for a given thread count).
/// </summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 30;
    public int BatchSize { get; init; } = 128;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;
    public double LearningRate { get; init; } = 0.1;
    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; } = true;
    public double WeightDecay { get; init; } = 5e-4;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;
    /// <summary>Step schedule: epochs between decays.</summary>
    public int StepEpochs { get; init; } = 10;
    /// <summary>Step schedule: factor applied at each decay.</summary>
    public double StepGamma { get; init; } = 0.1;
    /// <summary>Linear warm-up, in epochs, before the schedule starts.</summary>
    public int WarmupEpochs { get; init; }
    public double LabelSmoothing { get; init; }
    /// <summary>Zero padding for random crops (0 disables).</summary>
    public int CropPadding { get; init; } = 2;
    public bool HorizontalFlip { get; init; } = true;
    public long Seed { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public TrainingOptions Validated()
    {
        Check(Epochs >= 1, nameof(Epochs), Epochs, "at least 1");
        Check(BatchSize >= 1, nameof(BatchSize), BatchSize, "at least 1");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), LearningRate, "a positive number");
        Check(Momentum is >= 0 and < 1, nameof(Momentum), Momentum, "in [0, 1)");
        Check(!Nesterov || Momentum > 0 || Optimizer != OptimizerKind.Sgd, nameof(Nesterov), Nesterov, "used with momentum > 0");
        Check(WeightDecay >= 0, nameof(WeightDecay), WeightDecay, "non-negative");
        Check(StepEpochs >= 1, nameof(StepEpochs), StepEpochs, "at least 1");
        Check(StepGamma is > 0 and <= 1, nameof(StepGamma), StepGamma, "in (0, 1]");
        Check(WarmupEpochs >= 0 && WarmupEpochs < Epochs, nameof(WarmupEpochs), WarmupEpochs, "non-negative and below the epoch count");
        Check(LabelSmoothing is >= 0 and < 1, nameof(LabelSmoothing), LabelSmoothing, "in [0, 1)");
        Check(CropPadding is >= 0 and <= 16, nameof(CropPadding), CropPadding, "between 0 and 16");
        return this;
    }

    private static void Check(bool ok, string field, object value, string expected)
    {
        if (!ok) throw new ArgumentException($"{field} = {value}: must be {expected}", field);
    }

    /// <summary>Learning rate at a fractional epoch position (pure; resume-safe).</summary>
    public double LearningRateAt(double epoch)
    {
        // Warm-up ramps linearly from a tenth of the rate to the full rate.
        if (epoch < WarmupEpochs) return LearningRate * (0.1 + 0.9 * epoch / WarmupEpochs);
        double t = epoch - WarmupEpochs, span = Epochs - WarmupEpochs;
        return Schedule switch
        {
            ScheduleKind.Cosine => 0.5 * LearningRate * (1 + Math.Cos(Math.PI * t / span)),
            ScheduleKind.Step => LearningRate * Math.Pow(StepGamma, Math.Floor(t / StepEpochs)),
            _ => LearningRate,
        };
    }
}
