using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Qat;
using PimQuant.Quant.Statistics;
using PimQuant.Training;
using static TorchSharp.torch;

namespace PimQuant.Cli.Commands;

/// <summary>
/// <c>pimq finetune</c>: quantization-aware training from a per-layer YAML config. The model is
/// calibrated as in <c>pimq quantize</c>, then trained with fake-quantized layers (straight-through
/// gradients), optionally learning every step (LSQ) and activation clip (PACT), and written as ONNX QDQ.
/// </summary>
public static class FinetuneCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var config = new Option<string>("--config") { Description = "Quantization config (YAML, see docs/quantization.md)", Required = true };
        var outputPath = new Option<string>("--output", "-o") { Description = "Where to write the fine-tuned quantized model (ONNX QDQ)", Required = true };
        var lsq = new Option<bool>("--lsq") { Description = "Learn every weight and activation step (LSQ)" };
        var pact = new Option<bool>("--pact") { Description = "Learn a clip β for every unsigned per-tensor activation (PACT)" };
        var dataset = CommonOptions.Dataset();
        dataset.AcceptOnlyFromAmong(Workspace.KnownDatasets);
        var data = CommonOptions.Data();
        var calibrationImages = QuantizeCommand.CalibrationImagesOption();
        var verify = new Option<bool>("--verify") { Description = "Run the written QDQ model in ONNX Runtime on the test split and report its accuracy" };
        // Fine-tuning starts from trained weights: a small learning rate.
        var training = new TrainingFlags(defaultEpochs: null, sgdLearningRate: 0.005, adamWLearningRate: 1e-4);

        var command = new Command("finetune", "Quantization-aware training (straight-through fake quantization, LSQ, PACT) from a YAML config; writes ONNX QDQ")
        {
            modelPath, config, outputPath, lsq, pact, dataset, data, calibrationImages,
        };
        training.AddTo(command);
        foreach (var option in new Option[] { verify, seed, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            string path = parse.GetValue(modelPath)!;
            long seedValue = parse.GetValue(seed);
            var options = training.Read(parse, seedValue);
            string outPath = parse.GetValue(outputPath)!;
            var session = QuantizeCommand.Session.Open(path, parse.GetValue(config)!, parse.GetValue(dataset), parse.GetValue(data), output);
            using var graph = session.Graph;
            int evalBatch = 256;
            var full = EvalCommand.Run(output, new GraphExecutor(graph), session.Test, session.Normalization, evalBatch, cancel);
            output.Log($"FP32 accuracy {full.Accuracy:P2} on {session.Test.Count} test images");
            using var model = session.Quantize(seedValue);
            using var scope = NewDisposeScope();
            var images = QuantizeCommand.CalibrationImages(session.Train, session.Normalization, parse.GetValue(calibrationImages), seedValue);
            QuantizeCommand.RunWithProgress(output, "calibrating", progress =>
            {
                PostTrainingQuantization.Calibrate(model, images, 128, progress, cancel);
                return 0;
            });
            var calibrated = EvalCommand.Run(output, model.CreateExecutor(), session.Test, session.Normalization, evalBatch, cancel);
            output.Log($"calibrated (before training) accuracy {calibrated.Accuracy:P2}");

            var (parameters, notes) = QuantizationAwareTraining.Prepare(model, new QatLearning(parse.GetValue(lsq), parse.GetValue(pact)));
            foreach (var note in notes) output.Log(note);
            // The run's identity: a checkpoint of another model, config, data or set of options is refused.
            string runKey = string.Join('|', "finetune", FileDigest(path), FileDigest(parse.GetValue(config)!),
                session.DatasetName, session.Train.Count, images.shape[0], $"lsq={parse.GetValue(lsq)}", $"pact={parse.GetValue(pact)}", options);
            var policy = new Trainer.CheckpointPolicy(training.CheckpointPath(parse, outPath), parse.GetValue(training.Resume), runKey);
            var trained = TrainingFlags.RunWithProgress(output, "fine-tuning",
                view => new Trainer(graph, options, view, model.Overrides, parameters).Run(session.Train, session.Test, session.Normalization, policy, cancel));
            QuantizationAwareTraining.Finish(model);

            var activationStatistics = QuantizeCommand.CollectActivationStatistics(model);
            var quantized = EvalCommand.Run(output, model.CreateExecutor(), session.Test, session.Normalization, evalBatch, cancel);
            var weights = WeightBitStatistics.Of(model);
            output.Err.Write(QuantizeCommand.StatisticsTable(model, weights.Layers, activationStatistics));
            var (written, exportNotes, ortAccuracy) = QuantizeCommand.Export(output, model, outPath, parse.GetValue(verify), session, evalBatch, cancel);
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["config"] = Path.GetFullPath(parse.GetValue(config)!),
                ["dataset"] = session.DatasetName,
                ["seed"] = seedValue,
                ["threads"] = parse.GetValue(threads),
                ["epochs"] = options.Epochs,
                ["lsq"] = parse.GetValue(lsq),
                ["pact"] = parse.GetValue(pact),
                ["learned_parameters"] = parameters.Count,
                ["fp32_accuracy"] = full.Accuracy,
                ["calibrated_accuracy"] = calibrated.Accuracy,
                ["quantized_accuracy"] = quantized.Accuracy,
                ["accuracy_drop_points"] = 100 * (full.Accuracy - quantized.Accuracy),
                ["history"] = new JsonArray(trained.History.Select(h => (JsonNode)new JsonObject
                {
                    ["epoch"] = h.Epoch, ["train_loss"] = h.TrainLoss, ["train_accuracy"] = h.TrainAccuracy, ["test_accuracy"] = h.TestAccuracy, ["seconds"] = h.Seconds,
                }).ToArray()),
                ["layers"] = QuantizeCommand.LayersJson(model, weights.Layers, activationStatistics),
                ["total"] = QuantizeCommand.StatisticsJson(weights.Total),
                ["output"] = written is null ? null : Path.GetFullPath(written),
                ["notes"] = new JsonArray(notes.Concat(exportNotes).Select(n => (JsonNode)n).ToArray()),
                ["onnxruntime_accuracy"] = ortAccuracy,
                ["seconds"] = trained.Seconds,
                ["checkpoint"] = Path.GetFullPath(policy.Path!),
                ["resumed_from_epoch"] = trained.ResumedFromEpoch,
            }, $"FP32 {full.Accuracy:P2}, calibrated {calibrated.Accuracy:P2}, fine-tuned {quantized.Accuracy:P2} after {options.Epochs} epochs; wrote {written}"
               + (ortAccuracy is { } a ? $"; ONNX Runtime {a:P2}" : ""));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The SHA-256 of a file's bytes, in hex: a resumed run must read the same model and config.</summary>
    private static string FileDigest(string path) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));
}
