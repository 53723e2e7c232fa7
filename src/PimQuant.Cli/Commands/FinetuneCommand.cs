using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using PimQuant.Methods.Bwq;
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
        // --config and --epochs are required by the conventional fine-tune only (checked when it runs): BWQ-A chooses the bits and
        // has an epoch count per step of its own.
        var config = new Option<string>("--config") { Description = "Quantization config (YAML, see docs/quantization.md); required without --scheme bwq, refused with it" };
        var outputPath = new Option<string>("--output", "-o") { Description = "Where to write the fine-tuned quantized model (ONNX QDQ)", Required = true };
        var lsq = new Option<bool>("--lsq") { Description = "Learn every weight and activation step (LSQ)" };
        var pact = new Option<bool>("--pact") { Description = "Learn a clip β for every unsigned per-tensor activation (PACT)" };
        var data = new DataFlags();
        var calibrationImages = CommonOptions.CalibrationImages();
        var verify = new Option<bool>("--verify") { Description = "Run the written QDQ model in ONNX Runtime on the test split and report its accuracy" };
        // Fine-tuning starts from trained weights: a small learning rate.
        var training = new TrainingFlags(defaultEpochs: null, sgdLearningRate: 0.005, adamWLearningRate: 1e-4);
        training.Epochs.Required = false;
        training.Epochs.DefaultValueFactory = null;
        training.Epochs.Description = "Training epochs; required without --scheme bwq, with it per step (default 1)";
        training.Lr.Description = "Peak learning rate (default 0.005 for SGD, 0.0001 for AdamW; --scheme bwq: 0.01 for SGD)";
        training.WeightDecay.Description = "Weight decay (default 5e-4 for SGD, 0.01 for AdamW; --scheme bwq: 0)";
        training.Resume.Description = "Continue from the checkpoint (--scheme bwq: the step checkpoints) if it exists";
        var scheme = new SchemeFlags("bwq");
        var bwq = new BwqFlags(training);

        var command = new Command("finetune", CommonOptions.Help("Quantization-aware training (straight-through fake quantization, LSQ, PACT) from a YAML config, " +
            "or BWQ-A with --scheme bwq (bit planes, block group lasso, alpha and activation-bit search; the weight decay defaults to 0); writes ONNX QDQ",
            "pimq finetune models/resnet20-fmnist.onnx --config configs/w4a4-lsq.yaml --epochs 5 --lsq --pact -o r20-w4a4.onnx", "pimq finetune models/resnet20-fmnist.onnx --scheme bwq --alpha 0.01 --alpha-steps 4 -o models/resnet20-fmnist-bwq.onnx --resume"))
        {
            modelPath, config, outputPath, lsq, pact,
        };
        scheme.AddTo(command);
        bwq.AddTo(command);
        data.AddTo(command);
        command.Options.Add(calibrationImages);
        training.AddTo(command);
        foreach (var option in new Option[] { verify, seed, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            if (scheme.Read(parse) is not null)
            {
                BwqFlags.Refuse(parse, "--scheme bwq", "BWQ-A chooses every block's bits and the activation width, and checkpoints its steps in --steps",
                    config, lsq, pact, training.Checkpoint, verify);
                return Bwq(parse, output, cancel);
            }
            BwqFlags.Refuse(parse, "the conventional fine-tune", "it is BWQ-A's (add --scheme bwq)", [.. bwq.Own]);
            if (parse.GetValue(config) is null) throw new UserError("give --config FILE (the quantization config), or --scheme bwq", ExitCodes.Usage);
            if (parse.GetResult(training.Epochs) is not { Implicit: false }) throw new UserError("give --epochs N", ExitCodes.Usage);
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

        // BWQ-A (docs/methods/bwq.md): its log as JSON, its steps as a table.
        int Bwq(ParseResult parse, Output output, CancellationToken cancel)
        {
            string path = parse.GetValue(modelPath)!, outPath = parse.GetValue(outputPath)!;
            BwqFlags.CheckOutputFolder(outPath);
            long seedValue = parse.GetValue(seed);
            var (options, trainingOptions) = bwq.Read(parse, seedValue);
            var request = new BwqRequest(path, data.Read(parse), options, trainingOptions, parse.GetValue(calibrationImages), outPath, bwq.StepsPath(parse, outPath),
                parse.GetValue(training.Resume), "pimq " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), parse.GetValue(data.Images));
            var result = BwqTraining.Run(request, new ConsoleProgress(output), null, cancel);
            output.Err.Write(BwqFlags.Table(result));
            var json2 = new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["scheme"] = "bwq",
                ["dataset"] = result.DatasetName,
                ["test_images"] = result.TestImages,
                ["calibration_images"] = request.CalibrationImages,
                ["seed"] = seedValue,
                ["threads"] = parse.GetValue(threads),
                ["options"] = options.ToString(),
                ["training"] = trainingOptions.ToString(),
            };
            foreach (var (key, value) in BwqFlags.Log(result)) json2[key] = value?.DeepClone();
            json2["output"] = result.Output;
            json2["steps_folder"] = Path.GetFullPath(request.Checkpoints);
            output.Result(json2, $"FP32 {result.Fp32Accuracy:P2}, BWQ-A {result.Accuracy:P2} ({Reports.Change(result.Fp32Accuracy, result.Accuracy)}) after "
                + $"{result.Steps.Count} steps, {result.MeanWeightBits:F2} bits per weight, a{result.ActivationBits}, {result.PrunedBlocks:N0} of {result.Blocks:N0} blocks pruned; wrote {outPath}");
            return ExitCodes.Ok;
        }
    }
}
