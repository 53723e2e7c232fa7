using PimQuant.Cli.Terminal;
using PimQuant.Engine.Passes;
using PimQuant.Experiments;
using PimQuant.Models;

namespace PimQuant.Tests.Experiments;

/// <summary><c>pimq bench infer</c>'s measurement as a library call: both engines time the same batches and agree on them.</summary>
public class InferenceBenchmarkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string LeNet()
    {
        Torch.Ensure();
        string path = Path.Combine(_dir, "lenet.onnx");
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 3);
        ShapeInference.Run(graph);
        ModelFiles.Save(graph, path, "test");
        return path;
    }

    [Fact]
    public void BothEnginesTimeWholeBatchesAndAgreeOnTheLogits()
    {
        var request = new InferenceBenchmarkRequest(LeNet(), new DataOptions(), BatchSize: 32, Images: 80, Passes: 3, Threads: 1, CpuTime: false);
        var r = InferenceBenchmark.Run(request, new ConsoleProgress(new Output(json: true)), CancellationToken.None);
        Assert.Equal(64, r.Images);                        // 80 images in whole batches of 32
        Assert.Equal(3, r.PimQuant.Count);
        Assert.Equal(3, r.OnnxRuntime.Count);
        Assert.True(r.PimQuant.Zip(r.PimQuant.Skip(1)).All(p => p.First <= p.Second), "passes are reported ascending");
        Assert.All(r.PimQuant.Concat(r.OnnxRuntime), v => Assert.True(v > 0 && double.IsFinite(v)));
        Assert.Equal(r.PimQuant[1], r.PimQuantMedian);
        Assert.Equal(r.PimQuantMedian / r.OnnxRuntimeMedian, r.Ratio, 1e-12);
        Assert.InRange(r.MaxAbsLogitDifference, 0, 1e-3);
    }

    [Fact]
    public void CpuTimeWithMoreThanOneThreadIsRefusedBeforeWork()
    {
        var request = new InferenceBenchmarkRequest(Path.Combine(_dir, "absent.onnx"), new DataOptions(), 32, 64, 1, Threads: 2, CpuTime: true);
        var e = Assert.Throws<ExperimentException>(() => InferenceBenchmark.Run(request, new ConsoleProgress(new Output(json: true)), CancellationToken.None));
        Assert.Equal(ExperimentErrorKind.InvalidOption, e.Kind);
        Assert.Contains("--cpu-time needs --threads 1", e.Message);
    }
}
