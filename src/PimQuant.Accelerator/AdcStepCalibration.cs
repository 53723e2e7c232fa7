using PimQuant.Sim;

namespace PimQuant.Accelerator;

/// <summary>
/// Sets a layer's calibrated ADC steps (<c>adc.step: calibrated</c>) from the input vectors sampled from calibration
/// images on the programmed chip (every earlier layer simulated): the hook where a method chooses its partial-sum
/// quantization, e.g. CIMQ's learned clipping. Called once per convolution group of each layer, in layer order.
/// </summary>
public interface IAdcStepCalibration
{
    /// <summary>The ADC steps of <paramref name="layer"/>, in levels: one per array (row tile × column tile, row-major, the
    /// order of <see cref="ProgrammedLayer.Steps"/>) when <paramref name="perArray"/>, else one for the layer.</summary>
    /// <param name="layer">The convolution group as programmed (its steps are still the spec's initial full range).</param>
    /// <param name="vectors">Sampled input vectors, <paramref name="pixels"/> × K activation codes.</param>
    /// <param name="pixels">Vectors sampled.</param>
    /// <param name="signed">The codes are two's-complement patterns whose top digit weighs −2^(d·(T−1)) (<see cref="RunOptions.SignedActivations"/>).</param>
    /// <param name="perArray">One step per array (<c>adc.calibration: array</c>) instead of one for the layer.</param>
    /// <param name="configuration">Threads of the simulator.</param>
    double[] Steps(ProgrammedLayer layer, ReadOnlyMemory<byte> vectors, int pixels, bool signed, bool perArray, SimConfiguration configuration);
}

/// <summary>The conventional calibration: the peak partial sum of the sampled reads lands on the top code, so nothing
/// clips on the calibration data and small partial sums get the resolution that is left.</summary>
public sealed class PeakAdcCalibration : IAdcStepCalibration
{
    /// <summary>The one instance (stateless).</summary>
    public static PeakAdcCalibration Instance { get; } = new();

    /// <inheritdoc/>
    public double[] Steps(ProgrammedLayer layer, ReadOnlyMemory<byte> vectors, int pixels, bool signed, bool perArray, SimConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return FromPeaks(layer.PeakPartialSums(vectors, pixels, configuration), layer.Config.AdcCodeMax, perArray);
    }

    /// <summary>Steps that put each peak (per array, or their maximum for the layer) on code <paramref name="codeMax"/>; a peak
    /// of 0 (nothing read) gives step 1.</summary>
    public static double[] FromPeaks(IReadOnlyList<double> peaks, int codeMax, bool perArray)
    {
        ArgumentNullException.ThrowIfNull(peaks);
        return perArray
            ? peaks.Select(p => p > 0 ? p / codeMax : 1.0).ToArray()
            : [peaks.Max() is var m && m > 0 ? m / codeMax : 1.0];
    }
}
