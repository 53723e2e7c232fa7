using System.Diagnostics;
using PimQuant.Accelerator;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Export;
using PimQuant.Quant.Model;
using PimQuant.Sim;
using PimQuant.Training;
using static TorchSharp.torch;
using PimQuant.Hardware.Cost;

namespace PimQuant.Experiments;

/// <summary>One simulated run on a spec: the programmed crossbars, the accuracy, the cost and the events it
/// was priced from (per crossbar layer, over every test image, including those of a checkpoint resumed from).</summary>
public sealed record CrossbarRun(CrossbarModel Crossbars, EvaluationResult Simulated, SimulationCost Cost, double ProgramSeconds,
    IReadOnlyList<EventCounts> Events, int ResumedFromImage = 0);

/// <summary>
/// A model quantized once for crossbar runs: its test images, FP32 and ideal integer accuracy, the
/// calibration images, and the quantized model that any number of specs are then programmed from (the
/// demo runs two). Tensors belong to the caller's dispose scope.
/// </summary>
public sealed class SimulationSession : IDisposable
{
    private SimulationSession(ModelGraph graph, ModelSummary summary, QuantizedModel model, ResolvedData data,
        Tensor calibration, EvaluationResult fp32, EvaluationResult ideal, int batchSize)
    {
        Graph = graph; Summary = summary; Model = model; Data = data;
        Calibration = calibration; Fp32 = fp32; Ideal = ideal; BatchSize = batchSize;
    }

    /// <summary>The model as loaded; its batch norms are folded once it is quantized.</summary>
    public ModelGraph Graph { get; }
    /// <summary>Parameters and MACs of the model as loaded (before batch norms are folded).</summary>
    public ModelSummary Summary { get; }
    /// <summary>The calibrated integer model every spec is programmed from.</summary>
    public QuantizedModel Model { get; }
    /// <summary>The dataset, its test images and the preprocessing.</summary>
    public ResolvedData Data { get; }
    /// <summary>The dataset's name.</summary>
    public string DatasetName => Data.DatasetName;
    /// <summary>The test images simulated.</summary>
    public ImageDataset Test => Data.Test;
    /// <summary>The normalisation of every image.</summary>
    public Normalization Normalization => Data.Normalization;
    /// <summary>The normalised calibration images (N, C, H, W).</summary>
    public Tensor Calibration { get; }
    /// <summary>FP32 accuracy of the model as loaded.</summary>
    public EvaluationResult Fp32 { get; }
    /// <summary>Accuracy of the ideal integer model.</summary>
    public EvaluationResult Ideal { get; }
    /// <summary>Images per evaluated batch.</summary>
    public int BatchSize { get; }

