using PimQuant.Accelerator;
using PimQuant.Sim;

namespace PimQuant.Experiments;

/// <summary>
/// What a method (docs/methods.md) changes in a simulation beyond its quantization config: the parts it composes into
/// the pipeline. A run without parts is the conventional scheme. Each part is optional; a method sets those it uses.
/// </summary>
/// <param name="Method">The method's name in result rows (<c>redy</c>, <c>bwq</c>, …).</param>
/// <param name="Label">The scheme with its parameters, unique among a report's rows and in run keys (e.g. <c>redy max:4 array</c>).</param>
public sealed record MethodParts(string Method, string Label)
{
    /// <summary>The input digits each read streams, chosen at run time from the data (ReDy's dynamic precision).</summary>
    public IInputDigitPolicy? DigitPolicy { get; init; }

    /// <summary>How calibrated ADC steps are chosen from the calibration data (CIMQ's learned clipping); null: the peak
    /// partial sum on the top code. Applies to specs whose <c>adc.step</c> is <c>calibrated</c>.</summary>
    public IAdcStepCalibration? AdcCalibration { get; init; }

    /// <summary>Changes to the quantized model itself, applied in order when the model is quantized (a run with any
    /// quantizes its own model instead of sharing one).</summary>
    public IReadOnlyList<IQuantizationPart> Quantization { get; init; } = [];
}
