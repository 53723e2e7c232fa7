using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Engine.Passes;
using PimQuant.Models;
using PimQuant.Training;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq train</c>: trains a zoo model and writes it as ONNX.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var model = new Option<string>("--model") { Description = $"Zoo model: {string.Join(", ", ModelZoo.Names)}", Required = true };
        model.AcceptOnlyFromAmong([.. ModelZoo.Names]);
        var dataset = CommonOptions.Dataset();
        dataset.AcceptOnlyFromAmong(Workspace.KnownDatasets);
        var data = CommonOptions.Data();
        var epochs = new Option<int>("--epochs") { Description = "Training epochs", DefaultValueFactory = _ => 30 };
        var batch = CommonOptions.BatchSize(128);
        var optimizer = new Option<string>("--optimizer") { Description = "sgd or adamw", DefaultValueFactory = _ => "sgd" };
        optimizer.AcceptOnlyFromAmong("sgd", "adamw");
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (default 0.1 for SGD, 0.001 for AdamW)" };
        var momentum = new Option<double>("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.9 };
        var noNesterov = new Option<bool>("--no-nesterov") { Description = "Plain instead of Nesterov momentum" };
        var weightDecay = new Option<double>("--weight-decay") { Description = "Weight decay (default 5e-4 for SGD, 0.01 for AdamW)" };
        var schedule = new Option<string>("--schedule") { Description = "cosine, step or constant", DefaultValueFactory = _ => "cosine" };
        schedule.AcceptOnlyFromAmong("cosine", "step", "constant");
        var stepEpochs = new Option<int>("--step-epochs") { Description = "Step schedule: epochs between decays", DefaultValueFactory = _ => 10 };
        var stepGamma = new Option<double>("--step-gamma") { Description = "Step schedule: decay factor", DefaultValueFactory = _ => 0.1 };
        var warmup = new Option<int>("--warmup") { Description = "Linear warm-up epochs", DefaultValueFactory = _ => 0 };
        var smoothing = new Option<double>("--label-smoothing") { Description = "Label smoothing", DefaultValueFactory = _ => 0.0 };
        var cropPadding = new Option<int>("--crop-padding") { Description = "Random-crop zero padding in pixels (0 disables)", DefaultValueFactory = _ => 2 };
        var noFlip = new Option<bool>("--no-flip") { Description = "Disable random horizontal flips" };
        var outputPath = new Option<string>("--output", "-o") { Description = "Where to write the trained ONNX model (default MODEL-DATASET.onnx)" };
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint file, rewritten atomically after every epoch (default OUTPUT.ckpt)" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint if it exists" };

        var command = new Command("train", "Train a zoo model on a dataset and write it as ONNX")
        {
            model, dataset, data, epochs, batch, optimizer, lr, momentum, noNesterov, weightDecay, schedule, stepEpochs, stepGamma,
            warmup, smoothing, cropPadding, noFlip, outputPath, checkpoint, resume, seed, threads, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            string modelName = parse.GetValue(model)!;
            string datasetName = parse.GetValue(dataset) ?? "fashion-mnist";
            bool adamW = parse.GetValue(optimizer) == "adamw";
            TrainingOptions options;
            try
            {
                options = new TrainingOptions
                {
                    Epochs = parse.GetValue(epochs),
                    BatchSize = parse.GetValue(batch),
                    Optimizer = adamW ? OptimizerKind.AdamW : OptimizerKind.Sgd,
                    LearningRate = parse.GetResult(lr) is null ? (adamW ? 1e-3 : 0.1) : parse.GetValue(lr),
                    Momentum = parse.GetValue(momentum),
                    Nesterov = !parse.GetValue(noNesterov),
                    WeightDecay = parse.GetResult(weightDecay) is null ? (adamW ? 0.01 : 5e-4) : parse.GetValue(weightDecay),
                    Schedule = Enum.Parse<ScheduleKind>(parse.GetValue(schedule)!, ignoreCase: true),
                    StepEpochs = parse.GetValue(stepEpochs),
                    StepGamma = parse.GetValue(stepGamma),
                    WarmupEpochs = parse.GetValue(warmup),
                    LabelSmoothing = parse.GetValue(smoothing),
                    CropPadding = parse.GetValue(cropPadding),
                    HorizontalFlip = !parse.GetValue(noFlip),
                    Seed = parse.GetValue(seed),
                }.Validated();
            }
            catch (ArgumentException e)
            {
                throw new UserError(e.Message, ExitCodes.Usage);
            }
            string outPath = parse.GetValue(outputPath) ?? $"{modelName}-{datasetName}.onnx";
            string ckptPath = parse.GetValue(checkpoint) ?? outPath + ".ckpt";

            var train = Workspace.LoadDataset(datasetName, "train", parse.GetValue(data));
            var test = Workspace.LoadDataset(datasetName, "test", parse.GetValue(data));
            output.Log($"{train}; test {test.Count} images");
            if (train.Height is not (28 or 32) || train.Height != train.Width)
                throw new UserError($"{datasetName}: {train.Height}×{train.Width} images; zoo models take 28×28 or 32×32");
            var normalization = DatasetCatalog.Get(datasetName).Normalization;
            using var graph = ModelZoo.Build(modelName, new ModelInput(train.Channels, train.Height, train.Classes), parse.GetValue(seed));
            string runKey = $"{modelName}|{datasetName}|{train.Count}|{options}";
            var policy = new Trainer.CheckpointPolicy(ckptPath, parse.GetValue(resume), runKey);

            TrainingResult result = null!;
            if (output.Interactive)
                output.Err.Progress()
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("training");
                        result = new Trainer(graph, options, new TrainingProgressView(output, task)).Run(train, test, normalization, policy, cancel);
                    });
            else
                result = new Trainer(graph, options, new TrainingProgressView(output, null)).Run(train, test, normalization, policy, cancel);

            ModelFiles.StampPreprocessing(graph, normalization, datasetName);
            ShapeInference.Run(graph);
            ModelFiles.Save(graph, outPath, "pimq " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)));
            var last = result.History[^1];
            var history = new JsonArray(result.History.Select(h => (JsonNode)new JsonObject
            {
                ["epoch"] = h.Epoch, ["train_loss"] = h.TrainLoss, ["train_accuracy"] = h.TrainAccuracy,
                ["test_accuracy"] = h.TestAccuracy, ["seconds"] = h.Seconds, ["images_per_second"] = h.ImagesPerSecond,
            }).ToArray());
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = modelName,
                ["dataset"] = datasetName,
                ["output"] = Path.GetFullPath(outPath),
                ["checkpoint"] = Path.GetFullPath(ckptPath),
                ["epochs"] = options.Epochs,
                ["resumed_from_epoch"] = result.ResumedFromEpoch,
                ["seed"] = options.Seed,
                ["threads"] = parse.GetValue(threads),
                ["test_accuracy"] = last.TestAccuracy,
                ["train_accuracy"] = last.TrainAccuracy,
                ["parameters"] = graph.ParameterCount(),
                ["seconds"] = result.Seconds,
                ["history"] = history,
            }, $"test accuracy {last.TestAccuracy:F4} after {options.Epochs} epochs; wrote {outPath}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
