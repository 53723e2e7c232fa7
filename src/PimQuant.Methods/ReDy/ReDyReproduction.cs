using System.Globalization;
using PimQuant.Experiments;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Spec;
using static TorchSharp.torch;

namespace PimQuant.Methods.ReDy;

/// <summary>What <c>pimq reproduce redy</c> runs: a model at static 8-bit on <paramref name="Spec"/> (the baseline), then with
/// ReDy's lossless rule and each heuristic of <paramref name="Sweep"/>, on the same quantized model and test images.</summary>
/// <param name="Model">The ONNX model.</param>
/// <param name="Spec">The accelerator (the paper's: ISAAC-like, <c>isaac</c>).</param>
/// <param name="Data">Dataset, directory and preprocessing.</param>
/// <param name="Images">The first N test images; null: all.</param>
/// <param name="CalibrationImages">Training images that calibrate the quantizers.</param>
/// <param name="Seed">Seed of every random choice.</param>
/// <param name="BatchSize">Images per batch.</param>
/// <param name="Threads">Threads of the simulator.</param>
/// <param name="Sweep">The settings after the lossless rule (<see cref="ReDyReproduction.DefaultSweep"/>).</param>
/// <param name="Scope">ReDy's groups.</param>
/// <param name="Checkpoint">Where the rows done are saved after each scheme; null: nowhere.</param>
/// <param name="Resume">Continue from <paramref name="Checkpoint"/> if it exists.</param>
public sealed record ReDyReproductionRequest(string Model, HardwareSpec Spec, DataOptions Data, int? Images, int CalibrationImages, long Seed,
    int BatchSize, int Threads, IReadOnlyList<ReDySetting> Sweep, ReDyGroupScope Scope = ReDyGroupScope.ArrayRows,
    string? Checkpoint = null, bool Resume = false);

/// <summary>One ReDy setting of a sweep: a heuristic, truncating or rounding to nearest what it drops.</summary>
/// <param name="Heuristic">The heuristic.</param>
/// <param name="Round">Round the dropped digits to nearest into the kept ones.</param>
public sealed record ReDySetting(ReDyHeuristic Heuristic, bool Round = false);

/// <summary>ReDy's reproduction (docs/methods/redy.md): the paper's comparison, static 8-bit activations against ReDy's run-time
/// precision on an ISAAC-like accelerator, as result rows with energy savings and accuracy losses.</summary>
public static class ReDyReproduction
{
    /// <summary>The command name the report carries.</summary>
    public const string Command = "reproduce redy";

    /// <summary>Activation and weight bits of the paper's static baseline.</summary>
    public const int Bits = 8;

    /// <summary>Accuracy loss the acceptance allows a saving to be claimed at (0.3 points).</summary>
    public const double AllowedLoss = 0.003;

    /// <summary>The published figure: 13 % less energy on average than static 8-bit, as an energy-saving ratio 1 / (1 − 0.13).</summary>
    public static PaperFigures Paper { get; } = new(Speedup: null, EnergySaving: 1 / (1 - 0.13),
        Source: "Sabri, Riera, González, arXiv 2306.16298 (abstract): 13 % average energy saving over an ISAAC-like accelerator with static 8-bit activations");

    /// <summary>The settings swept after the lossless rule: max-based keeping 7 down to 3 digits, statistics-based with k of 1 and
    /// 2 and 3 or 4 digits, all truncating; then max-based 5 and 4 and statistics k = 2, 4 digits rounding to nearest.</summary>
    public static IReadOnlyList<ReDySetting> DefaultSweep { get; } =
    [
        new(new ReDyHeuristic.MaxBased(7)), new(new ReDyHeuristic.MaxBased(6)), new(new ReDyHeuristic.MaxBased(5)), new(new ReDyHeuristic.MaxBased(4)),
        new(new ReDyHeuristic.MaxBased(3)),
        new(new ReDyHeuristic.StatisticsBased(1, 4)), new(new ReDyHeuristic.StatisticsBased(2, 4)), new(new ReDyHeuristic.StatisticsBased(1, 3)),
        new(new ReDyHeuristic.StatisticsBased(2, 3)),
        new(new ReDyHeuristic.MaxBased(5), Round: true), new(new ReDyHeuristic.MaxBased(4), Round: true), new(new ReDyHeuristic.StatisticsBased(2, 4), Round: true),
    ];

    /// <summary>The family a row's scheme belongs to in plots: the heuristic without its threshold.</summary>
    public static string Family(ResultRow row) => row.Method != "redy" ? row.Scheme
        : row.Scheme.Split(' ') is var words && words.Length > 3 ? "redy " + words[3].Split(':')[0] + (words[^1] == "round" ? " round" : "") : row.Scheme;

