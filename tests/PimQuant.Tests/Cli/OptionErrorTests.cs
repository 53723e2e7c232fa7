using System.CommandLine;
using System.Diagnostics;
using PimQuant.Cli;

namespace PimQuant.Tests.Cli;

/// <summary>
/// Errors before work: every numeric option of every command, given a word, is one usage error naming the option,
/// the value and what is allowed, found while the command line is parsed; a value that does not fit the spec, the
/// config or the data is refused with one line before any image is evaluated.
/// </summary>
public class OptionErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-opterr-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Model => Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx");

    private static readonly Type[] NumericTypes = [typeof(int), typeof(int?), typeof(long), typeof(long?), typeof(double), typeof(double?), typeof(float[])];

    /// <summary>Every (command path, option) of pimq whose value is a number or a list of numbers.</summary>
    public static TheoryData<string, string> NumericOptions()
    {
        var data = new TheoryData<string, string>();
        void Walk(Command command, string path)
        {
            foreach (var option in command.Options.Where(o => NumericTypes.Contains(o.ValueType)))
                data.Add(path, option.Name);
            foreach (var sub in command.Subcommands) Walk(sub, (path + " " + sub.Name).Trim());
        }
        Walk(PimqCommands.Root(), "");
        return data;
    }

    [Fact]
    public void TheNumericOptionsOfEveryDatasetCommandAreCovered()
    {
        var options = NumericOptions().Select(row => $"{row[0]} {row[1]}").ToHashSet();
        foreach (var command in new[] { "eval", "simulate", "quantize", "finetune", "bench infer", "bench sim" })
            foreach (var option in new[] { "--mean", "--std", "--batch-size", "--threads" })
                if (!(command == "finetune" && option == "--batch-size"))
                    Assert.Contains($"{command} {option}", options);
        Assert.Contains("simulate --wbits", options);
        Assert.Contains("quantize --wbits", options);
        Assert.Contains("train --epochs", options);
    }

    [Theory]
    [MemberData(nameof(NumericOptions))]
    public void AWordIsOneErrorNamingTheOptionTheValueAndWhatIsAllowed(string command, string option)
    {
        var root = PimqCommands.Root();
        var target = command.Split(' ').Aggregate((Command)root, (c, name) => c.Subcommands.Single(s => s.Name == name));
        string[] args = [.. command.Split(' '), .. target.Arguments.Select(_ => "m.onnx"), option, "abc"];
        var errors = root.Parse(args).Errors.Where(e => e.Message.Contains(option, StringComparison.Ordinal)).ToArray();
        var error = Assert.Single(errors);
        Assert.StartsWith($"{option} abc: expected ", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("--wbits", "4.5", "--wbits 4.5: expected an integer in [2, 16]")]
    [InlineData("--wbits", "17", "--wbits 17: expected an integer in [2, 16]")]
    [InlineData("--sa0", "-0.1", "--sa0 -0.1: expected a number in [0, 1]")]
    [InlineData("--read-noise", "NaN", "--read-noise NaN: expected a number in [0, 1000000]")]
    [InlineData("--images", "0", "--images 0: expected an integer of at least 1")]
    [InlineData("--mean", "0.5,x", "--mean 0.5,x: expected finite numbers, comma-separated")]
    public void OutOfRangeAndMalformedValuesSayWhatIsAllowed(string option, string value, string expected)
    {
        var error = Assert.Single(PimqCommands.Root().Parse(["simulate", "m.onnx", option, value]).Errors);
        Assert.StartsWith(expected, error.Message);
    }

    [Theory]
    [InlineData("eval")]
    [InlineData("simulate")]
    [InlineData("demo")]
    public void TheFirstNTestImagesAreImagesEverywhere(string command)
    {
        var parse = PimqCommands.Root().Parse(command == "demo" ? [command, "--images", "10"] : [command, "m.onnx", "--images", "10"]);
        Assert.Empty(parse.Errors);
        Assert.Equal(10, parse.GetValue<int?>("--images"));
        if (command == "eval") Assert.Equal(10, PimqCommands.Root().Parse(["eval", "m.onnx", "--limit", "10"]).GetValue<int?>("--images"));
    }

    [Theory]
    [InlineData("eval")]
    [InlineData("simulate")]
    [InlineData("quantize")]
    public void MeanAndStdParseAsOneListEach(string command)
    {
        var parse = PimqCommands.Root().Parse([command, "m.onnx", "--mean", "0.2860", "--std", "0.3530"]);
        Assert.Empty(parse.Errors);
        var rgb = PimqCommands.Root().Parse([command, "m.onnx", "--std", "0.25,0.24,0.26", "--mean", "0.49,0.48,0.45"]);
        Assert.Empty(rgb.Errors);
    }

    /// <summary>pimq as a process: exit 2, one line, no stack trace, and no evaluation started.</summary>
    private static void AssertRefusedBeforeWork(PimqRun run, int exitCode, params string[] parts)
    {
        CliTests.AssertUserError(run, exitCode, parts);
        Assert.DoesNotContain("FP32 accuracy", run.Stderr);
        Assert.DoesNotContain("calibration…", run.Stderr);
        Assert.DoesNotContain("calibrating the ADC", run.Stderr);
    }

    [Fact]
    public void AWordForANumberExitsTwoWithOneLine()
    {
        var clock = Stopwatch.StartNew();
        AssertRefusedBeforeWork(PimqProcess.Run("simulate", Model, "--wbits", "abc"), 2, "--wbits abc: expected an integer in [2, 16]");
        AssertRefusedBeforeWork(PimqProcess.Run("quantize", Model, "--wbits", "4", "--calibration-images", "abc"), 2, "--calibration-images abc");
        AssertRefusedBeforeWork(PimqProcess.Run("train", "--model", "lenet5", "--lr", "abc"), 2, "--lr abc: expected a number");
        AssertRefusedBeforeWork(PimqProcess.Run("bench", "sim", "--images", "abc"), 2, "--images abc: expected an integer of at least 1");
        // Each run is a process start and a parse (a fraction of a second on a quiet machine); the bound only
        // catches work done before the error on a loaded one.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"4 refused command lines took {clock.Elapsed}");
    }

    [Fact]
    public void SeveralParseErrorsUnderJsonPrintExactlyOneJsonObject()
    {
        var run = PimqProcess.Run("simulate", Model, "--no-such-flag", "20", "--json");
        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var error = System.Text.Json.Nodes.JsonNode.Parse(line)!;
        Assert.False((bool)error["ok"]!);
        Assert.Contains("--no-such-flag", (string)error["error"]!);
        Assert.Contains("'20'", (string)error["error"]!);
    }

    [Fact]
    public void SpecOverridesTheSpecCannotTakeAreRefusedBeforeAnyEvaluation()
    {
        AssertRefusedBeforeWork(PimqProcess.Run("simulate", Model, "--sa0", "0.7", "--sa1", "0.7"), 2,
            "--sa0 0.7 --sa1 0.7: isaac: saf fractions", "sum to at most 1");
        AssertRefusedBeforeWork(PimqProcess.Run("simulate", Model, "--on-off-ratio", "1"), 2,
            "--on-off-ratio 1: isaac: on_off_ratio must exceed 1");
    }

    [Fact]
    public void PreprocessingThatDoesNotFitTheImagesIsAUsageError()
    {
        AssertRefusedBeforeWork(PimqProcess.Run("simulate", Model, "--mean", "0.5,0.5,0.5", "--std", "0.25"), 2,
            "--mean 0.5,0.5,0.5: 3 values for the 1-channel images of fashion-mnist");
        AssertRefusedBeforeWork(PimqProcess.Run("eval", Model, "--mean", "0.5", "--std", "0"), 2, "--std: std 0 must be positive");
        AssertRefusedBeforeWork(PimqProcess.Run("quantize", Model, "--wbits", "4", "--std", "0.3"), 2, "--mean and --std must be given together");
    }

    [Fact]
    public void AConfigThatDoesNotFitTheModelIsRefusedBeforeAnyEvaluation()
    {
        string config = Path.Combine(_dir, "ghost.yaml");
        File.WriteAllText(config, "version: 1\nlayers:\n  ghost: {weight: {bits: 4}}\n");
        AssertRefusedBeforeWork(PimqProcess.Run("simulate", Model, "--config", config), 1, "ghost.yaml", "no quantizable layer 'ghost'");
        AssertRefusedBeforeWork(PimqProcess.Run("quantize", Model, "--config", config), 1, "ghost.yaml", "no quantizable layer 'ghost'");
        AssertRefusedBeforeWork(PimqProcess.Run("quantize", Model), 2, "give --config FILE or --wbits/--abits");
        AssertRefusedBeforeWork(PimqProcess.Run("quantize", Model, "--wbits", "4", "--config", config), 2, "give either --config or --wbits/--abits");
        AssertRefusedBeforeWork(PimqProcess.Run("quantize", Model, "--wbits", "4", "--verify"), 2, "--verify checks the written model");
    }
}
