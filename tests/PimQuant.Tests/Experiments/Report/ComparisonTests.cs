using PimQuant.Experiments;
using PimQuant.Experiments.Report;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Presets;
using PimQuant.Methods;

namespace PimQuant.Tests.Experiments.Report;

/// <summary>A comparison stopped after its first scheme resumes from its checkpoint to the report of an uninterrupted run, a
/// checkpoint of another run is refused naming the difference, and two schemes that would share a row's label are refused.</summary>
public class ComparisonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-comparison-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Progress : IExperimentProgress
    {
        public void Log(string message) { }
        public T Step<T>(string title, Func<Action<StepProgress>, T> body) => body(_ => { });
    }

    private ComparisonRequest Request(int images) => new(Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx"),
        SchemeCatalog.Parse("baseline,redy", null, PresetCatalog.Load), new DataOptions(), images, CalibrationImages: 32, Seed: 0, BatchSize: 16, Threads: 2,
        Checkpoint: Path.Combine(_dir, "checkpoint.json"));

    [Fact]
    public void A_stopped_comparison_resumes_to_the_uninterrupted_report()
    {
        var request = Request(16);
        var whole = Comparison.Run(request, new Progress(), CancellationToken.None);
        Assert.Equal(2, RowCheckpoint.Load(request.Checkpoint!, Comparison.RunKey(request)).Count);

        // Stopped after the baseline: its row and detail saved, ReDy's not.
        RowCheckpoint.Save(request.Checkpoint!, Comparison.RunKey(request), [whole.Results.Rows[0]]);
        var resumed = Comparison.Run(request, new Progress(), CancellationToken.None);
        Assert.Equal(ReportJson.Of(whole).ToJsonString(), ReportJson.Of(resumed).ToJsonString());

        var other = Assert.Throws<ExperimentException>(() => Comparison.Run(Request(8), new Progress(), CancellationToken.None));
        Assert.Contains("images", other.Message);
    }

    [Fact]
    public void Two_schemes_reported_under_one_label_are_refused_before_any_work()
    {
        var request = Request(16) with { Schemes = SchemeCatalog.Parse("redy,redy@isaac", null, PresetCatalog.Load) };
        var e = Assert.Throws<ExperimentException>(() => Comparison.Run(request, new Progress(), CancellationToken.None));
        Assert.Equal("redy and redy@isaac are the same scheme on hardware of the same name: give it once", e.Message);
        Assert.False(File.Exists(request.Checkpoint));
    }
}
