using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Qat;
using PimQuant.Quant.Statistics;
using PimQuant.Training;
using Spectre.Console;
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
        var epochs = new Option<int>("--epochs") { Description = "Training epochs", Required = true };
        var lsq = new Option<bool>("--lsq") { Description = "Learn every weight and activation step (LSQ)" };
        var pact = new Option<bool>("--pact") { Description = "Learn a clip β for every unsigned per-tensor activation (PACT)" };
        var dataset = CommonOptions.Dataset();
        dataset.AcceptOnlyFromAmong(Workspace.KnownDatasets);
        var data = CommonOptions.Data();
        var calibrationImages = QuantizeCommand.CalibrationImagesOption();
        var batch = CommonOptions.BatchSize(128);
        var optimizer = new Option<string>("--optimizer") { Description = "sgd or adamw", DefaultValueFactory = _ => "sgd" };
        optimizer.AcceptOnlyFromAmong("sgd", "adamw");
        var lr = new Option<double>("--lr") { Description = "Peak learning rate, cosine schedule (default 0.005 for SGD, 1e-4 for AdamW)" };
        var weightDecay = new Option<double>("--weight-decay") { Description = "Weight decay (default 5e-4 for SGD, 0.01 for AdamW)" };
        var cropPadding = new Option<int>("--crop-padding") { Description = "Random-crop zero padding in pixels (0 disables)", DefaultValueFactory = _ => 2 };
        var noFlip = new Option<bool>("--no-flip") { Description = "Disable random horizontal flips" };
        var verify = new Option<bool>("--verify") { Description = "Run the written QDQ model in ONNX Runtime on the test split and report its accuracy" };

        var command = new Command("finetune", "Quantization-aware training (straight-through fake quantization, LSQ, PACT) from a YAML config; writes ONNX QDQ")
        {
            modelPath, config, outputPath, epochs, lsq, pact, dataset, data, calibrationImages, batch, optimizer, lr, weightDecay, cropPadding, noFlip, verify, seed, threads, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            string path = parse.GetValue(modelPath)!;
            long seedValue = parse.GetValue(seed);
            bool adamW = parse.GetValue(optimizer) == "adamw";
            TrainingOptions options;
            try
            {
                options = new TrainingOptions
                {
                    Epochs = parse.GetValue(epochs),
                    BatchSize = parse.GetValue(batch),
                    Optimizer = adamW ? OptimizerKind.AdamW : OptimizerKind.Sgd,
                    LearningRate = parse.GetResult(lr) is null ? (adamW ? 1e-4 : 0.005) : parse.GetValue(lr),
                    WeightDecay = parse.GetResult(weightDecay) is null ? (adamW ? 0.01 : 5e-4) : parse.GetValue(weightDecay),
                    Schedule = ScheduleKind.Cosine,
                    CropPadding = parse.GetValue(cropPadding),
                    HorizontalFlip = !parse.GetValue(noFlip),
                    Seed = seedValue,
                }.Validated();
            }
            catch (ArgumentException e)
            {
                throw new UserError(e.Message, ExitCodes.Usage);
            }
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
            var policy = new Trainer.CheckpointPolicy(null, false, $"finetune|{path}|{options}");
            TrainingResult training = null!;
            if (output.Interactive)
                output.Err.Progress()
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("fine-tuning");
                        training = new Trainer(graph, options, new TrainingProgressView(output, task), model.Overrides, parameters)
                            .Run(session.Train, session.Test, session.Normalization, policy, cancel);
                    });
            else
                training = new Trainer(graph, options, new TrainingProgressView(output, null), model.Overrides, parameters)
                    .Run(session.Train, session.Test, session.Normalization, policy, cancel);

            var activationStatistics = QuantizeCommand.CollectActivationStatistics(model);
            var quantized = EvalCommand.Run(output, model.CreateExecutor(), session.Test, session.Normalization, evalBatch, cancel);
            var weights = WeightBitStatistics.Of(model);
            output.Err.Write(QuantizeCommand.StatisticsTable(model, weights.Layers, activationStatistics));
            var (written, exportNotes, ortAccuracy) = QuantizeCommand.Export(output, model, parse.GetValue(outputPath), parse.GetValue(verify), session, evalBatch, cancel);
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
                ["history"] = new JsonArray(training.History.Select(h => (JsonNode)new JsonObject
                {
                    ["epoch"] = h.Epoch, ["train_loss"] = h.TrainLoss, ["train_accuracy"] = h.TrainAccuracy, ["test_accuracy"] = h.TestAccuracy, ["seconds"] = h.Seconds,
                }).ToArray()),
                ["layers"] = QuantizeCommand.LayersJson(model, weights.Layers, activationStatistics),
                ["total"] = QuantizeCommand.StatisticsJson(weights.Total),
                ["output"] = written is null ? null : Path.GetFullPath(written),
                ["notes"] = new JsonArray(notes.Concat(exportNotes).Select(n => (JsonNode)n).ToArray()),
                ["onnxruntime_accuracy"] = ortAccuracy,
                ["seconds"] = training.Seconds,
            }, $"FP32 {full.Accuracy:P2}, calibrated {calibrated.Accuracy:P2}, fine-tuned {quantized.Accuracy:P2} after {options.Epochs} epochs; wrote {written}"
               + (ortAccuracy is { } a ? $"; ONNX Runtime {a:P2}" : ""));
            return ExitCodes.Ok;
        }));
        return command;
    }
}
