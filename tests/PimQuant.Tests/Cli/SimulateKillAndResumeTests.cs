using System.Diagnostics;
using System.Text.Json.Nodes;

namespace PimQuant.Tests.Cli;

/// <summary>
/// <c>pimq simulate --checkpoint</c> killed with SIGKILL at random moments after its first checkpoint and
/// resumed each time reports exactly what an uninterrupted run reports: checkpoints are atomic (every
/// resume reads one), the result file (-o) appears only when the run is done, and the resumed chip and
/// images give the same accuracies, events and cost, read noise included (drawn with the keys of an
/// uninterrupted run).
/// </summary>
[Collection(IsolatedCollection.Name)]
public class SimulateKillAndResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-simkill-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Lossless isaac on 384 images (batches of 32), or with <paramref name="readNoise"/> lossy isaac with read
    /// noise on the conductance path (6-bit ADC, 2 % variation, 0.2 % stuck-at-0; 24 images in batches of 6).</summary>
    private string[] Args(bool readNoise, params string[] extra) =>
        ["simulate", Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx"), "--hw", "isaac", "--calibration-images", "64", "--threads", "2", "--json",
         "--db", Path.Combine(_dir, "results.db"),
         .. readNoise
             ? new[] { "--images", "24", "--batch-size", "6", "--adc-bits", "6", "--variation", "0.02", "--sa0", "0.002", "--read-noise", "0.2" }
             : ["--images", "384", "--batch-size", "32"],
         .. extra];

    private static int ImagesDone(string checkpoint) => (int)JsonNode.Parse(File.ReadAllText(checkpoint))!["images_done"]!;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KilledAtRandomMomentsAndResumedEqualsUninterrupted(bool readNoise)
    {
        var reference = PimqProcess.Run(Args(readNoise));
        Assert.True(reference.ExitCode == 0, reference.Stderr);

        string checkpoint = Path.Combine(_dir, "run.ckpt"), result = Path.Combine(_dir, "result.json");
        string[] checkpointed = Args(readNoise, "--checkpoint", checkpoint, "-o", result);
        int images = readNoise ? 24 : 384, batch = readNoise ? 6 : 32;
        // Kill within the first 60 % of the reference run's simulation time after a checkpoint: the first
        // attempt (a quarter or a twelfth of the images done) is killed unless the load changes sharply, a later one may finish.
        double simulated = (double)reference.Json()["seconds"]!["simulated"]!;
        var random = new Random(20261123);
        int kills = 0, done = 0;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            using var process = PimqProcess.Start([.. checkpointed, .. attempt > 0 ? new[] { "--resume" } : []]);
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            // Wait for this process's first checkpoint, then kill at a random moment: while simulating a
            // batch, while writing or renaming a checkpoint.
            var clock = Stopwatch.StartNew();
            while (!process.HasExited && (!File.Exists(checkpoint) || ImagesDone(checkpoint) <= done) && clock.Elapsed < TimeSpan.FromMinutes(2))
                Thread.Sleep(20);
            Thread.Sleep(TimeSpan.FromSeconds(0.6 * simulated * random.NextDouble()));
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true); // SIGKILL: no handler runs, nothing is flushed
                process.WaitForExit();
                kills++;
                Assert.False(File.Exists(result), "the result file appeared before the run was done");
            }
            done = ImagesDone(checkpoint); // parses: a kill never leaves a torn checkpoint
            if (done == images) break;
        }
        Assert.True(kills > 0, "the run finished before it could be killed; the test proved nothing");
        Assert.InRange(done, batch, images);

        var finished = PimqProcess.Run([.. checkpointed, "--resume"]);
        Assert.True(finished.ExitCode == 0, finished.Stderr);
        Assert.Equal(done, (int)finished.Json()["resumed_from_image"]!);
        Assert.True(JsonNode.DeepEquals(SimulateCheckpointTests.Comparable(reference.Json()), SimulateCheckpointTests.Comparable(finished.Json())),
            $"uninterrupted:\n{reference.Stdout}\nresumed:\n{finished.Stdout}");
        Assert.True(JsonNode.DeepEquals(finished.Json(), JsonNode.Parse(File.ReadAllText(result))), "-o wrote another result than stdout");
    }
}
