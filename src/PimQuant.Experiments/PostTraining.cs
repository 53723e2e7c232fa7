using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Statistics;
using PimQuant.Training;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Experiments;

/// <summary>A post-training quantization run.</summary>
/// <param name="Model">The ONNX model file.</param>
/// <param name="Config">The quantization config.</param>
/// <param name="Data">The dataset, its directory and the preprocessing.</param>
/// <param name="CalibrationImages">Training images chosen with the seed for calibration.</param>
/// <param name="Seed">Seed of every random choice.</param>
/// <param name="BatchSize">Images per evaluated batch.</param>
/// <param name="Reconstruction">Block reconstruction (AdaRound, learned activation steps, QDrop); null: none.</param>
/// <param name="BiasCorrection">Empirical bias correction; null: on for plain rounding, off with reconstruction.</param>
/// <param name="Output">Where to write the quantized model (ONNX QDQ); null: only measure.</param>
/// <param name="Verify">Evaluate the written file in ONNX Runtime too (needs <paramref name="Output"/>).</param>
/// <param name="Command">The command line stamped into the written model's metadata.</param>
/// <param name="Hardware">A spec the config is checked against before any work (what its crossbars hold); null: none.</param>
/// <param name="Images">Evaluate on the first N test images; null: all.</param>
/// <param name="Method">A method's parts (CIMQ): its quantization parts change the config, the calibration and the calibrated model, for <paramref name="Hardware"/>'s crossbars.</param>
public sealed record PostTrainingRequest(string Model, QuantConfig Config, DataOptions Data, int CalibrationImages, long Seed, int BatchSize,
    ReconstructionOptions? Reconstruction = null, bool? BiasCorrection = null, string? Output = null, bool Verify = false, string Command = "",
    HardwareSpec? Hardware = null, int? Images = null, MethodParts? Method = null);

/// <summary>What a post-training quantization run measured and wrote; owns the quantized model and its graph.</summary>
public sealed class PostTrainingResult : QuantizationRunResult
{
    /// <summary>The options PTQ ran with.</summary>
    public required PtqOptions Options { get; init; }
    /// <summary>What PTQ did: calibration, reconstructed blocks, bias corrections, times.</summary>
    public required PtqReport Report { get; init; }
    /// <summary>The written file, or null.</summary>
    public string? Written { get; init; }
}

/// <summary>Post-training quantization of a model: calibration, optional block reconstruction, bias correction, the
/// accuracy before and after, bit statistics, and the quantized model written as ONNX QDQ.</summary>
public static class PostTraining
{
    /// <summary>Runs <paramref name="request"/>; the model, config, data and calibration count are checked against each other before any evaluation.</summary>
    public static PostTrainingResult Run(PostTrainingRequest request, IExperimentProgress progress, CancellationToken cancel)
    {
        if (request.Verify && request.Output is null)
            throw new ExperimentException("--verify checks the written model: give -o FILE.onnx", ExperimentErrorKind.InvalidOption);
        var parts = request.Method?.Quantization ?? [];
        if (parts.Count > 0 && request.Hardware is null)
            throw new ExperimentException($"{request.Method!.Label} quantizes for a crossbar's arrays: give --hw", ExperimentErrorKind.InvalidOption);
        if (parts.Count > 0 && request.Reconstruction is not null && parts.Any(p => p.Calibration(new PtqOptions()).Reconstruction is not null))
            throw new ExperimentException($"{request.Method!.Label} runs its own reconstruction: leave out --reconstruct, or the method's part", ExperimentErrorKind.InvalidOption);
        var config = parts.Aggregate(request.Config, (c, part) => part.Configure(c, request.Hardware!));
        var plan = Quantization.Check(request.Model, config);
        if (request.Hardware is { } spec) SimulationPipeline.CheckSpec(spec, plan);
        var graph = ModelFiles.Load(request.Model);
        QuantizedModel? model = null;
        try
        {
            var data = request.Data.Resolve(graph, request.Model, request.Images);
            // Read before any evaluation, so a missing or short training split is refused before work.
            using var images = data.CalibrationImages(request.CalibrationImages, request.Seed, progress);
            progress.Log($"{images.shape[0]} calibration images; test {data.Test.Count} images");

            var full = Evaluation.Run(new GraphExecutor(graph), data.Test, data.Normalization, request.BatchSize, progress, cancel);
            progress.Log($"FP32 accuracy {full.Accuracy:P2} on {data.Test.Count} test images");
            model = Quantization.Build(graph, config, request.Seed);
            if (request.Reconstruction is not null && !model.Layers.Any(l => l.Weight?.Spec.Rounding == RoundingMode.Learned))
                progress.Log("no weight quantizer has 'rounding: learned': reconstruction learns the activation steps only");
            // No dispose scope around the run: the quantizers' parameters must outlive it in the returned model.
            var options = parts.Aggregate(new PtqOptions { BiasCorrection = request.BiasCorrection, Seed = request.Seed, Reconstruction = request.Reconstruction },
                (o, part) => part.Calibration(o));
            var report = Quantization.Run(model, images, options, progress, cancel);
            foreach (var part in parts) part.Adjust(model, images, request.Hardware!, progress, cancel);
            foreach (var b in report.Blocks)
                progress.Log($"block {b.Index + 1} ({b.Block}): output error {b.ErrorBefore:G4} → {b.ErrorAfter:G4} in {b.Seconds:F1} s");

            var activations = Quantization.CollectActivationStatistics(model);
            var quantized = Evaluation.Run(model.CreateExecutor(), data.Test, data.Normalization, request.BatchSize, progress, cancel);
            var weights = WeightBitStatistics.Of(model);
            var notes = new List<string>();
            if (request.Method is { DigitPolicy: not null } or { AdcCalibration: not null })
            {
                notes.Add($"{request.Method.Label}: its digit skipping and ADC steps act on the crossbars' reads, which this accuracy does not include: pimq simulate --scheme {request.Method.Method} measures them");
                progress.Log(notes[^1]);
            }
            double? ortAccuracy = null;
            if (request.Output is { } path)
            {
                var written = Quantization.Export(model, path, request.Command);
                foreach (var note in written) progress.Log(note);
                notes.AddRange(written);
                if (request.Verify) ortAccuracy = Quantization.OnnxRuntimeAccuracy(path, data.Test, data.Normalization, request.BatchSize, cancel);
            }
            return new PostTrainingResult
            {
                Data = data, Options = options, Report = report, Fp32 = full, Quantized = quantized, Model = model, Graph = graph,
                Weights = weights, Activations = activations, Written = request.Output, Notes = notes, OnnxRuntimeAccuracy = ortAccuracy,
            };
        }
        catch
        {
            model?.Dispose();
            graph.Dispose();
            throw;
        }
    }
}
