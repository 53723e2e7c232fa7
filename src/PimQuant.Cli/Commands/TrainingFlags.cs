using System.CommandLine;
using PimQuant.Training;

namespace PimQuant.Cli.Commands;

/// <summary>
/// The training options <c>pimq train</c> and <c>pimq finetune</c> share — epochs, batch, optimizer,
/// schedule, augmentation, checkpoint and resume — and the validated <see cref="TrainingOptions"/> they make.
/// Created fresh per command, as System.CommandLine options belong to one command.
/// </summary>
internal sealed class TrainingFlags
{
    private readonly TrainingDefaults _defaults;

    /// <summary>The flags, with the command's own defaults.</summary>
    /// <param name="defaultEpochs">Epochs when --epochs is absent; null makes --epochs required.</param>
    /// <param name="sgdLearningRate">Peak learning rate for SGD when --lr is absent.</param>
    /// <param name="adamWLearningRate">Peak learning rate for AdamW when --lr is absent.</param>
    public TrainingFlags(int? defaultEpochs, double sgdLearningRate, double adamWLearningRate)
    {
        _defaults = new TrainingDefaults(defaultEpochs ?? 0, sgdLearningRate, adamWLearningRate);
        // Numbers are parsed here and range-checked by TrainingOptions.Validated, which names the field.
        Epochs = CommonOptions.Integer("--epochs", "Training epochs", int.MinValue, fallback: defaultEpochs ?? 0);
        Epochs.Required = defaultEpochs is null;
        Lr = CommonOptions.OptionalReal("--lr", $"Peak learning rate (default {sgdLearningRate} for SGD, {adamWLearningRate} for AdamW)", double.MinValue, double.MaxValue);
        Optimizer.AcceptOnlyFromAmong("sgd", "adamw");
        Schedule.AcceptOnlyFromAmong("cosine", "step", "constant");
    }

    public Option<int> Epochs { get; }
    public Option<int> Batch { get; } = CommonOptions.BatchSize(128);
    public Option<string> Optimizer { get; } = new("--optimizer") { Description = "sgd or adamw", DefaultValueFactory = _ => "sgd" };
    public Option<double?> Lr { get; }
    public Option<double> Momentum { get; } = CommonOptions.Real("--momentum", "SGD momentum", double.MinValue, double.MaxValue, 0.9);
    public Option<bool> NoNesterov { get; } = new("--no-nesterov") { Description = "Plain instead of Nesterov momentum" };
    public Option<double?> WeightDecay { get; } = CommonOptions.OptionalReal("--weight-decay", "Weight decay (default 5e-4 for SGD, 0.01 for AdamW)", double.MinValue, double.MaxValue);
    public Option<string> Schedule { get; } = new("--schedule") { Description = "cosine, step or constant", DefaultValueFactory = _ => "cosine" };
    public Option<int> StepEpochs { get; } = CommonOptions.Integer("--step-epochs", "Step schedule: epochs between decays", int.MinValue, fallback: 10);
    public Option<double> StepGamma { get; } = CommonOptions.Real("--step-gamma", "Step schedule: decay factor", double.MinValue, double.MaxValue, 0.1);
    public Option<int> Warmup { get; } = CommonOptions.Integer("--warmup", "Linear warm-up epochs", int.MinValue, fallback: 0);
    public Option<double> Smoothing { get; } = CommonOptions.Real("--label-smoothing", "Label smoothing", double.MinValue, double.MaxValue, 0.0);
    public Option<int> CropPadding { get; } = CommonOptions.Integer("--crop-padding", "Random-crop zero padding in pixels (0 disables)", int.MinValue, fallback: 2);
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
    public TrainingOptions Read(ParseResult parse, long seed) => Read(parse, seed, _defaults);

    /// <summary>The validated options, <paramref name="defaults"/> standing for the flags not given (a mode of the command with
    /// defaults of its own, as <c>finetune --scheme bwq</c>); an invalid value is a usage error naming the field.</summary>
    public TrainingOptions Read(ParseResult parse, long seed, TrainingDefaults defaults)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        bool adamW = parse.GetValue(Optimizer) == "adamw";
        try
        {
            return new TrainingOptions
            {
                Epochs = parse.GetResult(Epochs) is { Implicit: false } ? parse.GetValue(Epochs) : defaults.Epochs,
                BatchSize = parse.GetValue(Batch),
                Optimizer = adamW ? OptimizerKind.AdamW : OptimizerKind.Sgd,
                LearningRate = parse.GetValue(Lr) ?? (adamW ? defaults.AdamWLearningRate : defaults.SgdLearningRate),
                Momentum = parse.GetValue(Momentum),
                Nesterov = !parse.GetValue(NoNesterov),
                WeightDecay = parse.GetValue(WeightDecay) ?? defaults.WeightDecay ?? (adamW ? 0.01 : 5e-4),
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

    /// <summary>--checkpoint, or the output path with <c>.ckpt</c> appended.</summary>
    public string CheckpointPath(ParseResult parse, string outputPath) => parse.GetValue(Checkpoint) ?? outputPath + ".ckpt";
}

/// <summary>What the training flags not given stand for.</summary>
/// <param name="Epochs">Epochs without --epochs.</param>
/// <param name="SgdLearningRate">Peak learning rate for SGD without --lr.</param>
/// <param name="AdamWLearningRate">Peak learning rate for AdamW without --lr.</param>
/// <param name="WeightDecay">Weight decay without --weight-decay; null: the optimizer's (5e-4 for SGD, 0.01 for AdamW).</param>
internal sealed record TrainingDefaults(int Epochs, double SgdLearningRate, double AdamWLearningRate, double? WeightDecay = null);
