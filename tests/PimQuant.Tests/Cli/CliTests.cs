using Google.Protobuf;
using PimQuant.Data;
using PimQuant.Engine.Passes;
using PimQuant.Models;
using PimQuant.Onnx;
using PimQuant.Tests.Data;
using static TorchSharp.torch;

namespace PimQuant.Tests.Cli;

/// <summary>
/// The command line as a user meets it: exit codes, one JSON object with --json, and one-line
/// errors naming the file for every kind of bad input, never a stack trace.
/// </summary>
public class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name) => Path.Combine(_dir, name);

    /// <summary>An untrained lenet5 for Fashion-MNIST, as ONNX bytes.</summary>
    private static byte[] LeNetBytes(Action<PimQuant.Onnx.Proto.ModelProto>? edit = null, bool nanWeight = false)
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 2);
        ShapeInference.Run(graph);
        if (nanWeight)
        {
            using var scope = NewDisposeScope();
            var w = graph.Initializers["conv2.weight"].Value.detach().clone();
            w[0, 0, 1, 1] = tensor(float.NaN);
            graph.ReplaceInitializer("conv2.weight", w);
        }
        var model = OnnxExporter.ToModel(graph, null);
        edit?.Invoke(model);
        return model.ToByteArray();
    }

    /// <summary>Asserts the exit code and one error line holding every part, without a stack trace.</summary>
    internal static void AssertUserError(PimqRun run, int exitCode, params string[] parts)
    {
        Assert.Equal(exitCode, run.ExitCode);
        var lines = run.ErrorLines.Where(l => l.StartsWith("pimq: error:", StringComparison.Ordinal)).ToArray();
        Assert.True(lines.Length == 1, $"expected one error line, got:\n{run.Stderr}");
        foreach (var part in parts) Assert.Contains(part, lines[0]);
        Assert.DoesNotContain("   at ", run.Stderr);
        Assert.DoesNotContain("Exception", run.Stderr);
    }

    [Fact]
    public void InfoPrintsOneJsonObjectWithTheModelsCounts()
    {
        System.IO.File.WriteAllBytes(File("lenet.onnx"), LeNetBytes());
        var run = PimqProcess.Run("info", File("lenet.onnx"), "--json");
        Assert.Equal(0, run.ExitCode);
        var json = run.Json();
        Assert.Equal(61_706, (long)json["parameters"]!);
        Assert.Equal(416_520, (long)json["macs"]!); // 117,600 + 240,000 + 48,000 + 10,080 + 840
        Assert.Equal(12, json["layers"]!.AsArray().Count);
    }

    [Fact]
    public void DemoComparesEverySchemeOnTheDefaultModel()
    {
        // The full demo runs all 10,000 images and calibrates on 1,024; 100 and 64 keep the suite short (the ReDy and neurosim-rram
        // rows make it longer than the demo before compare). It writes runs/ and results.db in the working folder.
        var run = PimqProcess.RunIn(_dir, "demo", "--images", "100", "--calibration-images", "64", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = run.Json();
        var rows = json["rows"]!.AsArray();
        // BWQ runs the model shipped beside the default one (models/resnet20-fmnist-bwq.onnx) at its own widths, with the FP32 accuracy
        // of the model it was trained from.
        Assert.Equal(["isaac w8a8", "isaac w8a8 redy lossless array", "bwq-h w9a7 bwq", "neurosim-rram w8a8"], rows.Select(r => (string)r!["scheme"]!));
        Assert.Equal((double)rows[0]!["fp32_accuracy"]!, (double)rows[2]!["fp32_accuracy"]!);
        Assert.Contains(json["files"]!.AsArray(), f => ((string)f!).EndsWith("block-precision-1.png", StringComparison.Ordinal));
        Assert.Equal(("demo", 100), ((string)json["command"]!, (int)json["test_images"]!));
        Assert.True((double)rows[0]!["fp32_accuracy"]! >= 0.9, $"default model accuracy {(double)rows[0]!["fp32_accuracy"]!}");
        // isaac at 8 bits is lossless: the simulated accuracy is the integer model's (up to float rounding).
        Assert.InRange((double)rows[0]!["accuracy"]!, (double)rows[0]!["ideal_accuracy"]! - 0.01, (double)rows[0]!["ideal_accuracy"]! + 0.01);
        // neurosim-rram is priced on ISAAC's table scaled to its geometry (docs/hardware.md).
        Assert.All(rows, r => Assert.True((double)r!["energy_j"]! > 0));
        Assert.StartsWith(Path.Combine(_dir, "runs") + Path.DirectorySeparatorChar, (string)json["run_folder"]!);
        Assert.All(json["files"]!.AsArray(), f => Assert.True(System.IO.File.Exists((string)f!), $"{f} not written"));
        Assert.True(System.IO.File.Exists(Path.Combine(_dir, "results.db")));
    }

    [Fact]
    public void AMissingModelFileIsNamed() =>
        AssertUserError(PimqProcess.Run("info", File("absent.onnx")), 1, "absent.onnx", "no such file");

    [Fact]
    public void BytesThatAreNotProtobufAreRejected()
    {
        System.IO.File.WriteAllBytes(File("noise.onnx"), Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 251)).ToArray());
        AssertUserError(PimqProcess.Run("info", File("noise.onnx")), 1, "noise.onnx");
    }

    [Fact]
    public void ATruncatedModelIsRejected()
    {
        var bytes = LeNetBytes();
        System.IO.File.WriteAllBytes(File("cut.onnx"), bytes[..(bytes.Length * 2 / 3)]);
        AssertUserError(PimqProcess.Run("eval", File("cut.onnx")), 1, "cut.onnx");
    }

    [Fact]
    public void EveryUnsupportedOperatorIsNamedWithNodeAndOpset_InOneErrorNamingTheFileOnce()
    {
        System.IO.File.WriteAllBytes(File("ops.onnx"), LeNetBytes(m =>
        {
            m.Graph.Node[2].OpType = "LSTM";
            m.Graph.Node[3].OpType = "Einsum";
            m.Graph.Node[5].OpType = "Einsum";
            m.Graph.Node[6].OpType = "NonZero";
        }));
        var run = PimqProcess.Run("info", File("ops.onnx"));
        AssertUserError(run, 1, "3 operators", $"'LSTM' (1 node, first '{LeNetNodeName(2)}')",
            $"'Einsum' (2 nodes, first '{LeNetNodeName(3)}')", $"'NonZero' (1 node, first '{LeNetNodeName(6)}')", "opset");
        var line = run.ErrorLines.Single(l => l.StartsWith("pimq: error:", StringComparison.Ordinal));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(line, "ops\\.onnx"));
    }

    [Fact]
    public void BenchInferRefusesABatchThatOnnxRuntimeCannotRunTheFileAt()
    {
        System.IO.File.WriteAllBytes(File("batch1.onnx"), LeNetBytes(m =>
            m.Graph.Input[0].Type.TensorType.Shape.Dim[0] = new PimQuant.Onnx.Proto.TensorShapeProto.Types.Dimension { DimValue = 1 }));
        var run = PimqProcess.Run("bench", "infer", File("batch1.onnx"), "--batch-size", "4", "--images", "4", "--passes", "1");
        AssertUserError(run, 2, "batch1.onnx", "fixes the batch at 1", "--batch-size 1");
    }

    private static string LeNetNodeName(int index)
    {
        var model = PimQuant.Onnx.Proto.ModelProto.Parser.ParseFrom(LeNetBytes());
        return model.Graph.Node[index].Name;
    }

    [Fact]
    public void AMissingInitializerIsNamed()
    {
        System.IO.File.WriteAllBytes(File("hole.onnx"), LeNetBytes(m => m.Graph.Initializer.Remove(m.Graph.Initializer.First(i => i.Name == "fc1.bias"))));
        AssertUserError(PimqProcess.Run("info", File("hole.onnx")), 1, "hole.onnx", "fc1.bias");
    }

    [Fact]
    public void NaNWeightsAreNamed()
    {
        System.IO.File.WriteAllBytes(File("nan.onnx"), LeNetBytes(nanWeight: true));
        AssertUserError(PimqProcess.Run("eval", File("nan.onnx")), 1, "nan.onnx", "conv2.weight");
    }

    [Fact]
    public void AMissingDatasetSaysWhereItLookedAndHowToGetIt()
    {
        System.IO.File.WriteAllBytes(File("lenet.onnx"), LeNetBytes());
        Directory.CreateDirectory(File("empty"));
        var run = PimqProcess.Run("eval", File("lenet.onnx"), "--data", File("empty"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("--data", run.Stderr);
        Assert.Contains("empty", run.Stderr);
        Assert.DoesNotContain("   at ", run.Stderr);
    }

    [Fact]
    public void ACorruptDatasetFileIsNamedWithTheByteOffset()
    {
        System.IO.File.WriteAllBytes(File("lenet.onnx"), LeNetBytes());
        var data = Directory.CreateDirectory(File("cut-data")).FullName;
        var test = TestPaths.FashionMnistTest.Slice(0, 100);
        System.IO.File.WriteAllBytes(Path.Combine(data, "t10k-images-idx3-ubyte"), TestData.Idx(IdxReader.ImagesMagic, [100, 28, 28], test.Pixels[..5000]));
        System.IO.File.WriteAllBytes(Path.Combine(data, "t10k-labels-idx1-ubyte"), TestData.Idx(IdxReader.LabelsMagic, [100], test.Labels));
        AssertUserError(PimqProcess.Run("eval", File("lenet.onnx"), "--data", data), 1, "t10k-images-idx3-ubyte", "byte");
    }

    /// <summary>A directory holding a Fashion-MNIST-style test split whose image file is <paramref name="images"/>.</summary>
    private string DatasetWithImages(string name, byte[] images)
    {
        var data = Directory.CreateDirectory(File(name)).FullName;
        var test = TestPaths.FashionMnistTest.Slice(0, 100);
        System.IO.File.WriteAllBytes(Path.Combine(data, "t10k-images-idx3-ubyte"), images);
        System.IO.File.WriteAllBytes(Path.Combine(data, "t10k-labels-idx1-ubyte"), TestData.Idx(IdxReader.LabelsMagic, [100], test.Labels));
        return data;
    }

    [Fact]
    public void ADatasetFileWithTheWrongMagicSaysWhatWasExpected()
    {
        System.IO.File.WriteAllBytes(File("lenet.onnx"), LeNetBytes());
        var pixels = TestPaths.FashionMnistTest.Slice(0, 100).Pixels;
        string data = DatasetWithImages("magic", TestData.Idx(IdxReader.LabelsMagic, [100, 28, 28], pixels));
        AssertUserError(PimqProcess.Run("eval", File("lenet.onnx"), "--data", data), 1, "t10k-images-idx3-ubyte", "magic", "0x00000803");
    }

    [Fact]
    public void ImagesOfTheWrongSizeForTheModelAreNamed()
    {
        System.IO.File.WriteAllBytes(File("lenet.onnx"), LeNetBytes());
        string data = DatasetWithImages("dims", TestData.Idx(IdxReader.ImagesMagic, [100, 14, 56], TestPaths.FashionMnistTest.Slice(0, 100).Pixels));
        AssertUserError(PimqProcess.Run("eval", File("lenet.onnx"), "--data", data), 1, "lenet.onnx", "14×56");
    }

    [Fact]
    public void ACorruptCheckpointIsNamedOnResume()
    {
        string ckpt = File("bad.ckpt");
        System.IO.File.WriteAllText(ckpt, "this is not a checkpoint");
        var run = PimqProcess.Run("train", "--model", "lenet5", "--epochs", "1", "--threads", "1", "-o", File("m.onnx"),
            "--data", TinyFashion.Write(File("tiny"), 64, 32), "--checkpoint", ckpt, "--resume");
        AssertUserError(run, 1, "bad.ckpt", "not a PimQuant checkpoint");
    }

    [Fact]
    public void MeanWithoutStdIsAUsageError()
    {
        System.IO.File.WriteAllBytes(File("lenet.onnx"), LeNetBytes());
        AssertUserError(PimqProcess.Run("eval", File("lenet.onnx"), "--mean", "0.5"), 2, "--mean and --std");
    }

    [Fact]
    public void AnOutOfRangeValueIsAUsageError() =>
        AssertUserError(PimqProcess.Run("train", "--model", "lenet5", "--epochs", "0", "-o", File("m.onnx")), 2, "Epochs", "at least 1");

    [Theory]
    [InlineData("eval")]                       // missing MODEL argument
    [InlineData("frobnicate")]                 // unknown command
    [InlineData("train --model alexnet")]      // value not among the allowed ones
    [InlineData("info x.onnx --bogus")]        // unknown option
    public void ACommandLineMistakeExitsWithTheUsageCode(string commandLine)
    {
        var run = PimqProcess.Run(commandLine.Split(' '));
        Assert.Equal(2, run.ExitCode);
        Assert.DoesNotContain("   at ", run.Stderr);
    }

    [Fact]
    public void WithJsonAnErrorIsAlsoOneJsonObjectOnStdout()
    {
        var run = PimqProcess.Run("info", File("absent.onnx"), "--json");
        Assert.Equal(1, run.ExitCode);
        var json = run.Json();
        Assert.False((bool)json["ok"]!);
        Assert.Contains("absent.onnx", (string)json["error"]!);
    }

    [Fact]
    public void TrainWritesAModelThatEvalScoresAsTrainReported()
    {
        string data = TinyFashion.Write(File("tiny"), 512, 200);

        string model = File("tiny.onnx");
        var trained = PimqProcess.Run("train", "--model", "lenet5", "--data", data, "--epochs", "2", "--batch-size", "32",
            "--threads", "1", "-o", model, "--json");
        Assert.True(trained.ExitCode == 0, trained.Stderr);
        var report = trained.Json();
        Assert.Equal(2, report["history"]!.AsArray().Count);
        Assert.True(System.IO.File.Exists(model));
        Assert.True(System.IO.File.Exists(model + ".ckpt"));

        var evaluated = PimqProcess.Run("eval", model, "--data", data, "--threads", "1", "--json");
        Assert.True(evaluated.ExitCode == 0, evaluated.Stderr);
        var eval = evaluated.Json();
        Assert.Equal("metadata", (string)eval["preprocessing"]!["source"]!);
        Assert.Equal((double)report["test_accuracy"]!, (double)eval["accuracy"]!, 10);

        // Resuming a finished run trains nothing more and reports the same result.
        var resumed = PimqProcess.Run("train", "--model", "lenet5", "--data", data, "--epochs", "2", "--batch-size", "32",
            "--threads", "1", "-o", model, "--resume", "--json");
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal(2, (int)resumed.Json()["resumed_from_epoch"]!);
        Assert.Equal((double)report["test_accuracy"]!, (double)resumed.Json()["test_accuracy"]!, 10);
    }
}
