using PimQuant.Experiments;
using PimQuant.Experiments.Report;
using PimQuant.Experiments.Results;
using PimQuant.Hardware.Presets;
using PimQuant.Methods;

namespace PimQuant.Tests.Experiments.Report;

/// <summary>Before any work, a comparison refuses a checkpoint of another run naming the difference, and two schemes that would share a
/// row's label.</summary>
public class ComparisonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-comparison-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);


    private ComparisonRequest Request(int images) => new(Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx"),
        SchemeCatalog.Parse("baseline,redy", null, PresetCatalog.Load, "model.onnx"), new DataOptions(), images, CalibrationImages: 32, Seed: 0, BatchSize: 16, Threads: 2,
        Checkpoint: Path.Combine(_dir, "checkpoint.json"));

    [Fact]
    public void A_checkpoint_of_another_run_is_refused_before_any_work()
    {
        // The resume itself is run end to end by CompareCommandTests.
        var request = Request(16);
        RowCheckpoint.Save(request.Checkpoint!, Comparison.RunKey(request), [ReportFixture.Report.Results.Rows[0]]);
        var other = Assert.Throws<ExperimentException>(() => Comparison.Run(Request(8), new QuietProgress(), CancellationToken.None));
        Assert.Contains("checkpoint.json", other.Message);
        Assert.Contains("images", other.Message);
    }

    [Fact]
    public void Two_schemes_reported_under_one_label_are_refused_before_any_work()
    {
        var request = Request(16) with { Schemes = SchemeCatalog.Parse("redy,redy@isaac", null, PresetCatalog.Load, "model.onnx") };
        var e = Assert.Throws<ExperimentException>(() => Comparison.Run(request, new QuietProgress(), CancellationToken.None));
        Assert.Equal("redy and redy@isaac are the same scheme on hardware of the same name: give it once", e.Message);
        Assert.False(File.Exists(request.Checkpoint));
    }
}
