using System.Globalization;
using PimQuant.Experiments;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Training;
using static TorchSharp.torch;

namespace PimQuant.Methods.Bwq;

/// <summary>What <c>pimq reproduce bwq</c> runs: BWQ-A on a model (or a BWQ model trained before), then the paper's comparison.</summary>
/// <param name="Model">The trained ONNX model.</param>
/// <param name="Data">Dataset, directory and preprocessing.</param>
/// <param name="Images">The first N test images (BWQ-A's decisions and every row); null: all.</param>
/// <param name="CalibrationImages">Training images that calibrate the quantizers.</param>
/// <param name="Seed">Seed of every random choice.</param>
/// <param name="BatchSize">Images per simulated batch.</param>
/// <param name="Threads">Threads of the simulator.</param>
/// <param name="Options">BWQ-A's parameters.</param>
/// <param name="Training">The optimizer and schedule of BWQ-A's steps.</param>
/// <param name="Output">Where BWQ-A writes its model, or the BWQ model to simulate when <paramref name="Trained"/>.</param>
/// <param name="Checkpoints">Folder of BWQ-A's step checkpoints.</param>
/// <param name="Resume">Continue BWQ-A from its checkpoints.</param>
/// <param name="Trained">Skip BWQ-A and simulate <paramref name="Output"/>, a BWQ model written before.</param>
/// <param name="CommandLine">The command line stamped into the written model.</param>
public sealed record BwqReproductionRequest(string Model, DataOptions Data, int? Images, int CalibrationImages, long Seed, int BatchSize, int Threads,
    BwqOptions Options, TrainingOptions Training, string Output, string Checkpoints, bool Resume, bool Trained, string CommandLine);

/// <summary>The result rows of <c>pimq reproduce bwq</c> and the BWQ-A run behind them (null when a trained model was given).</summary>
public sealed record BwqReproductionResult(ResultReport Report, BwqResult? Training);

/// <summary>
/// BWQ's reproduction (docs/methods/bwq.md): FP32; the model post-training quantized at W8A8 on <c>isaac</c> and on <c>isaac-ou</c>
/// (dense mapping; the baseline, since BWQ's premise is that practical ReRAM reads one OU at a time); and the BWQ-A model on
/// <c>bwq-h</c> with the precision-aware mapping. Ratios are against <c>isaac-ou</c> W8A8; the paper's 6.08× / 17.47× (over ISAAC)
/// are printed beside, and the notes break reads and energy down by component where the targets are missed.
/// </summary>
public static class BwqReproduction
{
    /// <summary>The command name the report carries.</summary>
    public const string Command = "reproduce bwq";

    /// <summary>The published averages over ISAAC.</summary>
    public static PaperFigures Paper { get; } = new(Speedup: 6.08, EnergySaving: 17.47,
        Source: "Wu et al., IEEE TCAD 2024 (arXiv 2310.12182): 6.08× speedup and 17.47× energy saving over ISAAC on average; ~58× weight and ~9.5× activation compression; accuracy within about 1 %");

    /// <summary>The acceptance's targets on the default model.</summary>
    public const double TargetLoss = 0.01, TargetCompression = 16, TargetSpeedup = 4, TargetEnergySaving = 4;

    /// <summary>Runs BWQ-A (unless <see cref="BwqReproductionRequest.Trained"/>) and the four rows.</summary>
    /// <exception cref="ExperimentException">A mistake in the request, named.</exception>
    public static BwqReproductionResult Run(BwqReproductionRequest request, IExperimentProgress progress, Action<BwqStep>? onStep, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!File.Exists(request.Model)) throw new ExperimentException($"{request.Model}: no such file");
        if (request.Trained && !File.Exists(request.Output)) throw new ExperimentException($"{request.Output}: no such BWQ model (run without --trained to train it)");
        var isaac = PresetCatalog.Load("isaac");
        var isaacOu = PresetCatalog.Load("isaac-ou");
        var bwqH = PresetCatalog.Load("bwq-h");

        BwqResult? trained = null;
        if (!request.Trained)
            trained = BwqTraining.Run(new BwqRequest(request.Model, request.Data, request.Options, request.Training, request.CalibrationImages,
                request.Output, request.Checkpoints, request.Resume, request.CommandLine, request.Images), progress, onStep, cancel);

