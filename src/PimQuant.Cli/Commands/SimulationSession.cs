using System.Diagnostics;
using PimQuant.Accelerator;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Export;
using PimQuant.Quant.Model;
using PimQuant.Sim;
using PimQuant.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace PimQuant.Cli.Commands;

/// <summary>One simulated run on a spec: the programmed crossbars, the accuracy, the cost and the events it
/// was priced from (per crossbar layer, over every test image, including those of a checkpoint resumed from).</summary>
internal sealed record CrossbarRun(CrossbarModel Crossbars, EvaluationResult Simulated, SimulationCost Cost, double ProgramSeconds,
    IReadOnlyList<LayerEvents> Events, int ResumedFromImage = 0);

/// <summary>
/// A model quantized once for crossbar runs: its test images, FP32 and ideal integer accuracy, the
/// calibration images, and the quantized model that any number of specs are then programmed from (the
/// demo runs two). Tensors belong to the caller's dispose scope.
/// </summary>
internal sealed class SimulationSession : IDisposable
{
    private SimulationSession(ModelGraph graph, ModelSummary summary, QuantizedModel model, string datasetName, ImageDataset test, Normalization normalization,
        Tensor calibration, EvaluationResult fp32, EvaluationResult ideal, int batchSize)
    {
        Graph = graph; Summary = summary; Model = model; DatasetName = datasetName; Test = test; Normalization = normalization;
        Calibration = calibration; Fp32 = fp32; Ideal = ideal; BatchSize = batchSize;
    }

    public ModelGraph Graph { get; }
    /// <summary>Parameters and MACs of the model as loaded (before batch norms are folded).</summary>
    public ModelSummary Summary { get; }
    public QuantizedModel Model { get; }
    public string DatasetName { get; }
    public ImageDataset Test { get; }
    public Normalization Normalization { get; }
    public Tensor Calibration { get; }
    public EvaluationResult Fp32 { get; }
    public EvaluationResult Ideal { get; }
    public int BatchSize { get; }

    /// <summary>Loads the model and the test split (its first <paramref name="images"/>), evaluates FP32,
    /// quantizes with <paramref name="config"/> on the calibration images and evaluates the integer model;
    /// with <paramref name="hardware"/>, the config is first checked against what its crossbars hold. A QDQ file
    /// keeps its own quantization (config and check do not apply), and its "FP32" is its dequantized weights with float inputs.</summary>
    public static SimulationSession Open(string path, string? dataset, DirectoryInfo? dataDir, int? images, QuantConfig config,
        int calibrationImages, long seed, int batchSize, Output output, CancellationToken cancel, QuantCapabilities? hardware = null)
    {
        var graph = ModelFiles.Load(path);
        // A QDQ file is already quantized: its own integers are simulated, nothing is calibrated again.
        QuantizedModel? read = null;
        if (QdqImport.IsQdq(graph))
        {
            var imported = ModelFiles.ReadQdq(path, graph, output);
            (graph, read) = (imported.Graph, imported.Model);
        }
        try
        {
            if (hardware is not null && read is null) QuantizeCommand.CheckHardware(graph, config, hardware);
            var (normalization, _) = ModelFiles.ResolvePreprocessing(graph, null, null);
            string name = dataset ?? graph.Metadata.GetValueOrDefault(ModelFiles.DatasetKey) ?? "fashion-mnist";
            var test = Workspace.LoadDataset(name, "test", dataDir);
            EvalCommand.CheckCompatible(path, graph, test);
            if (images is { } n) test = test.Slice(0, Math.Min(n, test.Count));
            var summary = ModelSummary.Of(graph);
            var fp32 = EvalCommand.Run(output, new GraphExecutor(graph), test, normalization, batchSize, cancel);
            output.Log($"FP32 accuracy {fp32.Accuracy:P2} on {test.Count} test images");
            var calibration = SimulationPipeline.CalibrationImages(name, dataDir, calibrationImages, seed, normalization, output);
            var model = read ?? SimulationPipeline.Quantize(graph, config, calibration, seed, output, cancel);
            var ideal = EvalCommand.Run(output, model.CreateExecutor(), test, normalization, batchSize, cancel);
            output.Log($"ideal integer accuracy {ideal.Accuracy:P2}");
            return new SimulationSession(graph, summary, model, name, test, normalization, calibration, fp32, ideal, batchSize);
        }
        catch
        {
            read?.Dispose();
            graph.Dispose();
            throw;
        }
    }

