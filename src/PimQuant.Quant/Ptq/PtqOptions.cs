namespace PimQuant.Quant.Ptq;

/// <summary>
/// Block-wise reconstruction (BRECQ, Li et al. 2021; QDrop, Wei et al. 2022): per block, learn the
/// rounding of each weight whose quantizer says <c>rounding: learned</c> (AdaRound, Nagel et al. 2020)
/// and each activation step (LSQ) so the quantized block reproduces the full-precision block's output
/// on the calibration images.
/// Loss = ‖ŷ − y‖² (summed over channels, averaged over the rest) + λ·Σ(1 − |2h(V) − 1|^β), the
/// regulariser off for the first <see cref="WarmupFraction"/> of the iterations and β annealed
/// linearly from <see cref="BetaStart"/> to <see cref="BetaEnd"/> over the rest.
/// </summary>
public sealed record ReconstructionOptions
{
    /// <summary>Optimisation steps per block.</summary>
    public int Iterations { get; init; } = 2000;
    /// <summary>Calibration images per step (drawn without replacement from a seeded generator).</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Adam learning rate of the rounding logits V.</summary>
    public double RoundingLearningRate { get; init; } = 1e-3;
    /// <summary>Adam learning rate of the activation steps (QDrop's 4e-5).</summary>
    public double StepLearningRate { get; init; } = 4e-5;
    /// <summary>λ, the weight of the rounding regulariser.</summary>
    public double RoundingLossWeight { get; init; } = 0.01;
    /// <summary>β at the start of the annealing.</summary>
    public double BetaStart { get; init; } = 20;
    /// <summary>β at the end.</summary>
    public double BetaEnd { get; init; } = 2;
    /// <summary>Fraction of the iterations before the regulariser starts.</summary>
    public double WarmupFraction { get; init; } = 0.2;
    /// <summary>
    /// QDrop's activation dropping: each activation element inside the block is left in full precision
    /// with this probability and quantized otherwise (at the block input, a dropped element takes the
    /// full-precision model's value). 0 is plain (BRECQ-style) reconstruction, 0.5 is QDrop.
    /// </summary>
    public double DropProbability { get; init; }
    /// <summary>Learn the activation steps of the block's input quantizers (LSQ) along with the rounding.</summary>
    public bool LearnActivationSteps { get; init; } = true;

    /// <summary>This instance, or an <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public ReconstructionOptions Validated()
    {
        Check(Iterations >= 1, nameof(Iterations), Iterations, "at least 1");
        Check(BatchSize >= 1, nameof(BatchSize), BatchSize, "at least 1");
        Check(RoundingLearningRate > 0 && double.IsFinite(RoundingLearningRate), nameof(RoundingLearningRate), RoundingLearningRate, "positive");
        Check(StepLearningRate >= 0 && double.IsFinite(StepLearningRate), nameof(StepLearningRate), StepLearningRate, "non-negative");
        Check(RoundingLossWeight >= 0 && double.IsFinite(RoundingLossWeight), nameof(RoundingLossWeight), RoundingLossWeight, "non-negative");
        Check(BetaStart > 0 && BetaEnd > 0 && BetaEnd <= BetaStart, nameof(BetaEnd), BetaEnd, "positive and at most BetaStart");
        Check(WarmupFraction is >= 0 and < 1, nameof(WarmupFraction), WarmupFraction, "in [0, 1)");
        Check(DropProbability is >= 0 and < 1, nameof(DropProbability), DropProbability, "in [0, 1)");
        return this;
    }

    /// <summary>β at step <paramref name="iteration"/> (AdaRound's linear temperature decay).</summary>
    public double BetaAt(int iteration)
    {
        double start = WarmupFraction * Iterations;
        if (iteration < start) return BetaStart;
        double progress = (iteration - start) / (Iterations - start);
        return BetaEnd + (BetaStart - BetaEnd) * Math.Max(0, 1 - progress);
    }

    /// <summary>Whether the rounding regulariser is on at step <paramref name="iteration"/>.</summary>
    public bool RegularizerOn(int iteration) => iteration >= WarmupFraction * Iterations;

    internal static void Check(bool ok, string field, object value, string expected)
    {
        if (!ok) throw new ArgumentException($"{field} = {value}: must be {expected}", field);
    }
}

/// <summary>Post-training quantization: calibration, optional block reconstruction, optional bias correction.</summary>
public sealed record PtqOptions
{
    /// <summary>Images per forward pass over the calibration set.</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>
    /// Empirical bias correction (Nagel et al. 2019, <see cref="PostTrainingQuantization.CorrectBiases"/>): true,
    /// false, or null — on for plain rounding, off with <see cref="Reconstruction"/>. Measured on ResNet-20
    /// (docs/quantization.md §11): it helps plain W4A8 (0.9424 against 0.9413) and cannot rescue plain W2A4, whose
    /// shrunken activations it lets the biases dominate; after reconstruction, which fits each block's output (means
    /// included) and lets one layer's learned rounding compensate another's error, it breaks that compensation
    /// (W2A4 with QDrop: 0.9119 without, 0.4586 with).
    /// </summary>
    public bool? BiasCorrection { get; init; }
    /// <summary>Whether bias correction runs: <see cref="BiasCorrection"/>, or by default only without reconstruction.</summary>
    public bool CorrectsBiases => BiasCorrection ?? Reconstruction is null;
    /// <summary>Block reconstruction, or null for plain rounding.</summary>
    public ReconstructionOptions? Reconstruction { get; init; }
    /// <summary>Seed of the reconstruction's batches and dropping.</summary>
    public long Seed { get; init; }

    /// <summary>This instance, or an <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public PtqOptions Validated()
    {
        ReconstructionOptions.Check(BatchSize >= 1, nameof(BatchSize), BatchSize, "at least 1");
        Reconstruction?.Validated();
        return this;
    }
}

/// <summary>Where a post-training quantization run is.</summary>
/// <param name="Stage">calibration, reconstruction or bias correction.</param>
/// <param name="Done">Steps done in the stage.</param>
/// <param name="Total">Steps in the stage.</param>
/// <param name="Detail">What is being worked on, e.g. the block.</param>
public sealed record PtqProgress(string Stage, int Done, int Total, string Detail);

/// <summary>One block's reconstruction: the mean squared output error per image before (nearest rounding) and after.</summary>
public sealed record BlockReconstruction(int Index, string Block, IReadOnlyList<string> Layers, double ErrorBefore, double ErrorAfter, double Seconds);

/// <summary>One layer's bias correction: the largest per-channel shift removed.</summary>
public sealed record LayerBiasCorrection(string Layer, double MaxShift);

/// <summary>What post-training quantization did.</summary>
public sealed record PtqReport(
    int CalibrationImages,
    double CalibrationSeconds,
    IReadOnlyList<BlockReconstruction> Blocks,
    double ReconstructionSeconds,
    IReadOnlyList<LayerBiasCorrection> BiasCorrections,
    double BiasCorrectionSeconds);
