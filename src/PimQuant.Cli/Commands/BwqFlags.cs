using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Methods.Bwq;
using PimQuant.Training;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary>
/// BWQ-A's flags (docs/methods/bwq.md), shared by <c>pimq reproduce bwq</c> and <c>pimq finetune --scheme bwq</c>: α, its growth
/// and steps, the activation width the search stops at, the allowed loss, re-quantization and the step checkpoints' folder, with
/// the training flags BWQ-A's steps use; the options they make, and BWQ-A's log as JSON and as a table.
/// Created fresh per command, as System.CommandLine options belong to one command.
/// </summary>
internal sealed class BwqFlags
{
    private static readonly BwqOptions Defaults = new();

    /// <summary>What the training flags not given stand for in BWQ-A: <see cref="BwqOptions.EpochsPerStep"/> epochs per step, and
    /// no weight decay, as the block group lasso regularises.</summary>
    private static readonly TrainingDefaults StepDefaults = new(Defaults.EpochsPerStep, SgdLearningRate: 0.01, AdamWLearningRate: 1e-4, WeightDecay: 0);

    private readonly bool _ownsTraining;

    /// <summary>The flags; BWQ-A's steps train with <paramref name="training"/>, the command's own flags (not added again), or
    /// with training flags of their own when it is null.</summary>
    public BwqFlags(TrainingFlags? training = null)
    {
        _ownsTraining = training is null;
        TrainingFlags = training ?? new TrainingFlags(StepDefaults.Epochs, StepDefaults.SgdLearningRate, StepDefaults.AdamWLearningRate);
    }

    /// <summary>The training flags BWQ-A's steps read.</summary>
    public TrainingFlags TrainingFlags { get; }

    public Option<string> Steps { get; } = new("--steps") { Description = "Folder of BWQ-A's step checkpoints (default OUTPUT.steps)" };
    public Option<double> Alpha { get; } = CommonOptions.Real("--alpha", "Group-lasso strength of BWQ-A's first step", double.MinValue, double.MaxValue, Defaults.Alpha);
    public Option<double> AlphaGrowth { get; } = CommonOptions.Real("--alpha-growth", "Factor alpha grows by per step", double.MinValue, double.MaxValue, Defaults.AlphaGrowth);
    public Option<int> AlphaSteps { get; } = CommonOptions.Integer("--alpha-steps", "Steps of the alpha phase at most", int.MinValue, fallback: Defaults.AlphaSteps);
    public Option<int> MinAbits { get; } = CommonOptions.Integer("--min-abits", "The activation phase stops at this width", int.MinValue, fallback: Defaults.MinActivationBits);
    public Option<double> AllowedLoss { get; } = CommonOptions.Real("--allowed-loss", "Accuracy loss against FP32 a step may have, in points",
        double.MinValue, double.MaxValue, Defaults.AllowedLoss * 100);
    public Option<int> RequantizeEvery { get; } = CommonOptions.Integer("--requantize-every", "Optimizer steps between re-quantizations (0: after each epoch only)",
        int.MinValue, fallback: Defaults.RequantizeEvery);

    /// <summary>BWQ-A's own flags, without the training flags.</summary>
    public IReadOnlyList<Option> Own => [Steps, Alpha, AlphaGrowth, AlphaSteps, MinAbits, AllowedLoss, RequantizeEvery];

