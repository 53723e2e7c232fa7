using System.Text.Json.Nodes;

namespace PimQuant.Tests.Cli;

/// <summary><c>pimq simulate --scheme redy</c>: the lossless rule classifies as the conventional run does with fewer reads and
/// less energy, the row names the method, and ReDy flags without the scheme or with a refused value exit 2 before any work.</summary>
public class SchemeFlagTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-scheme-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string Model = Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx");

    private PimqRun Simulate(params string[] extra) => PimqProcess.RunIn(_dir,
        ["simulate", Model, "--hw", "isaac", "--images", "16", "--batch-size", "16", "--calibration-images", "64", "--threads", "1", "--json", .. extra]);

    [Fact]
    public void The_lossless_ReDy_rule_classifies_as_static_precision_with_less_energy()
    {
        var conventional = Simulate();
        var redy = Simulate("--scheme", "redy", "--redy-heuristic", "lossless");
        Assert.True(conventional.ExitCode == 0, conventional.Stderr);
        Assert.True(redy.ExitCode == 0, redy.Stderr);
        JsonObject a = conventional.Json(), b = redy.Json();
        Assert.Equal((double)a["simulated_accuracy"]!, (double)b["simulated_accuracy"]!);
        var rowA = a["report"]!["rows"]![0]!;
        var rowB = b["report"]!["rows"]![0]!;
        Assert.Equal("conventional", (string)rowA["method"]!);
        Assert.Equal("redy", (string)rowB["method"]!);
        Assert.Equal("isaac w8a8 redy lossless array", (string)rowB["scheme"]!);
        Assert.Equal("redy lossless array", (string)b["method"]!);
        Assert.True((double)rowB["ou_reads"]! < (double)rowA["ou_reads"]!, $"{rowB["ou_reads"]} reads against {rowA["ou_reads"]}");
        Assert.True((double)rowB["energy_j"]! < (double)rowA["energy_j"]!, $"{rowB["energy_j"]} J against {rowA["energy_j"]}");
    }

    [Fact]
    public void Reproduce_refuses_an_output_folder_that_does_not_exist_before_any_work()
    {
        var run = PimqProcess.RunIn(_dir, "reproduce", "redy", "--plot", Path.Combine(_dir, "absent", "p.png"), "--images", "8", "--json");
        CliTests.AssertUserError(run, 2, "--plot", "no folder");
        Assert.DoesNotContain("FP32", run.Stderr);
    }

    [Theory]
    [InlineData(new[] { "--redy-threshold", "6" }, "add --scheme redy")]
    [InlineData(new[] { "--scheme", "redy", "--redy-heuristic", "max", "--redy-threshold", "2.5" }, "whole number 1..8")]
    [InlineData(new[] { "--scheme", "redy", "--redy-heuristic", "lossless", "--redy-threshold", "3" }, "no threshold")]
    [InlineData(new[] { "--scheme", "redy", "--redy-heuristic", "max", "--redy-digits", "3" }, "digits are the statistics heuristic's")]
    [InlineData(new[] { "--scheme", "redy", "--redy-group", "tile" }, "'tile'")]
    [InlineData(new[] { "--scheme", "redy", "--redy-round" }, "nothing to round")]
    [InlineData(new[] { "--redy-round" }, "add --scheme redy")]
    public void Redy_flags_out_of_place_are_usage_errors(string[] flags, string message)
    {
        var run = Simulate(flags);
        CliTests.AssertUserError(run, 2, message);
        Assert.DoesNotContain("FP32", run.Stderr);
    }
}
