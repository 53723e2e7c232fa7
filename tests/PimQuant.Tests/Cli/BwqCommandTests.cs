namespace PimQuant.Tests.Cli;

/// <summary><c>pimq quantize --scheme bwq</c> and <c>pimq finetune --scheme bwq</c>: BWQ's model without training is written and
/// read by <c>simulate --hw bwq-h</c>; flags of the other mode are one-line usage errors before any work.</summary>
public class BwqCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-bwqcli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private PimqRun Run(params string[] args) => PimqProcess.RunIn(_dir, args);

    [Fact]
    public void Quantize_writes_the_block_precision_model_bwq_h_simulates()
    {
        string model = TestModels.LeNet(_dir), output = Path.Combine(_dir, "lenet-bwq.onnx");
        var quantize = Run("quantize", model, "--scheme", "bwq", "-o", output, "--images", "64", "--calibration-images", "32", "--json");
        Assert.True(quantize.ExitCode == 0, quantize.Stderr);
        var json = quantize.Json();
        Assert.Equal("bwq", (string)json["scheme"]!);
        Assert.Equal(64, (int)json["test_images"]!);
        Assert.Equal(8, (int)json["activation_bits"]!);
        Assert.InRange((double)json["mean_weight_bits"]!, 1, 9); // a sign and at most 8 magnitude bits per weight
        Assert.True((long)json["blocks"]! > 0);
        Assert.Equal(output, (string)json["output"]!);
        Assert.False(Directory.Exists(output + ".steps"), "a run of no step leaves no checkpoint folder");

        var simulate = Run("simulate", output, "--hw", "bwq-h", "--images", "16", "--calibration-images", "32", "--json");
        Assert.True(simulate.ExitCode == 0, simulate.Stderr);
        Assert.Equal(9, (int)simulate.Json()["weight_bits"]!);
    }

    [Fact]
    public void Finetune_without_steps_writes_the_start_and_logs_no_step()
    {
        string model = TestModels.LeNet(_dir), output = Path.Combine(_dir, "ft-bwq.onnx");
        var run = Run("finetune", model, "--scheme", "bwq", "-o", output, "--alpha-steps", "0", "--min-abits", "8", "--images", "64",
            "--calibration-images", "32", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = run.Json();
        Assert.Empty(json["steps"]!.AsArray());
        Assert.Equal(8, (int)json["activation_bits"]!);
        Assert.Equal(output, (string)json["output"]!);
        Assert.True(File.Exists(output));
    }

    [Theory]
    [InlineData(new[] { "finetune", "M", "--scheme", "bwq", "--config", "x.yaml", "-o", "o.onnx" }, "--config does not apply to --scheme bwq")]
    [InlineData(new[] { "finetune", "M", "--scheme", "bwq", "--lsq", "-o", "o.onnx" }, "--lsq does not apply to --scheme bwq")]
    [InlineData(new[] { "finetune", "M", "--config", "x.yaml", "--epochs", "1", "--alpha", "0.1", "-o", "o.onnx" }, "add --scheme bwq")]
    [InlineData(new[] { "finetune", "M", "--epochs", "1", "-o", "o.onnx" }, "give --config FILE")]
    [InlineData(new[] { "finetune", "M", "--config", "x.yaml", "-o", "o.onnx" }, "give --epochs N")]
    [InlineData(new[] { "finetune", "M", "--scheme", "bwq", "--min-abits", "9", "-o", "o.onnx" }, "MinActivationBits = 9")]
    [InlineData(new[] { "finetune", "M", "--scheme", "bwq", "-o", "absent/o.onnx" }, "no folder")]
    [InlineData(new[] { "quantize", "M", "--scheme", "bwq", "--wbits", "4", "-o", "o.onnx" }, "--wbits does not apply to --scheme bwq")]
    [InlineData(new[] { "quantize", "M", "--scheme", "bwq" }, "give -o FILE")]
    [InlineData(new[] { "quantize", "M", "--scheme", "bwq", "--cimq-parts", "array", "-o", "o.onnx" }, "add --scheme cimq")]
    public void Flags_of_the_other_mode_are_usage_errors_before_any_work(string[] args, string message)
    {
        string model = TestModels.LeNet(_dir);
        var run = Run([.. args.Select(a => a == "M" ? model : a)]);
        CliTests.AssertUserError(run, 2, message);
        Assert.DoesNotContain("FP32", run.Stderr);
    }
}
