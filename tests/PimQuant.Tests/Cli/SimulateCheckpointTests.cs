using System.Text.Json.Nodes;
using PimQuant.Cli.Commands;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using PimQuant.Hardware.Presets;
using PimQuant.Training;

namespace PimQuant.Tests.Cli;

/// <summary>
/// <c>pimq simulate --checkpoint</c>: a run stopped after a few batches and resumed reports exactly what an
/// uninterrupted run without checkpoints reports (the three accuracies, every layer's events, the whole cost),
/// and a checkpoint of another run, or of a run whose rebuilt chip differs, is refused with one line naming
/// the file. In-process: the run is stopped as Ctrl+C stops it, by cancelling after a save.
/// </summary>
public class SimulateCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-simckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Model => Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx");

    /// <summary>resnet20 on the first test images at 2 threads; <paramref name="lossy"/> takes isaac through the
    /// simulator's conductance path (6-bit ADC, 2 % programming variation, 0.2 % stuck-at-0 cells), with
    /// <paramref name="readNoise"/> (levels per partial sum) drawn on every read.</summary>
    private static SimulationRequest Request(bool lossy, int images, int batch, string? checkpoint = null, bool resume = false, int every = 1,
        long seed = 0, double readNoise = 0)
    {
        var overrides = lossy ? new SpecOverrides(AdcBits: 6, Variation: 0.02, StuckAtZero: 0.002, ReadNoise: readNoise) : new SpecOverrides();
        return new SimulationRequest(Model, overrides.Apply(PresetCatalog.Load("isaac")), null, null, null, new DataOptions(), images,
            CalibrationImages: 64, Seed: seed, BatchSize: batch, Threads: 2, Path: null, Checkpoint: checkpoint, Resume: resume, CheckpointEvery: every);
    }

    private static JsonObject Run(SimulationRequest request, Action<SimulationCheckpoint>? saved = null) =>
        SimulateCommand.Json(request, Simulation.Run(request, new ConsoleProgress(new Output(json: true)), CancellationToken.None, saved));

    /// <summary>The result without what differs between equal runs: wall times, the checkpoint's path, where it resumed and where its row was stored.</summary>
    internal static JsonObject Comparable(JsonObject result)
    {
        var copy = result.DeepClone().AsObject();
        foreach (var key in new[] { "seconds", "checkpoint", "resumed_from_image", "stored" }) copy.Remove(key);
        return copy;
    }

    /// <summary>Runs with a checkpoint and stops (as Ctrl+C does) once <paramref name="saves"/> checkpoints are written.</summary>
    private static void RunAndStop(SimulationRequest request, int saves)
    {
        using var cancel = new CancellationTokenSource();
        int written = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => Simulation.Run(request, new ConsoleProgress(new Output(json: true)), cancel.Token,
            _ => { if (++written == saves) cancel.Cancel(); }));
    }

    [Theory]
    [InlineData(false, 256, 32, 2, 1, 0)]  // lossless isaac (libtorch product), a checkpoint every 2 batches, stopped after 64 images
    [InlineData(true, 16, 8, 1, 1, 0)]     // lossy isaac (conductance path, device draws; slow in Debug), stopped after 8 images
    [InlineData(true, 16, 4, 1, 2, 0.2)]   // and read noise (0.2 levels), drawn per read and keyed by the pixel's index since programming
    public void StoppedAndResumedEqualsAnUninterruptedRun(bool lossy, int images, int batch, int every, int saves, double readNoise)
    {
        Torch.Ensure();
        var reference = Run(Request(lossy, images, batch, readNoise: readNoise));

        string checkpoint = Path.Combine(_dir, "run.ckpt");
        RunAndStop(Request(lossy, images, batch, checkpoint, every: every, readNoise: readNoise), saves);
        int stoppedAt = (int)JsonNode.Parse(File.ReadAllText(checkpoint))!["images_done"]!;
        Assert.Equal(saves * every * batch, stoppedAt);

        var resumed = Run(Request(lossy, images, batch, checkpoint, resume: true, every: every, readNoise: readNoise));
        Assert.Equal(stoppedAt, (int)resumed["resumed_from_image"]!);
        Assert.Equal(images, (int)resumed["test_images"]!);
        // Everything but wall time: accuracies, per-layer events and the whole cost report (priced by
        // CrossbarCost.Evaluate in both, after the resumed run restored the checkpoint's images and events).
        Assert.True(JsonNode.DeepEquals(Comparable(reference), Comparable(resumed)),
            $"uninterrupted:\n{Comparable(reference)}\nresumed:\n{Comparable(resumed)}");
        Assert.NotNull(reference["cost"]);
        Assert.True((double)reference["simulated_accuracy"]! > 0.5, "the fixture should classify, not guess");

        // Resuming the finished run simulates nothing more and reports the same.
        if (lossy) return;
        var again = Run(Request(lossy, images, batch, checkpoint, resume: true, every: every));
        Assert.Equal(images, (int)again["resumed_from_image"]!);
        Assert.True(JsonNode.DeepEquals(Comparable(reference), Comparable(again)));
    }

    [Fact]
    public void ACheckpointOfAnotherRunIsRefusedNamingTheDifference()
    {
        Torch.Ensure();
        string checkpoint = Path.Combine(_dir, "seed0.ckpt");
        RunAndStop(Request(false, 64, 16, checkpoint), 1);

        var other = Assert.Throws<CheckpointException>(() => Run(Request(false, 64, 16, checkpoint, resume: true, seed: 1)));
        Assert.Equal("seed0.ckpt: checkpoint of a different run (seed is 0 there, 1 here); use the same model, hardware, data and options, or start without --resume", other.Message);

        var spec = Assert.Throws<CheckpointException>(() => Run(Request(true, 64, 16, checkpoint, resume: true)));
        Assert.StartsWith("seed0.ckpt: checkpoint of a different run (hw_spec is isaac (with the overrides) sha256:", spec.Message);
    }

    [Fact]
    public void ACheckpointWhoseRebuiltChipDiffersIsRefused()
    {
        Torch.Ensure();
        string checkpoint = Path.Combine(_dir, "chip.ckpt");
        RunAndStop(Request(false, 64, 16, checkpoint), 1);
        var json = JsonNode.Parse(File.ReadAllText(checkpoint))!.AsObject();
        json["chip"]!["quantized_model"] = new string('0', 64);
        File.WriteAllText(checkpoint, json.ToJsonString());

        var e = Assert.Throws<CheckpointException>(() => Run(Request(false, 64, 16, checkpoint, resume: true)));
        Assert.StartsWith("chip.ckpt: checkpoint of a different chip or data (quantized_model is sha256:000000000000… there, sha256:", e.Message);
    }

    [Fact]
    public void ResumingWithoutACheckpointFileStartsFromTheFirstImage()
    {
        Torch.Ensure();
        string checkpoint = Path.Combine(_dir, "absent.ckpt");
        var result = Run(Request(false, 32, 16, checkpoint, resume: true));
        Assert.Equal(0, (int)result["resumed_from_image"]!);
        Assert.Equal(32, (int)JsonNode.Parse(File.ReadAllText(checkpoint))!["images_done"]!);
    }

    /// <summary>pimq as a process on <paramref name="checkpoint"/> with --resume, the run of <see cref="Request"/> (lossless, 64 images, batch 16).</summary>
    private static PimqRun Resume(string checkpoint, params string[] extra) => PimqProcess.Run(
        ["simulate", Model, "--hw", "isaac", "--images", "64", "--batch-size", "16", "--calibration-images", "64", "--threads", "2",
         "--checkpoint", checkpoint, "--resume", .. extra]);

    [Fact]
    public void WrongTruncatedOrForeignCheckpointsExitOneWithOneLine()
    {
        Torch.Ensure();
        string checkpoint = Path.Combine(_dir, "good.ckpt");
        RunAndStop(Request(false, 64, 16, checkpoint), 1);

        CliTests.AssertUserError(Resume(checkpoint, "--seed", "1"), 1, "good.ckpt: checkpoint of a different run (seed is 0 there, 1 here)", "without --resume");

        string truncated = Path.Combine(_dir, "truncated.ckpt");
        var bytes = File.ReadAllBytes(checkpoint);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        CliTests.AssertUserError(Resume(truncated), 1, "truncated.ckpt: truncated or corrupt checkpoint (the JSON breaks off at line");

        string training = Path.Combine(_dir, "training.ckpt");
        File.WriteAllBytes(training, [.. "PIMQCKPT"u8, 1, 0, 0, 0]);
        CliTests.AssertUserError(Resume(training), 1, "training.ckpt: not a pimq simulate checkpoint");
    }

    [Fact]
    public void ResumeWithoutACheckpointIsAUsageError() =>
        CliTests.AssertUserError(PimqProcess.Run("simulate", Model, "--resume"), 2, "--resume continues from a checkpoint: give --checkpoint FILE");
}
