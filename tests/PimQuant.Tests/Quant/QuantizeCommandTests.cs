using Microsoft.ML.OnnxRuntime;
using PimQuant.Cli;
using PimQuant.Experiments;
using PimQuant.Data;
using PimQuant.Onnx;
using PimQuant.Tests.Cli;
using PimQuant.Tests.Data;

namespace PimQuant.Tests.Quant;

/// <summary><c>pimq quantize</c> and <c>pimq finetune</c> as a user runs them: JSON, files, one-line errors.</summary>
public class QuantizeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-quant-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>The trained fixture LeNet-5 with its preprocessing in the metadata, a tiny Fashion-MNIST copy, and a config.</summary>
    private (string Model, string Data, string Config) Setup(string yaml)
    {
        string model = PathOf("lenet.onnx");
        using (var graph = QuantFixtures.LeNet())
        {
            ModelFiles.StampPreprocessing(graph, DatasetCatalog.FashionMnist.Normalization, "fashion-mnist");
            OnnxExporter.ExportFile(graph, model);
        }
        string config = PathOf("q.yaml");
        File.WriteAllText(config, yaml);
        return (model, TinyFashion.Write(PathOf("tiny"), 512, 1000), config);
    }

    [Fact]
    public void QuantizeReportsAccuraciesAndStatisticsAndWritesAQdqModelOnnxRuntimeAgreesWith()
    {
        var (model, data, config) = Setup("version: 1\ndefault: {weight: {bits: 4, observer: mse, rounding: learned}, activation: {bits: 8}}");
        string output = PathOf("out.onnx");
        var run = PimqProcess.Run("quantize", model, "--config", config, "--data", data, "--calibration-images", "256", "--images", "600",
            "--reconstruct", "--iterations", "20", "--drop-prob", "0.5", "-o", output, "--verify", "--threads", "1", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = run.Json();
        Assert.True((bool)json["ok"]!);
        Assert.Equal(256, (int)json["calibration_images"]!);
        Assert.Equal(600, (int)json["test_images"]!); // --images: the first 600 of the 1,000
        double quantized = (double)json["quantized_accuracy"]!;
        Assert.InRange((double)json["fp32_accuracy"]!, 0.6, 1.0);
        Assert.Equal(quantized, (double)json["onnxruntime_accuracy"]!, 3);
        Assert.Equal(5, json["reconstruction"]!["blocks"]!.AsArray().Count);
        Assert.Equal(0.5, (double)json["reconstruction"]!["drop_probability"]!);
        var layers = json["layers"]!.AsArray();
        Assert.Equal(["conv1", "conv2", "gemm1", "gemm2", "gemm3"], layers.Select(l => (string)l!["name"]!));
        Assert.Equal(4, (int)layers[1]!["weight_statistics"]!["bits"]!);
        Assert.Equal(8.0, (double)json["total"]!["compression_ratio"]!);
        using var session = new InferenceSession(output);
        Assert.Equal("input", session.InputNames[0]);
        Assert.Contains("Per-layer quantization", run.Stderr);
    }

    [Fact]
    public void FinetuneTrainsLearnedStepsWritesTheModelAndResumesFromItsCheckpoint()
    {
        var (model, data, config) = Setup("version: 1\ndefault: {weight: {bits: 3}, activation: {bits: 3}}");
        string output = PathOf("qat.onnx");
        string[] Args(string yaml) => ["finetune", model, "--config", yaml, "--data", data, "--epochs", "1", "--lsq", "--pact",
            "--calibration-images", "128", "--batch-size", "64", "-o", output, "--threads", "1", "--json"];
        var run = PimqProcess.Run(Args(config));
        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = run.Json();
        Assert.Single(json["history"]!.AsArray());
        Assert.Equal(5 + 1 + 4, (int)json["learned_parameters"]!);
        Assert.Contains("layer conv1: no PACT", (string)json["notes"]![0]!);
        Assert.True(File.Exists(output));
        Assert.Equal(output + ".ckpt", (string)json["checkpoint"]!);

        // The finished run resumed: no step left, the learned parameters from the checkpoint, the same model.
        var resumed = PimqProcess.Run([.. Args(config), "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal(1, (int)resumed.Json()["resumed_from_epoch"]!);
        Assert.Equal((double)json["quantized_accuracy"]!, (double)resumed.Json()["quantized_accuracy"]!);

        File.WriteAllText(PathOf("q4.yaml"), "version: 1\ndefault: {weight: {bits: 4}, activation: {bits: 3}}");
        var other = PimqProcess.Run([.. Args(PathOf("q4.yaml")), "--resume"]);
        Assert.Equal(ExitCodes.BadInput, other.ExitCode);
        Assert.Contains("qat.onnx.ckpt: checkpoint of a different run", other.Stderr);
        Assert.DoesNotContain("   at ", other.Stderr);
    }

    [Fact]
    public void MistakesAreOneLineErrors()
    {
        var (model, data, _) = Setup("version: 1");
        File.WriteAllText(PathOf("bad.yaml"), "version: 1\nlayers:\n  conv2: {weight: {bits: 17}}\n");
        var bad = PimqProcess.Run("quantize", model, "--config", PathOf("bad.yaml"), "--data", data, "--threads", "1");
        Assert.Equal(ExitCodes.BadInput, bad.ExitCode);
        Assert.Contains("pimq: error: bad.yaml: layers.conv2.weight.bits: 17 is not allowed (1..16) (line 3)", bad.Stderr);
        Assert.DoesNotContain("   at ", bad.Stderr);

        var usage = PimqProcess.Run("quantize", model, "--config", PathOf("q.yaml"), "--drop-prob", "0.5");
        Assert.Equal(ExitCodes.Usage, usage.ExitCode);
        Assert.Contains("--reconstruct", usage.Stderr);

        File.WriteAllText(PathOf("dynamic.yaml"), "version: 1\nop_types: {Gemm: {activation: {granularity: {kind: dynamic, group_size: 32}}}}\n");
        var export = PimqProcess.Run("quantize", model, "--config", PathOf("dynamic.yaml"), "--data", data, "--calibration-images", "64", "-o", PathOf("d.onnx"), "--threads", "1");
        Assert.Equal(ExitCodes.BadInput, export.ExitCode);
        Assert.Contains("pimq: error: layer gemm1: its input activation cannot be written as QDQ: dynamic per-group scales", export.Stderr);
    }
}
