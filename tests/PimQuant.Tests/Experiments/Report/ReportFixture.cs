using PimQuant.Experiments.Report;
using PimQuant.Experiments.Results;

namespace PimQuant.Tests.Experiments.Report;

/// <summary>A fixed comparison of two schemes (numbers of the shape a run gives, not a measurement), for the pure parts of the report.</summary>
public static class ReportFixture
{
    private static readonly ResultRow BaselineRow = new("isaac w8a8", "baseline", "isaac", 8, 0.9455, 0.9452, 0.9448, 8, 8, 4, 312, 0.731, 132504, 11741504,
        3.0142e-5, 1.59e-5, 62893.1, 0.77, 1.12, 1, 1);

    private static readonly ResultRow RedyRow = BaselineRow with
    {
        Scheme = "isaac w8a8 redy lossless array", Method = "redy", OuReads = 109394, AdcConversions = 9741000, EnergyJ = 2.5999e-5, LatencyS = 1.51e-5,
        Fps = 66225.2, TopsPerW = 0.89, Speedup = 1.59e-5 / 1.51e-5, EnergySaving = 3.0142e-5 / 2.5999e-5,
    };

    private static SchemeDetail Detail(string scheme, PaperFigures? paper, double adc) => new(scheme, paper,
        [new("adc", adc), new("crossbar", 0.4e-6), new("edram_buffer <&>", 0.9e-6)],
        [
            new("conv1", 8, 1, 0.0352, 1024, 65536, 0.31e-6, null),
            new("fc", 5.5, 2, 0.625, 80, 2560, 0.02e-6, new PrecisionMap("ou 9x8", 1, 8, 2, [8, 6, 4, 0, 5, 5, 3, 2, 8, 7, 6, 5, 4, 3, 2, 1])),
        ]);

    /// <summary>The report: the baseline and ReDy's lossless rule, with details, notes and provenance.</summary>
    public static ComparisonReport Report { get; } = new(
        new ResultReport(
            new ResultContext("compare", "/work/models/resnet20-fmnist.onnx", "fashion-mnist", 10000, 0, "isaac w8a8", null,
                ["isaac w8a8 redy lossless array: 13.7 % less energy than isaac w8a8 here", "a note with <markup> & \"quotes\""]),
            [BaselineRow, RedyRow]),
        [Detail(BaselineRow.Scheme, null, 19.6e-6), Detail(RedyRow.Scheme, new PaperFigures(null, 1 / 0.87, "Sabri et al. (abstract)"), 16.5e-6)],
        new ReportProvenance("pimq compare models/resnet20-fmnist.onnx --schemes baseline,redy", "1.0.0+abc1234", "AMD EPYC, 2 cores, Debian 12, .NET 10"));

    /// <summary>Two stand-in plots (a few bytes each: the builder only inlines them).</summary>
    public static IReadOnlyList<ReportPlot> Plots { get; } =
        [new("Accuracy against energy per image", "accuracy-energy.png", [137, 80, 78, 71]), new("Energy per image by component", "energy-breakdown.png", [1, 2, 3])];
}
