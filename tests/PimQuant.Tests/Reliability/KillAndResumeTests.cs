using System.Diagnostics;
using PimQuant.Onnx;
using PimQuant.Tests.Cli;
using PimQuant.Tests.Data;

namespace PimQuant.Tests.Reliability;

/// <summary>
/// A training run killed with SIGKILL at random moments and resumed each time ends with exactly
/// the weights of an uninterrupted run with the same seed: checkpoints are atomic and the run's
/// randomness depends only on (seed, epoch, step).
/// </summary>
[Collection(IsolatedCollection.Name)]
public class KillAndResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-kill-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string[] TrainArgs(string data, string output) =>
        ["train", "--model", "lenet5", "--data", data, "--epochs", "4", "--batch-size", "32", "--threads", "1", "--seed", "9",
         "-o", output, "--checkpoint", output + ".ckpt", "--json"];

    private static float[] Weights(string model)
    {
        using var graph = OnnxImporter.ImportFile(model);
        return graph.Initializers.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .SelectMany(kv => kv.Value.Value.to_type(TorchSharp.torch.ScalarType.Float32).data<float>().ToArray()).ToArray();
    }

    [Fact]
    public void KilledAtRandomMomentsAndResumedEqualsUninterrupted()
    {
        Torch.Ensure();
        string data = TinyFashion.Write(Path.Combine(_dir, "data"), 1536, 300);
        string straight = Path.Combine(_dir, "straight.onnx");
        var clock = Stopwatch.StartNew();
        var reference = PimqProcess.Run(TrainArgs(data, straight));
        double uninterrupted = clock.Elapsed.TotalMilliseconds;
        Assert.True(reference.ExitCode == 0, reference.Stderr);

        string killed = Path.Combine(_dir, "killed.onnx");
        var random = new Random(20261123);
        int kills = 0;
        for (int attempt = 0; attempt < 4 && !File.Exists(killed); attempt++)
        {
            var process = PimqProcess.Start([.. TrainArgs(data, killed), .. attempt > 0 ? new[] { "--resume" } : []]);
            // Anywhere from start-up to late in the run (a fraction of the uninterrupted run's time):
            // before the first checkpoint, between epochs, while writing one.
            double fraction = 0.15 + 0.6 * random.NextDouble();
            if (!process.WaitForExit(TimeSpan.FromMilliseconds(fraction * uninterrupted)))
            {
                process.Kill(entireProcessTree: true); // SIGKILL: no handler runs, nothing is flushed
                process.WaitForExit();
                kills++;
            }
        }
        var finished = PimqProcess.Run([.. TrainArgs(data, killed), "--resume"]);
        Assert.True(finished.ExitCode == 0, finished.Stderr);
        Assert.True(kills > 0, "the run finished before it could be killed; the test proved nothing");
        Assert.Equal(Weights(straight), Weights(killed));
        Assert.Equal((double)reference.Json()["test_accuracy"]!, (double)finished.Json()["test_accuracy"]!);
    }
}
