using System.Diagnostics;
using PimQuant.Onnx;
using PimQuant.Tests.Cli;
using PimQuant.Tests.Data;

namespace PimQuant.Tests.Reliability;

/// <summary>
/// A training run killed with SIGKILL at random moments after a checkpoint and resumed each time continues
/// from that checkpoint (each resumed run reports the epoch it found) and ends with exactly the weights of an
/// uninterrupted run with the same seed: checkpoints are atomic and the run's randomness depends only on
/// (seed, epoch, step).
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
    public async Task KilledAtRandomMomentsAndResumedEqualsUninterrupted()
    {
        Torch.Ensure();
        string data = TinyFashion.Write(Path.Combine(_dir, "data"), 1536, 300);
        string straight = Path.Combine(_dir, "straight.onnx");
        var clock = Stopwatch.StartNew();
        var reference = PimqProcess.Run(TrainArgs(data, straight));
        double uninterrupted = clock.Elapsed.TotalMilliseconds;
        Assert.True(reference.ExitCode == 0, reference.Stderr);

        string killed = Path.Combine(_dir, "killed.onnx"), checkpoint = killed + ".ckpt";
        var random = new Random(20261123);
        int kills = 0;
        var resumedFrom = new List<int>();
        for (int attempt = 0; attempt < 4 && !File.Exists(killed); attempt++)
        {
            var started = DateTime.UtcNow;
            using var process = PimqProcess.Start([.. TrainArgs(data, killed), .. attempt > 0 ? new[] { "--resume" } : []]);
            var stdout = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            // Wait for this process's first checkpoint, then kill at a random moment of the next epoch or so:
            // while training, while writing or renaming a checkpoint. Each kill leaves a checkpoint to resume.
            var wait = Stopwatch.StartNew();
            while (!process.HasExited && (!File.Exists(checkpoint) || File.GetLastWriteTimeUtc(checkpoint) < started) && wait.Elapsed < TimeSpan.FromMinutes(2))
                Thread.Sleep(20);
            Thread.Sleep(TimeSpan.FromMilliseconds(0.3 * uninterrupted * random.NextDouble()));
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true); // SIGKILL: no handler runs, nothing is flushed
                process.WaitForExit();
                kills++;
            }
            else if (process.ExitCode == 0)
                resumedFrom.Add((int)System.Text.Json.Nodes.JsonNode.Parse(await stdout)!["resumed_from_epoch"]!);
        }
        var finished = PimqProcess.Run([.. TrainArgs(data, killed), "--resume"]);
        Assert.True(finished.ExitCode == 0, finished.Stderr);
        Assert.True(kills > 0, "the run finished before it could be killed; the test proved nothing");
        // Every kill came after a checkpoint of the killed process, so every later run continued from one: none
        // started over (a kill before the first checkpoint would pass the weight comparison as a same-seed rerun).
        resumedFrom.Add((int)finished.Json()["resumed_from_epoch"]!);
        Assert.All(resumedFrom, epoch => Assert.InRange(epoch, 1, 4));
        Assert.Equal(Weights(straight), Weights(killed));
        Assert.Equal((double)reference.Json()["test_accuracy"]!, (double)finished.Json()["test_accuracy"]!);
    }
}
