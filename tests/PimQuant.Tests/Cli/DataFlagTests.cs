using System.CommandLine;
using PimQuant.Cli;

namespace PimQuant.Tests.Cli;

/// <summary>
/// Every command that reads data takes the same data flags — --dataset, --data, --images, --batch-size, and
/// --calibration-images where it calibrates — parsed by one definition each (<see cref="CommonOptions"/>,
/// <see cref="DataFlags"/>), so a value means the same and a bad one is refused with the same one-line error everywhere.
/// </summary>
public class DataFlagTests
{
    /// <summary>Each data-reading command with the arguments it requires besides the data flags, and whether it calibrates.</summary>
    public static TheoryData<string, bool> Commands() => new()
    {
        { "eval", false },
        { "simulate", true },
        { "quantize", true },
        { "finetune", true },
        { "bench infer", false },
        { "bench sim", true },
        { "train", false },
        { "demo", true },
        { "compare", true },
        { "reproduce redy", true },
    };

    /// <summary>The command line of <paramref name="command"/> with its required arguments and <paramref name="flags"/>.</summary>
    private static string[] Line(string command, params string[] flags)
    {
        string[] required = command switch
        {
            "eval" or "simulate" or "quantize" or "bench infer" or "compare" => ["m.onnx"],
            "finetune" => ["m.onnx", "--config", "q.yaml", "-o", "out.onnx", "--epochs", "1"],
            "train" => ["--model", "lenet5"],
            _ => [],
        };
        return [.. command.Split(' '), .. required, .. flags];
    }

    /// <summary>demo runs the embedded default model on its own data: it takes how many images and the batch, not --dataset or --data.</summary>
    private static bool ChoosesItsData(string command) => command != "demo";

    [Theory]
    [MemberData(nameof(Commands))]
    public void EveryDataCommandTakesTheDataFlags(string command, bool calibrates)
    {
        string[] flags = [.. ChoosesItsData(command) ? new[] { "--dataset", "cifar10", "--data", "some/dir" } : [],
            "--images", "5", "--batch-size", "4", .. calibrates ? new[] { "--calibration-images", "8" } : []];
        var parse = PimqCommands.Root().Parse(Line(command, flags));
        Assert.Empty(parse.Errors);
        Assert.Equal(5, parse.GetValue<int?>("--images"));
        Assert.Equal(4, parse.GetValue<int>("--batch-size"));
        if (calibrates) Assert.Equal(8, parse.GetValue<int>("--calibration-images"));
        if (ChoosesItsData(command))
        {
            Assert.Equal("cifar10", parse.GetValue<string>("--dataset"));
            Assert.Equal("dir", parse.GetValue<DirectoryInfo>("--data")!.Name);
        }
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void ABadDataFlagIsTheSameOneLineErrorEverywhere(string command, bool calibrates)
    {
        void Refused(string option, string value, string expected)
        {
            var parse = PimqCommands.Root().Parse(Line(command, option, value));
            Assert.Single(parse.Errors);
            string message = CommandRunner.UsageError(parse);
            Assert.StartsWith(expected, message);
            Assert.DoesNotContain('\n', message);
        }
        Refused("--images", "0", "--images 0: expected an integer of at least 1");
        Refused("--images", "all", "--images all: expected an integer of at least 1");
        Refused("--batch-size", "0", "--batch-size 0: expected an integer of at least 1");
        if (calibrates) Refused("--calibration-images", "1.5", "--calibration-images 1.5: expected an integer of at least 1");
        if (ChoosesItsData(command)) Refused("--dataset", "imagenet", "Argument 'imagenet' not recognized. Must be one of: 'fashion-mnist' 'mnist' 'cifar10'");
    }

    [Fact]
    public void TheDataFlagsAreDescribedAlikeEverywhere()
    {
        var commands = Commands().Select(row => (string)row[0]).ToArray();
        var root = PimqCommands.Root();
        Option Find(string command, string name) =>
            command.Split(' ').Aggregate((Command)root, (c, n) => c.Subcommands.Single(s => s.Name == n)).Options.Single(o => o.Name == name);
        // One definition each: the same help but for the command's own default.
        foreach (var command in commands)
        {
            Assert.StartsWith("Use the first N test images (default: ", Find(command, "--images").Description);
            Assert.StartsWith("Images per batch (default ", Find(command, "--batch-size").Description);
        }
        foreach (var command in commands.Where(ChoosesItsData))
        {
            Assert.Equal(Find("eval", "--dataset").Description, Find(command, "--dataset").Description);
            Assert.Equal(Find("eval", "--data").Description, Find(command, "--data").Description);
        }
    }

    [Fact]
    public void ABadDataFlagExitsTwoWithOneLineBeforeAnyWork()
    {
        string model = Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx");
        CliTests.AssertUserError(PimqProcess.Run("finetune", model, "--config", "q.yaml", "-o", "out.onnx", "--epochs", "1", "--images", "0"), 2,
            "--images 0: expected an integer of at least 1");
        CliTests.AssertUserError(PimqProcess.Run("train", "--model", "lenet5", "--images", "abc"), 2, "--images abc: expected an integer of at least 1");
        CliTests.AssertUserError(PimqProcess.Run("demo", "--batch-size", "0"), 2, "--batch-size 0: expected an integer of at least 1");
        CliTests.AssertUserError(PimqProcess.Run("bench", "infer", model, "--dataset", "imagenet"), 2, "Argument 'imagenet' not recognized. Must be one of: 'fashion-mnist'");
    }
}