        using var scope = NewDisposeScope();
        var rows = new List<ResultRow>();
        double fp32;
        string dataset;
        int images;
        SimulationResult? dense = null;
        using (var session = SimulationSession.Open(request.Model, request.Data, request.Images, Quantization.Config(8, 8), [isaac, isaacOu],
            request.CalibrationImages, request.Seed, request.BatchSize, progress, cancel))
        {
            fp32 = session.Fp32.Accuracy;
            (dataset, images) = (session.DatasetName, session.Test.Count);
            rows.Add(new ResultRow("fp32", "fp32", null, null, fp32, null, fp32, 32, 32, 1, null, null, null, null, null, null, null, null, null, null, null));
            foreach (var spec in new[] { isaac, isaacOu })
            {
                progress.Log($"{spec.Name} w8a8: simulating {session.Test.Count:N0} images");
                dense = session.Simulate(spec, null, request.Threads, null, progress, cancel);
                rows.Add(SimulationReport.Row(spec, null, dense));
            }
        }
        SimulationResult bwq;
        using (var session = SimulationSession.Open(request.Output, request.Data, request.Images, Quantization.Config(8, 8), [bwqH],
            request.CalibrationImages, request.Seed, request.BatchSize, progress, cancel))
        {
            progress.Log($"bwq-h: simulating the BWQ model on {session.Test.Count:N0} images");
            bwq = session.Simulate(bwqH, null, request.Threads, null, progress, cancel);
            rows.Add(SimulationReport.Row(bwqH, new MethodParts("bwq", "bwq"), bwq) with { Fp32Accuracy = fp32 });
        }

