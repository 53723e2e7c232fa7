using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using PimQuant.Experiments;
using PimQuant.Quant.Ptq;

namespace PimQuant.Cli;

/// <summary>
/// Options shared by several commands, created fresh per command (an option belongs to one command). Every
/// numeric option parses and range-checks its value while the command line is parsed, so a word, a fraction
/// where an integer belongs or a value out of range is one usage error naming the option, the value and what
/// is allowed, before any work.
/// </summary>
public static class CommonOptions
{
    /// <summary>A command's help text: <paramref name="description"/>, then an Examples section with one command line per entry (every command
    /// shows how it is called).</summary>
    public static string Help(string description, params string[] examples) =>
        description + "\n\nExamples:\n" + string.Join("\n", examples.Select(e => "  " + e));

    /// <summary>The <c>--json</c> flag.</summary>
    public static Option<bool> Json() => new("--json") { Description = "Print exactly one JSON object on stdout (progress and logs stay on stderr)" };

    /// <summary>--threads, default all cores.</summary>
    public static Option<int> Threads() => Integer("--threads", "libtorch threads (default: all cores)", 1, fallback: Environment.ProcessorCount);

    /// <summary>--seed, default 0.</summary>
    public static Option<long> Seed() => Number("--seed", "Seed of every random choice", long.MinValue, long.MaxValue, 0L);

    /// <summary>--batch-size with the command's default.</summary>
    public static Option<int> BatchSize(int fallback) => Integer("--batch-size", $"Images per batch (default {fallback})", 1, fallback: fallback);

    /// <summary>--wbits and --abits: the widths of the default integer config (<see cref="Quantization.Config"/>), with where their defaults come from.</summary>
    public static (Option<int?> WeightBits, Option<int?> ActivationBits) Widths(string weightDefault, string activationDefault) =>
    (
        OptionalInteger("--wbits", $"Weight bits (signed, narrow range, per output channel; default: {weightDefault})", 2, 16),
        OptionalInteger("--abits", $"Activation bits (per tensor, 99.99th percentile; default: {activationDefault})", 1, 8)
    );

    /// <summary>--images: the first N test images; absent is null, which means <paramref name="fallback"/> (as the help says it).</summary>
    public static Option<int?> Images(string fallback) => OptionalInteger("--images", $"Use the first N test images (default: {fallback})", 1);

    /// <summary>--calibration-images: the seeded choice of training images that calibrates the quantizers (default
    /// <see cref="CalibrationSplit.DefaultCount"/>; a speed measurement's workload has its own).</summary>
    public static Option<int> CalibrationImages(int fallback = CalibrationSplit.DefaultCount) => Integer("--calibration-images",
        $"Training images used for calibration, chosen with the seed (default {fallback})", 1, fallback: fallback);

    /// <summary>An integer option in [<paramref name="min"/>, <paramref name="max"/>] with a default.</summary>
    public static Option<int> Integer(string name, string description, int min, int max = int.MaxValue, int fallback = 0) =>
        Number(name, description, min, max, fallback);

    /// <summary>An optional integer option in [<paramref name="min"/>, <paramref name="max"/>]; absent is null.</summary>
    public static Option<int?> OptionalInteger(string name, string description, int min, int max = int.MaxValue) => OptionalNumber(name, description, min, max);

    /// <summary>A real option in [<paramref name="min"/>, <paramref name="max"/>] (finite) with a default.</summary>
    public static Option<double> Real(string name, string description, double min, double max, double fallback) => Number(name, description, min, max, fallback);

    /// <summary>An optional real option in [<paramref name="min"/>, <paramref name="max"/>] (finite); absent is null.</summary>
    public static Option<double?> OptionalReal(string name, string description, double min, double max) => OptionalNumber(name, description, min, max);