    /// <summary>Adds BWQ-A's flags to <paramref name="command"/>, and the training flags its steps use when they are its own.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in Own) command.Options.Add(option);
        if (!_ownsTraining) return;
        var t = TrainingFlags;
        foreach (var option in new Option[] { t.Epochs, t.Batch, t.Optimizer, t.Lr, t.Momentum, t.NoNesterov, t.WeightDecay, t.Schedule, t.StepEpochs,
                     t.StepGamma, t.Warmup, t.Smoothing, t.CropPadding, t.NoFlip, t.Resume })
            command.Options.Add(option);
    }

    /// <summary>BWQ-A's options and its steps' training options (--epochs is per step); an invalid value is a usage error naming it.</summary>
    public (BwqOptions Options, TrainingOptions Training) Read(ParseResult parse, long seed)
    {
        var training = TrainingFlags.Read(parse, seed, StepDefaults);
        var options = new BwqOptions
        {
            Alpha = parse.GetValue(Alpha), AlphaGrowth = parse.GetValue(AlphaGrowth), AlphaSteps = parse.GetValue(AlphaSteps),
            MinActivationBits = parse.GetValue(MinAbits), AllowedLoss = parse.GetValue(AllowedLoss) / 100, RequantizeEvery = parse.GetValue(RequantizeEvery),
            EpochsPerStep = training.Epochs,
        };
        try { options.Validated(); }
        catch (Experiments.ExperimentException e) { throw new UserError(e.Message, ExitCodes.Usage); }
        return (options, training);
    }

    /// <summary>--steps, or the output path with <c>.steps</c> appended.</summary>
    public string StepsPath(ParseResult parse, string outputPath) => parse.GetValue(Steps) ?? outputPath + ".steps";

    /// <summary>A usage error naming the first of <paramref name="options"/> given on the command line: it does not apply with
    /// <paramref name="mode"/>, for <paramref name="reason"/>.</summary>
    public static void Refuse(ParseResult parse, string mode, string reason, params Option[] options)
    {
        if (options.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false }) is { } given)
            throw new UserError($"{given.Name} does not apply to {mode}: {reason}", ExitCodes.Usage);
    }

    /// <summary>A usage error when <paramref name="path"/>'s folder does not exist, before BWQ-A trains for long and fails to write.</summary>
    public static void CheckOutputFolder(string path, string flag = "--output")
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder && !Directory.Exists(folder))
            throw new UserError($"{flag} {path}: no folder {folder}", ExitCodes.Usage);
    }

    /// <summary>BWQ-A's log: every step and the written model's accuracy, bits and pruned blocks.</summary>
    public static JsonObject Log(BwqResult result) => new()
    {
        ["fp32_accuracy"] = result.Fp32Accuracy, ["accuracy"] = result.Accuracy, ["mean_weight_bits"] = result.MeanWeightBits, ["activation_bits"] = result.ActivationBits,
        ["alpha"] = result.Alpha, ["blocks"] = result.Blocks, ["pruned_blocks"] = result.PrunedBlocks, ["seconds"] = result.Seconds,
        ["steps"] = new JsonArray([.. result.Steps.Select(s => (JsonNode)new JsonObject
        {
            ["step"] = s.Index, ["phase"] = s.Phase, ["alpha"] = s.Alpha, ["activation_bits"] = s.ActivationBits, ["accuracy"] = s.Accuracy,
            ["mean_weight_bits"] = s.MeanWeightBits, ["kept"] = s.Kept, ["seconds"] = s.Seconds,
        })]),
    };

    /// <summary>BWQ-A's steps and the written model, one row each (the written row's seconds are the run's wall time).</summary>
    public static Table Table(BwqResult result)
    {
        var table = new Table().Title($"BWQ-A, {result.TestImages:N0} {Markup.Escape(result.DatasetName)} test images (FP32 {result.Fp32Accuracy:P2})")
            .AddColumns("step", "phase", "alpha", "act bits", "accuracy", "weight bits", "kept", "seconds");
        foreach (var s in result.Steps)
            table.AddRow($"{s.Index}", s.Phase, $"{s.Alpha:G3}", $"{s.ActivationBits}", $"{s.Accuracy:P2}", $"{s.MeanWeightBits:F2}", s.Kept ? "yes" : "undone", $"{s.Seconds:F0}");
        table.AddRow("written", "", $"{result.Alpha:G3}", $"{result.ActivationBits}", $"{result.Accuracy:P2}", $"{result.MeanWeightBits:F2}",
            "", $"{result.Seconds:F0}");
        return table;
    }
}
