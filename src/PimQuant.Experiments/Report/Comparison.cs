using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PimQuant.Engine.Runtime;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Spec;
using PimQuant.Training;
using static TorchSharp.torch;

namespace PimQuant.Experiments.Report;

/// <summary>One scheme of a comparison: a method's parts on a spec, at the quantization it runs at.</summary>
/// <param name="Name">The name it was asked for by (<c>redy</c>, <c>bwq+redy</c>, <c>baseline@neurosim-rram</c>).</param>
/// <param name="Spec">The hardware it runs on.</param>
/// <param name="WeightBits">Weight bits of the quantized model.</param>
/// <param name="ActivationBits">Activation bits of the quantized model.</param>
/// <param name="Parts">The method's parts; null for the conventional scheme.</param>
/// <param name="Paper">The method's published figures against its baseline; null when none.</param>
/// <param name="Model">The model file the scheme simulates instead of the comparison's (BWQ: the block-precision model trained from
/// it, a QDQ file that keeps its own quantization); null: the comparison's model.</param>
public sealed record ComparedScheme(string Name, HardwareSpec Spec, int WeightBits, int ActivationBits, MethodParts? Parts, PaperFigures? Paper,
    string? Model = null);

/// <summary>What <c>pimq compare</c> runs: every scheme on the same model, data and simulator, the first one the baseline.</summary>
/// <param name="Model">The ONNX model.</param>
/// <param name="Schemes">The schemes, the baseline first.</param>
/// <param name="Data">Dataset, directory and preprocessing.</param>
/// <param name="Images">The first N test images; null: all.</param>
/// <param name="CalibrationImages">Training images that calibrate the quantizers.</param>
/// <param name="Seed">Seed of every random choice.</param>
/// <param name="BatchSize">Images per batch.</param>
/// <param name="Threads">Threads of the simulator.</param>
/// <param name="Checkpoint">Where the rows done (and their detail, beside it) are saved after each scheme; an existing checkpoint
/// of the same run is resumed. Null: nowhere.</param>
/// <param name="Command">The command name the report carries.</param>
public sealed record ComparisonRequest(string Model, IReadOnlyList<ComparedScheme> Schemes, DataOptions Data, int? Images, int CalibrationImages,
    long Seed, int BatchSize, int Threads, string? Checkpoint = null, string Command = "compare");

/// <summary>Where a report was produced: the command line as typed, PimQuant's version and the machine.</summary>
public sealed record ReportProvenance(string CommandLine, string Version, string Machine);

/// <summary>A comparison's result rows (the baseline first, ratios against it), each row's <see cref="SchemeDetail"/> in the same
/// order, and where it was produced (null until the command sets it).</summary>
public sealed record ComparisonReport(ResultReport Results, IReadOnlyList<SchemeDetail> Details, ReportProvenance? Provenance = null);