    private static Option<T> Number<T>(string name, string description, T min, T max, T fallback) where T : struct, INumber<T>, IMinMaxValue<T> => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        CustomParser = r => Parse(r, name, min, max) ?? fallback,
    };

    private static Option<T?> OptionalNumber<T>(string name, string description, T min, T max) where T : struct, INumber<T>, IMinMaxValue<T> => new(name)
    {
        Description = description,
        CustomParser = r => Parse(r, name, min, max),
    };

    /// <summary>The option's one value, or null with an error naming the option, the value and what is allowed.</summary>
    private static T? Parse<T>(ArgumentResult result, string name, T min, T max) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        if (result.Tokens.Count != 1)
        {
            result.AddError($"{name} takes one value");
            return null;
        }
        string text = result.Tokens[0].Value;
        bool integral = typeof(T) == typeof(int) || typeof(T) == typeof(long);
        string kind = integral ? "an integer" : "a number";
        string range = min == T.MinValue && max == T.MaxValue ? "" : max == T.MaxValue ? $" of at least {Format(min)}" : $" in [{Format(min)}, {Format(max)}]";
        var style = integral ? NumberStyles.Integer : NumberStyles.Float;
        if (!T.TryParse(text, style, CultureInfo.InvariantCulture, out var value) || !T.IsFinite(value) || value < min || value > max)
        {
            result.AddError($"{name} {text}: expected {kind}{range}");
            return null;
        }
        return value;
    }

    private static string Format<T>(T value) where T : INumber<T> => value.ToString(null, CultureInfo.InvariantCulture);
}

/// <summary>
/// The data and preprocessing options of every command that reads a dataset — --dataset, --data, --mean, --std —
/// read into one <see cref="DataOptions"/>, which resolves them the same way for every command (the flags, else the
/// model's metadata, else pixels in [0,1]), and --images, the first N test images. Created fresh per command, with
/// what --images defaults to there; --batch-size (<see cref="CommonOptions.BatchSize"/>) and --calibration-images
/// (<see cref="CommonOptions.CalibrationImages"/>) are the commands' own, as their defaults differ.
/// </summary>
/// <param name="imagesDefault">What an absent --images means for the command, as its help says it (e.g. "all").</param>
public sealed class DataFlags(string imagesDefault = "all")
{
    /// <summary>--dataset: one of the known datasets.</summary>
    public Option<string> Dataset { get; } = DatasetOption();

    /// <summary>--data: the directory holding the dataset's files.</summary>
    public Option<DirectoryInfo> Data { get; } = new("--data") { Description = "Directory holding the dataset files" };

    /// <summary>--mean: per-channel mean of [0,1] pixels.</summary>
    public Option<float[]> Mean { get; } = List("--mean", "Mean of [0,1] pixels, one value or one per channel, comma-separated (with --std; default: the model's metadata, else 0)");

    /// <summary>--std: per-channel std of [0,1] pixels.</summary>
    public Option<float[]> Std { get; } = List("--std", "Std of [0,1] pixels, one value or one per channel, comma-separated (with --mean; default: the model's metadata, else 1)");

    /// <summary>--images: the first N test images; absent is null (the command's default).</summary>
    public Option<int?> Images { get; } = CommonOptions.Images(imagesDefault);

    /// <summary>Adds every flag to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Dataset, Data, Mean, Std, Images }) command.Options.Add(option);
    }

    /// <summary>The flags as given; --mean without --std (or the reverse) is a usage error.</summary>
    public DataOptions Read(ParseResult parse)
    {
        // An absent list option reads as an empty array, not null.
        var mean = parse.GetResult(Mean) is { Implicit: false } ? parse.GetValue(Mean) : null;
        var std = parse.GetResult(Std) is { Implicit: false } ? parse.GetValue(Std) : null;
        if (mean is null != std is null) throw new UserError("--mean and --std must be given together", ExitCodes.Usage);
        return new DataOptions(parse.GetValue(Dataset), parse.GetValue(Data), mean, std);
    }

    private static Option<string> DatasetOption()
    {
        var option = new Option<string>("--dataset") { Description = $"{string.Join(", ", Workspace.KnownDatasets)} (default: from the model's metadata, else fashion-mnist)" };
        option.AcceptOnlyFromAmong(Workspace.KnownDatasets);
        return option;
    }

    private static Option<float[]> List(string name, string description) => new(name)
    {
        Description = description,
        // One comma-separated token: an array option would otherwise take several tokens and leave the next option's value unparsed.
        Arity = ArgumentArity.ExactlyOne,
        CustomParser = r =>
        {
            if (r.Tokens.Count != 1)
            {
                r.AddError($"{name} takes one comma-separated list");
                return null;
            }
            var values = ModelFiles.ParseList(r.Tokens[0].Value);
            if (values is null || values.Length == 0)
                r.AddError($"{name} {r.Tokens[0].Value}: expected finite numbers, comma-separated, such as 0.2860 or 0.4914,0.4822,0.4465");
            return values;
        },
    };
}