    /// <summary>Programs <paramref name="spec"/>'s crossbars, calibrates their ADCs, simulates the test images and prices the events;
    /// with <paramref name="checkpoint"/>, saves the progress every few batches and continues from a loaded checkpoint.</summary>
    public CrossbarRun Run(HardwareSpec spec, SimulationOptions options, Output output, CancellationToken cancel, SimulationCheckpointPolicy? checkpoint = null)
    {
        var watch = Stopwatch.StartNew();
        CrossbarModel crossbars;
        try { crossbars = SimulationPipeline.Program(Model, spec, options, Calibration, output); }
        catch (SimulationException e) { throw new UserError(e.Message); }
        double programSeconds = watch.Elapsed.TotalSeconds;
        output.Log($"{spec.Name}: programmed {crossbars.Layers.Count} layers in {programSeconds:F1} s; paths: " +
            string.Join(", ", crossbars.Layers.GroupBy(l => options.Path ?? l.Groups[0].DefaultPath).Select(g => $"{g.Key} ×{g.Count()}")));
        if (checkpoint is not null) return RunCheckpointed(crossbars, programSeconds, checkpoint, output, cancel);
        var simulated = EvalCommand.Run(output, crossbars.CreateExecutor(), Test, Normalization, BatchSize, cancel);
        output.Log($"{spec.Name}: simulated accuracy {simulated.Accuracy:P2} ({simulated.ImagesPerSecond:F1} images/s)");
        return new CrossbarRun(crossbars, simulated, CrossbarCost.Evaluate(crossbars), programSeconds, [.. crossbars.Layers.Select(l => l.Events)]);
    }

    /// <summary>
    /// Simulates the test images <see cref="SimulationCheckpointPolicy.EveryBatches"/> batches at a time from where
    /// <see cref="SimulationCheckpointPolicy.From"/> stopped, saving the images done, the correct count and every
    /// layer's events after each step. A resumed run first restores the crossbars' image count and events to the
    /// checkpoint's (<see cref="CrossbarModel.Restore"/>), so read noise is drawn with the keys of an uninterrupted
    /// run, the events add to the restored ones and <see cref="CrossbarCost.Evaluate"/> prices the whole run.
    /// </summary>
    private CrossbarRun RunCheckpointed(CrossbarModel crossbars, double programSeconds, SimulationCheckpointPolicy policy, Output output, CancellationToken cancel)
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
            output.Log($"{crossbars.Spec.Name}: resuming from {Path.GetFileName(policy.Path)}: {done:N0} of {Test.Count:N0} test images done, {correct:N0} correct");
        }

        var executor = crossbars.CreateExecutor();
        var watch = Stopwatch.StartNew();
        LayerEvents[] Events() => [.. crossbars.Layers.Select(l => l.Events)];
        void Simulate(Action<int>? progress)
        {
            while (done < Test.Count)
            {
                cancel.ThrowIfCancellationRequested();
                int start = done, count = (int)Math.Min(Test.Count - done, (long)BatchSize * policy.EveryBatches);
                var part = Evaluator.Evaluate(executor, Test.Slice(start, count), Normalization, BatchSize, (d, _) => progress?.Invoke(start + d), cancel);
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
        if (output.Interactive)
            output.Err.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("simulating", maxValue: Test.Count);
                task.Value = done;
                Simulate(d => task.Value = d);
            });
        else Simulate(null);

        var simulated = new EvaluationResult(correct, done, secondsBefore + watch.Elapsed.TotalSeconds);
        output.Log($"{crossbars.Spec.Name}: simulated accuracy {simulated.Accuracy:P2} ({simulated.ImagesPerSecond:F1} images/s); progress in {policy.Path}");
        return new CrossbarRun(crossbars, simulated, CrossbarCost.Evaluate(crossbars), programSeconds, Events(), from?.ImagesDone ?? 0);
    }

    public void Dispose()
    {
        Model.Dispose();
        Graph.Dispose();
    }
}