/// <summary>
/// Every scheme of a <see cref="ComparisonRequest"/> on the same model, test images and simulator
/// (<see cref="SimulationSession.Simulate"/>), as result rows against the first scheme (docs/report.md). The model is quantized
/// once per distinct width pair; the rows done are checkpointed after each scheme, so a stopped comparison resumes at the first
/// scheme it had not finished and ends with the report of an uninterrupted one.
/// </summary>
public static class Comparison
{
    /// <summary>Runs the comparison. The specs against the widths, and a checkpoint of another run, are refused before any work.</summary>
    /// <exception cref="ExperimentException">A mistake in the request, named.</exception>
    public static ComparisonReport Run(ComparisonRequest request, IExperimentProgress progress, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Schemes.Count == 0) throw new ExperimentException("a comparison needs at least one scheme");
        foreach (var scheme in request.Schemes) SimulationPipeline.CheckSpec(scheme.Spec, scheme.WeightBits, scheme.ActivationBits);
        var key = RunKey(request);
        // A row is labelled by its spec's name, widths and method (SimulationReport.Row), and a report's labels are unique.
        var same = request.Schemes.GroupBy(s => (s.Spec.Name, s.WeightBits, s.ActivationBits, s.Parts?.Label)).FirstOrDefault(g => g.Count() > 1);
        if (same is not null)
            throw new ExperimentException($"{string.Join(" and ", same.Select(s => s.Name))} are the same scheme on hardware of the same name: give it once",
                ExperimentErrorKind.InvalidOption);
        var (doneRows, doneDetails) = Resume(request, key, progress);
        // The checkpoint's folder is made once the request has passed its checks, so a refused run leaves nothing behind.
        if (request.Checkpoint is { } file) Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);

        using var scope = NewDisposeScope();
        SimulationSession? session = null;
        // Schemes share a quantized model when they quantize alike: the same widths and no method's quantization parts, or the
        // same parts (by their values, whatever else the methods do) for the same crossbars (a spec that differs only in its
        // ADC: the parts read the arrays, cells and DAC).
        (string?, int, int, string?, HardwareSpec?)? quantized = null;
        static (string?, int, int, string?, HardwareSpec?) Quantized(ComparedScheme s) => s.Parts is { Quantization.Count: > 0 } p
            ? (s.Model, s.WeightBits, s.ActivationBits, string.Join(" → ", p.Quantization), s.Spec with { Name = "", Adc = new AdcSpec(0, AdcStepMode.Unit, null) })
            : (s.Model, s.WeightBits, s.ActivationBits, null, null);
        var rows = new List<ResultRow>();
        var details = new List<SchemeDetail>();
        string dataset = "";
        int testImages = 0;
        try
        {
            foreach (var scheme in request.Schemes)
            {
                if (session is null || quantized != Quantized(scheme))
                {
                    session?.Dispose();
                    session = null;
                    quantized = Quantized(scheme);
                    var specs = request.Schemes.Where(s => Quantized(s) == quantized).Select(s => s.Spec).Prepend(scheme.Spec).Distinct().ToList();
                    session = SimulationSession.Open(scheme.Model ?? request.Model, request.Data, request.Images, Quantization.Config(scheme.WeightBits, scheme.ActivationBits),
                        specs, request.CalibrationImages, request.Seed, request.BatchSize, progress, cancel, scheme.Parts is { Quantization.Count: > 0 } ? scheme.Parts : null);
                    (dataset, testImages) = (session.DatasetName, session.Test.Count);
                }
                int index = rows.Count;
                if (index < doneRows.Count)
                {
                    rows.Add(doneRows[index]);
                    details.Add(doneDetails[index]);
                    progress.Log($"{scheme.Name}: done in the checkpoint");
                    continue;
                }
                progress.Log($"{scheme.Name}: {scheme.Spec.Name} w{scheme.WeightBits}a{scheme.ActivationBits}{(scheme.Parts is { } p ? " " + p.Label : "")}, simulating {session.Test.Count:N0} images");
                var result = session.Simulate(scheme.Spec, scheme.Parts, request.Threads, null, progress, cancel);
                var row = SimulationReport.Row(scheme.Spec, scheme.Parts, result);
                if (index == 0) row = row with { Method = "baseline" };
                // A scheme on a model of its own (BWQ's, trained from the comparison's model) keeps the FP32 accuracy of the model it was
                // trained from: its own "FP32" is its dequantized weights.
                else if (scheme.Model is not null) row = row with { Fp32Accuracy = rows[0].Fp32Accuracy };
                rows.Add(row);
                details.Add(SchemeDetail.Of(row, scheme.Paper, result, session.Model));
                if (request.Checkpoint is { } path)
                {
                    // The details first: a stop between the two writes leaves a detail for every saved row.
                    AtomicFile.WriteAllText(DetailsPath(path), ReportJson.Details(details).ToJsonString() + "\n");
                    RowCheckpoint.Save(path, key, rows);
                }
            }
        }
        finally
        {
            session?.Dispose();
        }

        var baseline = rows[0];
        var measured = rows.Select(r => r.RelativeTo(baseline)).ToList();
        var context = new ResultContext(request.Command, Path.GetFullPath(request.Model), dataset, testImages, request.Seed, baseline.Scheme, Paper: null,
            Notes(measured, details));
        return new ComparisonReport(new ResultReport(context, measured), details);
    }

    /// <summary>The file beside a rows checkpoint that holds the rows' details.</summary>
    public static string DetailsPath(string checkpoint) => checkpoint + ".details.json";

    /// <summary>
    /// The run's identity (results database and checkpoint): the command, the simulate key of the baseline (model, data, images,
    /// seeds, batch, threads) and, per scheme, its name, widths, method and spec hash.
    /// </summary>
    /// <exception cref="ExperimentException">The model is missing.</exception>
    public static IReadOnlyList<KeyValuePair<string, string>> RunKey(ComparisonRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!File.Exists(request.Model)) throw new ExperimentException($"{request.Model}: no such file");
        var schemes = request.Schemes.Select(s => s.Name + ": " + Identity(request, s));
        return [new("command", request.Command), .. SimulateKey(request, request.Schemes[0]).Where(kv => !PerScheme.Contains(kv.Key)),
            new("schemes", string.Join("; ", schemes))];
    }

    /// <summary>The simulate key's entries that differ between the schemes of one comparison.</summary>
    private static readonly string[] PerScheme = ["quantization", "method", "hw_spec"];

    /// <summary>The simulate run key of <paramref name="scheme"/> in <paramref name="request"/>.</summary>
    private static IReadOnlyList<KeyValuePair<string, string>> SimulateKey(ComparisonRequest request, ComparedScheme scheme) =>
        SimulationCheckpoint.RunKey(new SimulationRequest(scheme.Model ?? request.Model, scheme.Spec, scheme.WeightBits, scheme.ActivationBits, null, request.Data,
            request.Images, request.CalibrationImages, request.Seed, request.BatchSize, request.Threads, null, Method: scheme.Parts));

    /// <summary>What makes a scheme's run differ from another's in the same comparison: its widths, method and spec, and the model
    /// it simulates where that is its own.</summary>
    private static string Identity(ComparisonRequest request, ComparedScheme scheme) =>
        string.Join(", ", SimulateKey(request, scheme).Where(kv => PerScheme.Contains(kv.Key) || (scheme.Model is not null && kv.Key == "model")).Select(kv => kv.Value));

    /// <summary>The rows and details saved by a stopped run of <paramref name="key"/>; none without a checkpoint.</summary>
    private static (IReadOnlyList<ResultRow>, IReadOnlyList<SchemeDetail>) Resume(ComparisonRequest request, IReadOnlyList<KeyValuePair<string, string>> key,
        IExperimentProgress progress)
    {
        if (request.Checkpoint is not { } path || !File.Exists(path)) return ([], []);
        IReadOnlyList<ResultRow> rows;
        try { rows = RowCheckpoint.Load(path, key); }
        catch (CheckpointException e) { throw new ExperimentException(e.Message); }
        string detailsPath = DetailsPath(path);
        IReadOnlyList<SchemeDetail> details;
        try { details = File.Exists(detailsPath) ? ReportJson.ReadDetails(JsonNode.Parse(File.ReadAllText(detailsPath))!) : []; }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new ExperimentException($"{Path.GetFileName(detailsPath)}: corrupt checkpoint ({e.Message})"); }
        // Rows are the record of what is done; a row whose detail was not saved is run again.
        int usable = 0;
        while (usable < rows.Count && usable < details.Count && details[usable].Scheme == rows[usable].Scheme) usable++;
        progress.Log($"resuming: {usable} of {request.Schemes.Count} schemes done in {path}");
        return ([.. rows.Take(usable)], [.. details.Take(usable)]);
    }

    /// <summary>What the table cannot say: the published figures beside the measured saving, and why a field is null.</summary>
    private static List<string> Notes(IReadOnlyList<ResultRow> rows, IReadOnlyList<SchemeDetail> details)
    {
        var notes = new List<string>();
        foreach (var (row, detail) in rows.Zip(details))
        {
            if (row.EnergyJ is null) notes.Add($"{row.Scheme}: {row.Hw} cannot be priced, so its cost fields are null");
            if (detail.Paper is { EnergySaving: { } paper } && row.EnergySaving is { } ours)
                notes.Add(string.Create(CultureInfo.InvariantCulture, $"{row.Scheme}: {TradeOffPlot.SavingPercent(ours):0.0} % less energy than {rows[0].Scheme} here; the paper reports ") +
                          string.Create(CultureInfo.InvariantCulture, $"{TradeOffPlot.SavingPercent(paper):0.0} % over its own baseline ({detail.Paper.Source})"));
        }
        if (rows.Select(r => r.Hw).Distinct().Count() > 1)
            notes.Add($"the schemes run on different hardware; speedup and energy_saving are against {rows[0].Scheme} on {rows[0].Hw}");
        return notes;
    }
}
