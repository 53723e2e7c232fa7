using PimQuant.Experiments;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Presets;
using PimQuant.Methods.ReDy;

namespace PimQuant.Tests.Methods.ReDy;

/// <summary><c>pimq reproduce redy</c>'s library run on a few images: the baseline first with ratios 1, the lossless rule at the
/// baseline's accuracy with less energy, a run stopped after a scheme and resumed from its checkpoint equal to an uninterrupted
/// one, a checkpoint of another sweep refused by name, and the plot written.</summary>
public class ReDyReproductionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-redy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Progress(Action<string>? onLog = null) : IExperimentProgress
    {
        public void Log(string message) => onLog?.Invoke(message);
        public T Step<T>(string title, Func<Action<StepProgress>, T> body) => body(_ => { });
    }

    private ReDyReproductionRequest Request(IReadOnlyList<ReDySetting> sweep, bool resume = false) => new(
        Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx"), PresetCatalog.Load("isaac"), new DataOptions(), Images: 24,
        CalibrationImages: 32, Seed: 0, BatchSize: 24, Threads: 2, sweep, Checkpoint: Path.Combine(_dir, "redy.ckpt"), Resume: resume);

    [Fact]
    public void A_run_stopped_after_a_scheme_resumes_to_the_uninterrupted_report()
    {
        ReDySetting[] sweep = [new(new ReDyHeuristic.MaxBased(5)), new(new ReDyHeuristic.StatisticsBased(1, 4), Round: true)];
        var whole = ReDyReproduction.Run(Request(sweep) with { Checkpoint = null }, new Progress(), CancellationToken.None);

        Assert.Equal(["isaac w8a8", "isaac w8a8 redy lossless array", "isaac w8a8 redy max:5 array", "isaac w8a8 redy stats:1:4 array round"],
            whole.Rows.Select(r => r.Scheme));
        var baseline = whole.Rows[0];
        Assert.Equal(("baseline", 1.0, 1.0), (baseline.Method, baseline.EnergySaving!.Value, baseline.Speedup!.Value));
        Assert.Equal("isaac w8a8", whole.Context.Baseline);
        var lossless = whole.Rows[1];
        Assert.Equal(baseline.Accuracy, lossless.Accuracy);
        Assert.True(lossless.EnergySaving > 1, $"lossless energy saving {lossless.EnergySaving}");
        Assert.True(lossless.OuReads < baseline.OuReads);
        Assert.All(whole.Rows.Skip(1), r => Assert.Equal("redy", r.Method));
        Assert.NotNull(whole.Context.Paper);

        // Stopped as the third scheme starts: two rows are in the checkpoint.
        using var stop = new CancellationTokenSource();
        var progress = new Progress(line => { if (line.StartsWith("isaac w8a8 redy max:5", StringComparison.Ordinal)) stop.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => ReDyReproduction.Run(Request(sweep), progress, stop.Token));
        var resumedLog = new List<string>();
        var resumed = ReDyReproduction.Run(Request(sweep, resume: true), new Progress(resumedLog.Add), CancellationToken.None);
        Assert.Contains("resuming: 2 of 4 schemes done", string.Join("\n", resumedLog));
        Assert.DoesNotContain(resumedLog, l => l.StartsWith("isaac w8a8 redy lossless", StringComparison.Ordinal));
        Assert.Equal(whole.Rows, resumed.Rows);
        Assert.Equal(whole.Context, resumed.Context with { Notes = whole.Context.Notes, Model = whole.Context.Model });
        Assert.Equal(whole.Context.Notes, resumed.Context.Notes);

        // Another sweep's checkpoint is not this run's.
        var other = Assert.Throws<ExperimentException>(() => ReDyReproduction.Run(Request([new(new ReDyHeuristic.MaxBased(4))], resume: true), new Progress(), CancellationToken.None));
        Assert.Contains("checkpoint of a different run (schemes is", other.Message);

        string png = Path.Combine(_dir, "redy.png");
        TradeOffPlot.Save(whole, ReDyReproduction.Family, png, "test");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
    }
}
