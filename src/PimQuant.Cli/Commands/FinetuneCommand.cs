using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using PimQuant.Quant.Qat;

namespace PimQuant.Cli.Commands;

/// <summary>
/// <c>pimq finetune</c>: quantization-aware training from a per-layer YAML config (<see cref="Finetuning"/>). The model is
/// calibrated as post-training quantization calibrates it, then trained with fake-quantized layers (straight-through
/// gradients), optionally learning every step (LSQ) and activation clip (PACT), and written as ONNX QDQ.
/// </summary>
public static class FinetuneCommand
{
    /// <summary>The command.</summary>
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
        var data = new DataFlags();
        var calibrationImages = CommonOptions.CalibrationImages();
        var verify = new Option<bool>("--verify") { Description = "Run the written QDQ model in ONNX Runtime on the test split and report its accuracy" };
        // Fine-tuning starts from trained weights: a small learning rate.
        var training = new TrainingFlags(defaultEpochs: null, sgdLearningRate: 0.005, adamWLearningRate: 1e-4);

        var command = new Command("finetune", "Quantization-aware training (straight-through fake quantization, LSQ, PACT) from a YAML config; writes ONNX QDQ")
        {
            modelPath, config, outputPath, lsq, pact,
        };
        data.AddTo(command);
        command.Options.Add(calibrationImages);
        training.AddTo(command);
        foreach (var option in new Option[] { verify, seed, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            string path = parse.GetValue(modelPath)!, configPath = parse.GetValue(config)!, outPath = parse.GetValue(outputPath)!;
            var request = new FinetuningRequest(path, configPath, Quantization.LoadConfig(configPath), data.Read(parse), parse.GetValue(calibrationImages),
                new QatLearning(parse.GetValue(lsq), parse.GetValue(pact)), training.Read(parse, parse.GetValue(seed)), outPath,
                training.CheckpointPath(parse, outPath), parse.GetValue(training.Resume), parse.GetValue(verify),
                "pimq " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), parse.GetValue(data.Images));
            using var result = Finetuning.Run(request, new ConsoleProgress(output), cancel);
            output.Err.Write(Reports.StatisticsTable(result.Model, result.Weights.Layers, result.Activations));
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["config"] = Path.GetFullPath(configPath),
                ["dataset"] = result.Data.DatasetName,
                ["preprocessing"] = Reports.PreprocessingJson(result.Data.Preprocessing),
                ["seed"] = request.Training.Seed,
                ["threads"] = parse.GetValue(threads),
                ["epochs"] = request.Training.Epochs,
                ["lsq"] = request.Learning.Lsq,
                ["pact"] = request.Learning.Pact,
                ["learned_parameters"] = result.LearnedParameters,
                ["fp32_accuracy"] = result.Fp32.Accuracy,
                ["calibrated_accuracy"] = result.Calibrated.Accuracy,
                ["quantized_accuracy"] = result.Quantized.Accuracy,
                ["test_images"] = result.Quantized.Total,
                ["accuracy_drop_points"] = result.AccuracyDropPoints,
                ["history"] = new JsonArray(result.Training.History.Select(h => (JsonNode)new JsonObject
                {
                    ["epoch"] = h.Epoch, ["train_loss"] = h.TrainLoss, ["train_accuracy"] = h.TrainAccuracy, ["test_accuracy"] = h.TestAccuracy, ["seconds"] = h.Seconds,
                }).ToArray()),
                ["layers"] = Reports.LayersJson(result.Model, result.Weights.Layers, result.Activations),
                ["total"] = Reports.StatisticsJson(result.Weights.Total),
                ["output"] = Path.GetFullPath(outPath),
                ["notes"] = new JsonArray(result.Notes.Select(n => (JsonNode)n).ToArray()),
                ["onnxruntime_accuracy"] = result.OnnxRuntimeAccuracy,
                ["seconds"] = result.Training.Seconds,
                ["checkpoint"] = Path.GetFullPath(request.Checkpoint),
                ["resumed_from_epoch"] = result.Training.ResumedFromEpoch,
            }, $"FP32 {result.Fp32.Accuracy:P2}, calibrated {result.Calibrated.Accuracy:P2}, fine-tuned {result.Quantized.Accuracy:P2} after {request.Training.Epochs} epochs; wrote {outPath}"
               + (result.OnnxRuntimeAccuracy is { } a ? $"; ONNX Runtime {a:P2}" : ""));
            return ExitCodes.Ok;
        }));
        return command;
    }
}