    /// <summary>Runs the baseline and every scheme (resuming from the checkpoint's rows), and reports them against the baseline.
    /// The config, the spec, the data and a checkpoint are checked before any work.</summary>
    /// <exception cref="ExperimentException">A mistake in the request, named.</exception>
    public static ResultReport Run(ReDyReproductionRequest request, IExperimentProgress progress, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(request);
        var schemes = Schemes(request);
        var key = Key(request, schemes);
        var done = new List<ResultRow>();
        if (request.Checkpoint is { } path && request.Resume && File.Exists(path))
        {
            try { done.AddRange(RowCheckpoint.Load(path, key)); }
            catch (PimQuant.Training.CheckpointException e) { throw new ExperimentException(e.Message); }
            progress.Log($"resuming: {done.Count} of {schemes.Count} schemes done in {path}");
        }

        var config = Quantization.Config(Bits, Bits);
        using var scope = NewDisposeScope();
        using var session = SimulationSession.Open(request.Model, request.Data, request.Images, config, [request.Spec],
            request.CalibrationImages, request.Seed, request.BatchSize, progress, cancel);
        var rows = new List<ResultRow>();
        foreach (var parts in schemes)
        {
            string label = Label(request.Spec, parts);
            if (done.FirstOrDefault(r => r.Scheme == label) is { } saved)
            {
                rows.Add(saved);
                continue;
            }
            progress.Log($"{label}: simulating {session.Test.Count:N0} images");
            rows.Add(SimulationReport.Row(request.Spec, parts, session.Simulate(request.Spec, parts, request.Threads, null, progress, cancel)));
            if (request.Checkpoint is { } file) RowCheckpoint.Save(file, key, rows);
        }

        var baseline = rows[0] with { Method = "baseline" };
        var measured = rows.Select((r, i) => i == 0 ? baseline.RelativeTo(baseline) : r.RelativeTo(baseline)).ToArray();
        var context = new ResultContext(Command, Path.GetFullPath(request.Model), session.DatasetName, session.Test.Count, request.Seed,
            Baseline: baseline.Scheme, Paper, Notes(measured, baseline));
        return new ResultReport(context, measured);
    }

    /// <summary>The run's identity (results database and checkpoint): the simulate key of its baseline and its schemes.</summary>
    /// <exception cref="ExperimentException">The model is missing, or a heuristic's parameters are out of range.</exception>
    public static IReadOnlyList<KeyValuePair<string, string>> RunKey(ReDyReproductionRequest request) => Key(request, Schemes(request));

    /// <summary>The schemes in order: static, the lossless rule, then the sweep.</summary>
    private static List<MethodParts?> Schemes(ReDyReproductionRequest request)
    {
        var schemes = new List<MethodParts?> { null, ReDyScheme.Parts(new ReDyHeuristic.Lossless(), request.Scope) };
        foreach (var setting in request.Sweep)
        {
            try { schemes.Add(ReDyScheme.Parts(setting.Heuristic, request.Scope, setting.Round)); }
            catch (ArgumentException e) { throw new ExperimentException(e.Message); }
        }
        return schemes;
    }

    /// <summary>The scheme label of a row: <c>HW w8a8</c> and the method's label.</summary>
    private static string Label(HardwareSpec spec, MethodParts? parts) => $"{spec.Name} w{Bits}a{Bits}" + (parts is null ? "" : $" {parts.Label}");

    /// <summary>The run's identity: the simulate key of the baseline (model, data, images, seeds, spec) and the schemes.</summary>
    private static IReadOnlyList<KeyValuePair<string, string>> Key(ReDyReproductionRequest request, IReadOnlyList<MethodParts?> schemes)
    {
        var simulate = new SimulationRequest(request.Model, request.Spec, Bits, Bits, null, request.Data, request.Images, request.CalibrationImages,
            request.Seed, request.BatchSize, request.Threads, null);
        if (!File.Exists(request.Model)) throw new ExperimentException($"{request.Model}: no such file");
        return [new("command", Command), .. SimulationCheckpoint.RunKey(simulate).Where(kv => kv.Key != "method"),
            new("schemes", string.Join("; ", schemes.Select(s => s?.Label ?? "static")))];
    }

    /// <summary>What the rows say against the paper: the best saving within the allowed loss, and the published figure.</summary>
    private static List<string> Notes(IReadOnlyList<ResultRow> rows, ResultRow baseline)
    {
        var notes = new List<string>();
        string Percent(double saving) => TradeOffPlot.SavingPercent(saving).ToString("0.0", CultureInfo.InvariantCulture) + " %";
        if (baseline.EnergyJ is null)
        {
            notes.Add($"{baseline.Hw} cannot be priced, so no saving is reported");
            return notes;
        }
        var within = rows.Where(r => r.Method == "redy" && r.EnergySaving is not null && baseline.Accuracy - r.Accuracy <= AllowedLoss + 1e-12)
            .OrderByDescending(r => r.EnergySaving).FirstOrDefault();
        notes.Add(within is null
            ? $"no ReDy setting keeps the accuracy loss within {AllowedLoss * 100:0.#} points"
            : $"best saving within {AllowedLoss * 100:0.#} points of accuracy: {within.Scheme}, {Percent(within.EnergySaving!.Value)} less energy " +
              $"at {(baseline.Accuracy - within.Accuracy) * 100:0.##} points; the paper reports {Percent(Paper.EnergySaving!.Value)} on average over its networks");
        notes.Add("energy_saving is the baseline's energy over the row's (the paper's 13 % is 1.149); the digit selector is priced per examined input (docs/methods/redy.md)");
        return notes;
    }
}
