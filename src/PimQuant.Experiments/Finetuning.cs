using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Quant.Config;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Qat;
using PimQuant.Quant.Statistics;
using PimQuant.Training;

namespace PimQuant.Experiments;

/// <summary>A quantization-aware fine-tuning run.</summary>
/// <param name="Model">The ONNX model file.</param>
/// <param name="ConfigPath">The quantization config file (its bytes are part of the run's key).</param>
/// <param name="Config">The config read from <paramref name="ConfigPath"/>.</param>
/// <param name="Data">The dataset, its directory and the preprocessing.</param>
/// <param name="CalibrationImages">Training images chosen with the seed for the initial calibration.</param>
/// <param name="Learning">Which steps and clips are learned (LSQ, PACT).</param>
/// <param name="Training">Epochs, optimizer, schedule, augmentation and seed.</param>
/// <param name="Output">Where the fine-tuned model is written (ONNX QDQ).</param>
/// <param name="Checkpoint">The training checkpoint file.</param>
/// <param name="Resume">Continue from <paramref name="Checkpoint"/> if it exists.</param>
/// <param name="Verify">Evaluate the written file in ONNX Runtime too.</param>
/// <param name="Command">The command line stamped into the written model's metadata.</param>
/// <param name="Images">Evaluate on the first N test images; null: all.</param>
public sealed record FinetuningRequest(string Model, string ConfigPath, QuantConfig Config, DataOptions Data, int CalibrationImages, QatLearning Learning,
    TrainingOptions Training, string Output, string Checkpoint, bool Resume = false, bool Verify = false, string Command = "", int? Images = null);

/// <summary>What a fine-tuning run measured and wrote; owns the quantized model and its graph.</summary>
public sealed class FinetuningResult : QuantizationRunResult
{
    /// <summary>Accuracy after calibration, before training.</summary>
    public required EvaluationResult Calibrated { get; init; }
    /// <summary>Epoch history, time, and the epoch a resumed run continued from.</summary>
    public required TrainingResult Training { get; init; }
    /// <summary>Quantization parameters learned beside the weights.</summary>
    public required int LearnedParameters { get; init; }
}

/// <summary>
/// Quantization-aware training from a config: the model is calibrated as post-training quantization calibrates
/// it, then trained with fake-quantized layers (straight-through gradients), optionally learning every step (LSQ)
/// and activation clip (PACT), checkpointed every epoch, and written as ONNX QDQ.
/// </summary>
public static class Finetuning
{
    /// <summary>Images per evaluated batch.</summary>
    private const int EvaluationBatch = 256;

    /// <summary>Runs <paramref name="request"/>; the model, config, data and calibration count are checked before any evaluation.</summary>
    public static FinetuningResult Run(FinetuningRequest request, IExperimentProgress progress, CancellationToken cancel)
    {
        Quantization.Check(request.Model, request.Config);
        var graph = ModelFiles.Load(request.Model);
        QuantizedModel? model = null;
        try
        {
            var data = request.Data.Resolve(graph, request.Model, request.Images);
            var train = data.LoadTrain();
            progress.Log($"{train}; test {data.Test.Count} images");
            Quantization.CheckCalibrationCount(train, request.CalibrationImages);
            var full = Evaluation.Run(new GraphExecutor(graph), data.Test, data.Normalization, EvaluationBatch, progress, cancel);
            progress.Log($"FP32 accuracy {full.Accuracy:P2} on {data.Test.Count} test images");
            model = Quantization.Build(graph, request.Config, request.Training.Seed);
            using (var images = Quantization.CalibrationImages(train, data.Normalization, request.CalibrationImages, request.Training.Seed))
                progress.Step("calibrating", report =>
                {
                    PostTrainingQuantization.Calibrate(model, images, 128, Quantization.Forward(report), cancel);
                    return 0;
                });
            var calibrated = Evaluation.Run(model.CreateExecutor(), data.Test, data.Normalization, EvaluationBatch, progress, cancel);
            progress.Log($"calibrated (before training) accuracy {calibrated.Accuracy:P2}");

            var (parameters, notes) = QuantizationAwareTraining.Prepare(model, request.Learning);
            foreach (var note in notes) progress.Log(note);
            // The run's identity: a checkpoint of another model, config, data or set of options is refused.
            string runKey = string.Join('|', "finetune", ModelFiles.Digest(request.Model), ModelFiles.Digest(request.ConfigPath),
                data.DatasetName, train.Count, request.CalibrationImages, $"lsq={request.Learning.Lsq}", $"pact={request.Learning.Pact}", request.Training)
                // The per-epoch test accuracies are part of the checkpoint; a key without images is the whole test split's, as before --images existed.
                + (request.Images is null ? "" : $"|test={data.Test.Count}");
            var policy = new Trainer.CheckpointPolicy(request.Checkpoint, request.Resume, runKey);
            var quantizedModel = model;
            var trained = TrainingObserver.Run(progress, "fine-tuning",
                observer => new Trainer(graph, request.Training, observer, quantizedModel.Overrides, parameters).Run(train, data.Test, data.Normalization, policy, cancel));
            QuantizationAwareTraining.Finish(model);

            var activations = Quantization.CollectActivationStatistics(model);
            var quantized = Evaluation.Run(model.CreateExecutor(), data.Test, data.Normalization, EvaluationBatch, progress, cancel);
            var weights = WeightBitStatistics.Of(model);
            var exportNotes = Quantization.Export(model, request.Output, request.Command);
            foreach (var note in exportNotes) progress.Log(note);
            double? ortAccuracy = request.Verify ? Quantization.OnnxRuntimeAccuracy(request.Output, data.Test, data.Normalization, EvaluationBatch, cancel) : null;
            return new FinetuningResult
            {
                Data = data, Fp32 = full, Calibrated = calibrated, Quantized = quantized, Training = trained, LearnedParameters = parameters.Count,
                Model = model, Graph = graph, Weights = weights, Activations = activations, Notes = [.. notes, .. exportNotes], OnnxRuntimeAccuracy = ortAccuracy,
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