    /// <summary>Loads the model and the test split (its first <paramref name="images"/>), checks the config against the
    /// model and the spec against the config's widths (<paramref name="specs"/>, before any work), evaluates FP32,
    /// quantizes with <paramref name="config"/> on the calibration images and evaluates the integer model. A QDQ file
    /// keeps its own quantization (the config and its checks do not apply), and its "FP32" is its dequantized weights
    /// with float inputs. A <paramref name="method"/> with quantization parts (<see cref="MethodParts.Quantization"/>) quantizes
    /// for the first spec with its changes; a QDQ file keeps its own.</summary>
    public static SimulationSession Open(string path, DataOptions data, int? images, QuantConfig config, IReadOnlyList<HardwareSpec> specs,
        int calibrationImages, long seed, int batchSize, IExperimentProgress progress, CancellationToken cancel, MethodParts? method = null)
    {
        var parts = method?.Quantization ?? [];
        if (parts.Count > 0 && specs.Count == 0) throw new ArgumentException("a method's quantization parts need the spec they quantize for", nameof(specs));
        foreach (var part in parts) config = part.Configure(config, specs[0]);
        var graph = ModelFiles.Load(path);
        // A QDQ file is already quantized: its own integers are simulated, nothing is calibrated again.
        QuantizedModel? read = null;
        if (QdqImport.IsQdq(graph))
        {
            var imported = ModelFiles.ReadQdq(path, graph, progress);
            (graph, read) = (imported.Graph, imported.Model);
        }
        else
        {
            try
            {
                var plan = Quantization.Check(path, config);
                foreach (var spec in specs) SimulationPipeline.CheckSpec(spec, plan);
            }
            catch
            {
                graph.Dispose();
                throw;
            }
        }
        try
        {
            var resolved = data.Resolve(graph, path, images);
            var summary = ModelSummary.Of(graph);
            var calibration = resolved.CalibrationImages(calibrationImages, seed, progress);
            var fp32 = Evaluation.Run(new GraphExecutor(graph), resolved.Test, resolved.Normalization, batchSize, progress, cancel);
            progress.Log($"FP32 accuracy {fp32.Accuracy:P2} on {resolved.Test.Count} test images");
            if (read is not null && parts.Count > 0)
                throw new ExperimentException($"{path} is a quantized (QDQ) file: {method!.Label} changes how a model is quantized; give the float model");
            var model = read ?? SimulationPipeline.Quantize(graph, config, calibration, seed, progress, cancel, parts, specs.Count > 0 ? specs[0] : null);
            var ideal = Evaluation.Run(model.CreateExecutor(), resolved.Test, resolved.Normalization, batchSize, progress, cancel);
            progress.Log($"ideal integer accuracy {ideal.Accuracy:P2}");
            return new SimulationSession(graph, summary, model, resolved, calibration, fp32, ideal, batchSize);
        }
        catch
        {
            read?.Dispose();
            graph.Dispose();
            throw;
        }
    }

    /// <summary>One scheme on <paramref name="spec"/>: <see cref="Run"/> with <paramref name="method"/>'s parts on the simulation path
    /// <paramref name="path"/> (null: the fastest exact-equivalent per layer), with the session's accuracies beside it.</summary>
    public SimulationResult Simulate(HardwareSpec spec, MethodParts? method, int threads, SimulationPath? path, IExperimentProgress progress,
        CancellationToken cancel, SimulationCheckpointPolicy? checkpoint = null)
    {
        if (method?.AdcCalibration is not null && spec.Adc.Step != AdcStepMode.Calibrated && !spec.Adc.IsIdeal)
            throw new ExperimentException($"{method.Label}: it chooses calibrated ADC steps, but {spec.Name}'s adc.step is {SpecOverrides.StepName(spec.Adc.Step)}: " +
                "make it calibrated (adc.step: calibrated, or --adc-step calibrated)");
        var options = new SimulationOptions
        {
            Configuration = new SimConfiguration { MaxDegreeOfParallelism = threads }, Path = path, DigitPolicy = method?.DigitPolicy, AdcCalibration = method?.AdcCalibration,
        };
        var run = Run(spec, options, progress, cancel, checkpoint);
        return new SimulationResult(Data, run.Crossbars.Config.WeightBits, run.Crossbars.Config.ActivationBits,
            Fp32, Ideal, run.Simulated, run.Cost, run.Crossbars.Layers, run.Events, run.ProgramSeconds, run.ResumedFromImage);
    }

    /// <summary>Programs <paramref name="spec"/>'s crossbars, calibrates their ADCs, simulates the test images and prices the events;
    /// with <paramref name="checkpoint"/>, saves the progress every few batches and continues from a loaded checkpoint.</summary>
    public CrossbarRun Run(HardwareSpec spec, SimulationOptions options, IExperimentProgress progress, CancellationToken cancel, SimulationCheckpointPolicy? checkpoint = null)
    {
        var watch = Stopwatch.StartNew();
        var crossbars = SimulationPipeline.Program(Model, spec, options, Calibration, progress);
        double programSeconds = watch.Elapsed.TotalSeconds;
        progress.Log($"{spec.Name}: programmed {crossbars.Layers.Count} layers in {programSeconds:F1} s; paths: " +
            string.Join(", ", crossbars.Layers.GroupBy(l => options.Path ?? l.Groups[0].DefaultPath).Select(g => $"{g.Key} ×{g.Count()}")));
        if (checkpoint is not null) return RunCheckpointed(crossbars, programSeconds, checkpoint, progress, cancel);
        var simulated = Evaluation.Run(crossbars.CreateExecutor(), Test, Normalization, BatchSize, progress, cancel);
        progress.Log($"{spec.Name}: simulated accuracy {simulated.Accuracy:P2} ({simulated.ImagesPerSecond:F1} images/s)");
        return new CrossbarRun(crossbars, simulated, CrossbarCost.Evaluate(crossbars), programSeconds, [.. crossbars.Layers.Select(l => l.Events)]);
    }

