using PimQuant.Cli.Terminal;
using PimQuant.Experiments;

namespace PimQuant.Tests.Experiments;

/// <summary><c>pimq bench sim</c>'s measurement as a library call: requests it cannot serve are refused before any work.</summary>
public class SimulationBenchmarkTests
{
    private static SimulationBenchmarkResult Run(SimulationBenchmarkRequest request) =>
        SimulationBenchmark.Run(request, new ConsoleProgress(new Output(json: true)), CancellationToken.None);

    [Fact]
    public void DataOptionsWithTheRandomImagesOfVgg8AreAUsageError()
    {
        var e = Assert.Throws<ExperimentException>(() => Run(new SimulationBenchmarkRequest("vgg8", new DataOptions(Mean: [0.5f], Std: [0.25f]), [], 2, 2, 1)));
        Assert.Equal(ExperimentErrorKind.InvalidOption, e.Kind);
        Assert.Contains("vgg8 runs on seeded random images", e.Message);
    }

    [Fact]
    public void AnUnknownPresetIsRefusedBeforeTheModelIsRead()
    {
        var e = Assert.ThrowsAny<Exception>(() => Run(new SimulationBenchmarkRequest("absent.onnx", new DataOptions(), ["no-such-preset"], 2, 2, 1)));
        Assert.Contains("no-such-preset", e.Message);
    }
}
