namespace PimQuant.Experiments.Results;

/// <summary>
/// One scheme's result, with the same fields for every command and method (docs/results.md): what ran, the three
/// accuracies, the bits, the chip's use and the cost of one image, and the ratios against the command's baseline.
/// A field the run cannot fill is null and the report's notes say why; never a stand-in number.
/// </summary>
/// <param name="Scheme">A unique, readable label within the report (<c>isaac w8a8</c>, <c>cimq adc4 w4a4</c>).</param>
/// <param name="Method"><c>fp32</c>, <c>baseline</c>, <c>conventional</c>, <c>bwq</c>, <c>redy</c>, <c>ivq</c>, <c>raqu</c>, <c>cimq</c>, or several joined by <c>+</c>.</param>
/// <param name="Hw">The hardware preset's name or the spec file; null for a row that ran on no hardware (<c>fp32</c>).</param>
/// <param name="AdcBits">The ADC resolution the row ran with (0: an ideal ADC); null without hardware.</param>
/// <param name="Fp32Accuracy">Top-1 accuracy of the float model, as a fraction.</param>
/// <param name="IdealAccuracy">Top-1 accuracy of the same quantized model run as ideal integers.</param>
/// <param name="Accuracy">Top-1 accuracy of the row's scheme on the simulated hardware.</param>
/// <param name="AvgWeightBits">Weight bits averaged over the weights the crossbars hold, weighted by count.</param>
/// <param name="AvgActivationBits">Activation bits averaged over the activation elements streamed into the crossbars per image.</param>
/// <param name="WeightCompression">32 / <paramref name="AvgWeightBits"/>.</param>
/// <param name="Arrays">Crossbar arrays allocated.</param>
/// <param name="Utilisation">Programmed cells / cells of the allocated arrays.</param>
/// <param name="OuReads">Operation-unit reads per image.</param>
/// <param name="AdcConversions">ADC conversions per image.</param>
/// <param name="EnergyJ">Energy per image, joules (dynamic + static).</param>
/// <param name="LatencyS">Latency of one image through every layer, seconds.</param>
/// <param name="Fps">Images per second in steady state.</param>
/// <param name="TopsPerW">Tera-operations per joule.</param>
/// <param name="AreaMm2">Area of the tiles used, mm².</param>
/// <param name="Speedup">The baseline's latency / this row's.</param>
/// <param name="EnergySaving">The baseline's energy / this row's.</param>
public sealed record ResultRow(
    string Scheme, string Method, string? Hw, int? AdcBits,
    double? Fp32Accuracy, double? IdealAccuracy, double Accuracy,
    double? AvgWeightBits, double? AvgActivationBits, double? WeightCompression,
    int? Arrays, double? Utilisation, long? OuReads, long? AdcConversions,
    double? EnergyJ, double? LatencyS, double? Fps, double? TopsPerW, double? AreaMm2,
    double? Speedup, double? EnergySaving)
{
    /// <summary>This row with its ratios against <paramref name="baseline"/>: speedup = the baseline's latency / this row's,
    /// energy saving = the baseline's energy / this row's; null where either side has no figure.</summary>
    public ResultRow RelativeTo(ResultRow baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        return this with
        {
            Speedup = baseline.LatencyS is { } lb && LatencyS is { } l && l > 0 ? lb / l : null,
            EnergySaving = baseline.EnergyJ is { } eb && EnergyJ is { } e && e > 0 ? eb / e : null,
        };
    }
}

/// <summary>The published figures a command reproduces, printed beside the measured ones.</summary>
/// <param name="Speedup">The paper's speedup over its baseline.</param>
/// <param name="EnergySaving">The paper's energy saving over its baseline.</param>
/// <param name="Source">Where the figures are published (paper, table or figure).</param>
public sealed record PaperFigures(double? Speedup, double? EnergySaving, string Source);

/// <summary>What every row of a report ran on, and what the rows cannot say alone.</summary>
/// <param name="Command">The command that produced the report (<c>simulate</c>, <c>reproduce bwq</c>).</param>
/// <param name="Model">The model file, as a full path.</param>
/// <param name="Dataset">The dataset's name.</param>
/// <param name="TestImages">Test images every row was evaluated on.</param>
/// <param name="Seed">Seed of every random choice.</param>
/// <param name="Baseline">The <see cref="ResultRow.Scheme"/> the ratios are taken against; null when the command names no baseline.</param>
/// <param name="Paper">The published figures the command reproduces; null when it reproduces none.</param>
/// <param name="Notes">In words: where and why the measurement differs from the paper, and why a field is null.</param>
public sealed record ResultContext(string Command, string Model, string Dataset, int TestImages, long Seed, string? Baseline,
    PaperFigures? Paper, IReadOnlyList<string> Notes);

/// <summary>A command's schemes as result rows, with what they ran on (the <c>--json</c> shape of docs/results.md).</summary>
public sealed record ResultReport(ResultContext Context, IReadOnlyList<ResultRow> Rows);