    /// <summary>
    /// Simulates the test images <see cref="SimulationCheckpointPolicy.EveryBatches"/> batches at a time from where
    /// <see cref="SimulationCheckpointPolicy.From"/> stopped, saving the images done, the correct count and every
    /// layer's events after each step. A resumed run first restores the crossbars' image count and events to the
    /// checkpoint's (<see cref="CrossbarModel.Restore"/>), so read noise is drawn with the keys of an uninterrupted
    /// run, the events add to the restored ones and <see cref="CrossbarCost.Evaluate"/> prices the whole run.
    /// </summary>
    private CrossbarRun RunCheckpointed(CrossbarModel crossbars, double programSeconds, SimulationCheckpointPolicy policy, IExperimentProgress progress, CancellationToken cancel)
    {
        var chip = SimulationCheckpoint.Fingerprint(Test, Calibration, Model, crossbars);
        string[] names = [.. crossbars.Layers.Select(l => l.Name)];
        var from = policy.From;
        from?.CheckChip(policy.Path, chip, names, Test.Count);
        int done = from?.ImagesDone ?? 0, correct = from?.Correct ?? 0;
        double secondsBefore = from?.Seconds ?? 0;
        // A fresh run starts from the events ADC calibration left reset (CrossbarModel.CalibrateAdc) or that
        // programming started with; a resumed one from the checkpoint's.
        if (from is not null)
        {
            crossbars.Restore(from.ImagesDone, [.. from.Layers.Select(l => l.Events)]);
            progress.Log($"{crossbars.Spec.Name}: resuming from {Path.GetFileName(policy.Path)}: {done:N0} of {Test.Count:N0} test images done, {correct:N0} correct");
        }

        var executor = crossbars.CreateExecutor();
        var watch = Stopwatch.StartNew();
        EventCounts[] Events() => [.. crossbars.Layers.Select(l => l.Events)];
        void Simulate(Action<StepProgress> report)
        {
            while (done < Test.Count)
            {
                cancel.ThrowIfCancellationRequested();
                int start = done, count = (int)Math.Min(Test.Count - done, (long)BatchSize * policy.EveryBatches);
                var part = Evaluator.Evaluate(executor, Test.Slice(start, count), Normalization, BatchSize, (d, _) => report(new StepProgress("simulating", start + d, Test.Count)), cancel);
                done += count;
                correct += part.Correct;
                var snapshot = new SimulationCheckpoint
                {
                    Run = policy.Run, Chip = chip, ImagesDone = done, ImagesTotal = Test.Count, Correct = correct,
                    Seconds = secondsBefore + watch.Elapsed.TotalSeconds, Layers = [.. names.Zip(Events())],
                };
                snapshot.Save(policy.Path);
                policy.Saved?.Invoke(snapshot);
            }
        }
        progress.Step("simulating", report =>
        {
            report(new StepProgress("simulating", done, Test.Count));
            Simulate(report);
            return done;
        });

        var simulated = new EvaluationResult(correct, done, secondsBefore + watch.Elapsed.TotalSeconds);
        progress.Log($"{crossbars.Spec.Name}: simulated accuracy {simulated.Accuracy:P2} ({simulated.ImagesPerSecond:F1} images/s); progress in {policy.Path}");
        return new CrossbarRun(crossbars, simulated, CrossbarCost.Evaluate(crossbars), programSeconds, Events(), from?.ImagesDone ?? 0);
    }

    /// <summary>Disposes the quantized model and the graph.</summary>
    public void Dispose()
    {
        Model.Dispose();
        Graph.Dispose();
    }
}