        var baseline = rows[2] with { Method = "baseline" };
        rows[2] = baseline;
        var measured = rows.Select(r => r.RelativeTo(baseline)).ToList();
        var context = new ResultContext(Command, Path.GetFullPath(request.Model), dataset, images, request.Seed, baseline.Scheme, Paper,
            Notes(measured, request, trained, Breakdown(dense!, bwq), ReadsPerBlock(isaacOu, bwqH)));
        return new BwqReproductionResult(new ResultReport(context, measured), trained);
    }

    /// <summary>The run's identity in the results database: the command, the source model and the BWQ model by digest, the data,
    /// images and seed, and BWQ-A's options when it trains.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> RunKey(BwqReproductionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return
        [
            new("command", Command), new("model", "sha256:" + ModelFiles.Digest(request.Model)), new("bwq_model", "sha256:" + ModelFiles.Digest(request.Output)),
            new("dataset", request.Data.Dataset ?? "(from the model)"), new("images", request.Images?.ToString(CultureInfo.InvariantCulture) ?? "all"),
            new("calibration_images", request.CalibrationImages.ToString(CultureInfo.InvariantCulture)), new("seed", request.Seed.ToString(CultureInfo.InvariantCulture)),
            new("bwq_a", request.Trained ? "(trained before)" : $"{request.Options} {request.Training}"),
        ];
    }

    /// <summary>What the rows say against the targets and the paper, with the reason for every target missed.</summary>
    private static List<string> Notes(IReadOnlyList<ResultRow> rows, BwqReproductionRequest request, BwqResult? trained, string? breakdown, string reads)
    {
        var notes = new List<string>();
        var (fp32, isaac, isaacOu, bwq) = (rows[0], rows[1], rows[2], rows[3]);
        string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
        notes.Add($"ratios are over isaac-ou w8a8 (BWQ's premise: practical ReRAM reads one 9×8 OU at a time); isaac w8a8 (whole-array reads) is " +
                  (isaac.LatencyS is { } li && isaacOu.LatencyS is { } lo ? $"{F(lo / li, "0.##")}× faster than isaac-ou" : "not priced") +
                  $"; the paper's {F(Paper.Speedup!.Value, "0.##")}× / {F(Paper.EnergySaving!.Value, "0.##")}× are over ISAAC");
        if (bwq.AvgActivationBits is { } ab)
            notes.Add($"activation compression {F(32 / ab, "0.#")}× ({F(ab, "0.##")} bits; the paper ~9.5×), weight compression {F(bwq.WeightCompression ?? 0, "0.#")}× ({F(bwq.AvgWeightBits ?? 0, "0.##")} bits per weight, sign included; the paper ~58×)");
        double loss = fp32.Accuracy - bwq.Accuracy;
        var missed = new List<string>();
        if (loss > TargetLoss + 1e-12) missed.Add($"accuracy loss {F(loss * 100, "0.##")} points > {F(TargetLoss * 100, "0")}");
        if ((bwq.WeightCompression ?? 0) < TargetCompression) missed.Add($"weight compression {F(bwq.WeightCompression ?? 0, "0.#")}× < {F(TargetCompression, "0")}×");
        if ((bwq.Speedup ?? 0) < TargetSpeedup) missed.Add($"speedup {F(bwq.Speedup ?? 0, "0.##")}× < {F(TargetSpeedup, "0")}×");
        if ((bwq.EnergySaving ?? 0) < TargetEnergySaving) missed.Add($"energy saving {F(bwq.EnergySaving ?? 0, "0.##")}× < {F(TargetEnergySaving, "0")}×");
        notes.Add(missed.Count == 0 ? "every target of the default model is met (loss <= 1 point, compression >= 16×, speedup and energy saving >= 4× over isaac-ou)"
            : "targets missed: " + string.Join("; ", missed));
        if (bwq.OuReads is { } r && isaacOu.OuReads is { } r0)
            notes.Add($"OU reads per image: {r:N0} on bwq-h against {r0:N0} on isaac-ou ({ReadRatio(r, r0)}); ADC conversions {bwq.AdcConversions:N0} against {isaacOu.AdcConversions:N0}");
        notes.Add(reads);
        if (breakdown is not null) notes.Add(breakdown);
        if (trained is not null)
        {
            var kept = trained.Steps.LastOrDefault(s => s.Kept);
            notes.Add($"BWQ-A: {trained.Steps.Count} steps of {request.Options.EpochsPerStep} epoch(s) ({F(trained.Seconds / 60, "0.#")} min), kept alpha {F(trained.Alpha, "G3")} at a{trained.ActivationBits}; " +
                      $"{trained.PrunedBlocks:N0} of {trained.Blocks:N0} blocks pruned; the paper trains 650 epochs" + (kept is null ? "; no step stayed within the allowed loss, so the written model is the 8-bit start" : ""));
        }
        return notes;
    }

    /// <summary>BWQ's OU reads against the dense baseline's, as a factor above 1 either way ("3.17× more", "2× fewer").</summary>
    internal static string ReadRatio(long bwq, long dense) =>
        bwq == dense ? "as many"
        : bwq > dense
            ? string.Create(CultureInfo.InvariantCulture, $"{(double)bwq / Math.Max(1, dense):0.##}× more")
            : string.Create(CultureInfo.InvariantCulture, $"{(double)dense / Math.Max(1, bwq):0.##}× fewer");

    /// <summary>Where the two mappings' reads per weight block and digit come from, and the block precision below which BWQ reads
    /// fewer OUs than the dense baseline.</summary>
    private static string ReadsPerBlock(HardwareSpec dense, HardwareSpec bwq)
    {
        int denseBits = dense.Encoding.StoredBits(dense.Defaults.WeightBits);
        int denseOus = dense.Encoding.Polarities * ((denseBits + dense.Cell.Bits - 1) / dense.Cell.Bits);
        int perBit = bwq.Encoding.Polarities;
        double breakEven = (double)denseOus * bwq.Cell.Bits / perBit;
        return string.Create(CultureInfo.InvariantCulture,
            $"per 9x8 block and input digit, {dense.Name} reads {denseOus} OUs ({dense.Defaults.WeightBits}-bit {dense.Encoding.Weights.ToString().ToLowerInvariant()} codes in {dense.Cell.Bits}-bit cells) " +
            $"and {bwq.Name} {perBit} per magnitude bit of the block ({bwq.Cell.Bits}-bit cells, {bwq.Encoding.Weights.ToString().ToLowerInvariant()}), so BWQ reads fewer OUs only " +
            $"where its blocks average below {breakEven:0.#} magnitude bits (pruned blocks count 0), and its speedup grows with the narrower activations it streams");
    }

    /// <summary>Energy per image by component on isaac-ou and on bwq-h, the components that cost most on either first: where a
    /// saving comes from or is lost.</summary>
    private static string? Breakdown(SimulationResult dense, SimulationResult bwq)
    {
        if (dense.Cost.Report?.Total.EnergyByComponentJ is not { } a || bwq.Cost.Report?.Total.EnergyByComponentJ is not { } b) return null;
        var parts = a.Keys.Union(b.Keys).OrderByDescending(k => Math.Max(a.GetValueOrDefault(k), b.GetValueOrDefault(k))).Take(6)
            .Select(k => string.Create(CultureInfo.InvariantCulture, $"{k} {a.GetValueOrDefault(k) * 1e6:0.###} / {b.GetValueOrDefault(k) * 1e6:0.###}"));
        return "energy per image by component, µJ, isaac-ou / bwq-h: " + string.Join("; ", parts);
    }
}
