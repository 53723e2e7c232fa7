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
        var outputPath = new Option<string>("--output", "-o") { Description = "Where to write the trained ONNX model (default MODEL-DATASET.onnx)" };

        var training = new TrainingFlags(defaultEpochs: 30, sgdLearningRate: 0.1, adamWLearningRate: 1e-3);

        var command = new Command("train", "Train a zoo model on a dataset and write it as ONNX") { model, dataset, data };
        training.AddTo(command);
        foreach (var option in new Option[] { outputPath, seed, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            string modelName = parse.GetValue(model)!;
            string datasetName = parse.GetValue(dataset) ?? "fashion-mnist";
            var options = training.Read(parse, parse.GetValue(seed));
            string outPath = parse.GetValue(outputPath) ?? $"{modelName}-{datasetName}.onnx";
            string ckptPath = training.CheckpointPath(parse, outPath);

            var train = Workspace.LoadDataset(datasetName, "train", parse.GetValue(data));
            var test = Workspace.LoadDataset(datasetName, "test", parse.GetValue(data));
            output.Log($"{train}; test {test.Count} images");
            if (train.Height is not (28 or 32) || train.Height != train.Width)
                throw new UserError($"{datasetName}: {train.Height}×{train.Width} images; zoo models take 28×28 or 32×32");
            var normalization = DatasetCatalog.Get(datasetName).Normalization;
            using var graph = ModelZoo.Build(modelName, new ModelInput(train.Channels, train.Height, train.Classes), parse.GetValue(seed));
            string runKey = $"{modelName}|{datasetName}|{train.Count}|{options}";
            var policy = new Trainer.CheckpointPolicy(ckptPath, parse.GetValue(training.Resume), runKey);

            var result = TrainingFlags.RunWithProgress(output, "training",
                view => new Trainer(graph, options, view).Run(train, test, normalization, policy, cancel));

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

/// <summary>
/// The training options <c>pimq train</c> and <c>pimq finetune</c> share — epochs, batch, optimizer,
/// schedule, augmentation, checkpoint and resume — and the validated <see cref="TrainingOptions"/> they make.
/// Created fresh per command, as System.CommandLine options belong to one command.
/// </summary>
internal sealed class TrainingFlags
{
    private readonly double _sgdLearningRate, _adamWLearningRate;

    /// <summary>The flags, with the command's own defaults.</summary>
    /// <param name="defaultEpochs">Epochs when --epochs is absent; null makes --epochs required.</param>
    /// <param name="sgdLearningRate">Peak learning rate for SGD when --lr is absent.</param>
    /// <param name="adamWLearningRate">Peak learning rate for AdamW when --lr is absent.</param>
    public TrainingFlags(int? defaultEpochs, double sgdLearningRate, double adamWLearningRate)
    {
        _sgdLearningRate = sgdLearningRate;
        _adamWLearningRate = adamWLearningRate;
        Epochs = new Option<int>("--epochs") { Description = "Training epochs", Required = defaultEpochs is null };
        if (defaultEpochs is { } e) Epochs.DefaultValueFactory = _ => e;
        Lr = new Option<double>("--lr") { Description = $"Peak learning rate (default {sgdLearningRate} for SGD, {adamWLearningRate} for AdamW)" };
        Optimizer.AcceptOnlyFromAmong("sgd", "adamw");
        Schedule.AcceptOnlyFromAmong("cosine", "step", "constant");
    }

    public Option<int> Epochs { get; }
    public Option<int> Batch { get; } = CommonOptions.BatchSize(128);
    public Option<string> Optimizer { get; } = new("--optimizer") { Description = "sgd or adamw", DefaultValueFactory = _ => "sgd" };
    public Option<double> Lr { get; }
    public Option<double> Momentum { get; } = new("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.9 };
    public Option<bool> NoNesterov { get; } = new("--no-nesterov") { Description = "Plain instead of Nesterov momentum" };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "Weight decay (default 5e-4 for SGD, 0.01 for AdamW)" };
    public Option<string> Schedule { get; } = new("--schedule") { Description = "cosine, step or constant", DefaultValueFactory = _ => "cosine" };
    public Option<int> StepEpochs { get; } = new("--step-epochs") { Description = "Step schedule: epochs between decays", DefaultValueFactory = _ => 10 };
    public Option<double> StepGamma { get; } = new("--step-gamma") { Description = "Step schedule: decay factor", DefaultValueFactory = _ => 0.1 };
    public Option<int> Warmup { get; } = new("--warmup") { Description = "Linear warm-up epochs", DefaultValueFactory = _ => 0 };
    public Option<double> Smoothing { get; } = new("--label-smoothing") { Description = "Label smoothing", DefaultValueFactory = _ => 0.0 };
    public Option<int> CropPadding { get; } = new("--crop-padding") { Description = "Random-crop zero padding in pixels (0 disables)", DefaultValueFactory = _ => 2 };
    public Option<bool> NoFlip { get; } = new("--no-flip") { Description = "Disable random horizontal flips" };
    public Option<string> Checkpoint { get; } = new("--checkpoint") { Description = "Checkpoint file, rewritten atomically after every epoch (default OUTPUT.ckpt)" };
    public Option<bool> Resume { get; } = new("--resume") { Description = "Continue from the checkpoint if it exists" };

    /// <summary>Adds every flag to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Epochs, Batch, Optimizer, Lr, Momentum, NoNesterov, WeightDecay, Schedule, StepEpochs, StepGamma,
                     Warmup, Smoothing, CropPadding, NoFlip, Checkpoint, Resume })
            command.Options.Add(option);
    }

    /// <summary>The validated options; an invalid value is a usage error naming the field.</summary>
    public TrainingOptions Read(ParseResult parse, long seed)
    {
        bool adamW = parse.GetValue(Optimizer) == "adamw";
        try
        {
            return new TrainingOptions
            {
                Epochs = parse.GetValue(Epochs),
                BatchSize = parse.GetValue(Batch),
                Optimizer = adamW ? OptimizerKind.AdamW : OptimizerKind.Sgd,
                LearningRate = parse.GetResult(Lr) is null ? (adamW ? _adamWLearningRate : _sgdLearningRate) : parse.GetValue(Lr),
                Momentum = parse.GetValue(Momentum),
                Nesterov = !parse.GetValue(NoNesterov),
                WeightDecay = parse.GetResult(WeightDecay) is null ? (adamW ? 0.01 : 5e-4) : parse.GetValue(WeightDecay),
                Schedule = Enum.Parse<ScheduleKind>(parse.GetValue(Schedule)!, ignoreCase: true),
                StepEpochs = parse.GetValue(StepEpochs),
                StepGamma = parse.GetValue(StepGamma),
                WarmupEpochs = parse.GetValue(Warmup),
                LabelSmoothing = parse.GetValue(Smoothing),
                CropPadding = parse.GetValue(CropPadding),
                HorizontalFlip = !parse.GetValue(NoFlip),
                Seed = seed,
            }.Validated();
        }
        catch (ArgumentException e)
        {
            throw new UserError(e.Message, ExitCodes.Usage);
        }
    }

    /// <summary>Runs a training loop with a progress bar on a terminal, one log line per epoch otherwise.</summary>
    public static TrainingResult RunWithProgress(Output output, string title, Func<TrainingProgressView, TrainingResult> run)
    {
        if (!output.Interactive) return run(new TrainingProgressView(output, null));
        TrainingResult result = null!;
        output.Err.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx => result = run(new TrainingProgressView(output, ctx.AddTask(title))));
        return result;
    }

    /// <summary>--checkpoint, or the output path with <c>.ckpt</c> appended.</summary>
    public string CheckpointPath(ParseResult parse, string outputPath) => parse.GetValue(Checkpoint) ?? outputPath + ".ckpt";
}
