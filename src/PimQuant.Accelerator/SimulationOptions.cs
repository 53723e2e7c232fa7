using PimQuant.Sim;

namespace PimQuant.Accelerator;

/// <summary>How a quantized model is put on crossbars and run; validated by <see cref="CrossbarModel.Program"/>.</summary>
public sealed record SimulationOptions
{
    /// <summary>Threads, vector width and memory budgets of the simulator (never its results).</summary>
    public SimConfiguration Configuration { get; init; } = SimConfiguration.Default;

    /// <summary>Force one simulation path on every layer (it must apply), or null to let each layer take its
    /// fastest exact-equivalent path. Benchmarks force the bit-serial paths to time them.</summary>
    public SimulationPath? Path { get; init; }

    /// <summary>Which input digits each OU row group streams (ReDy's dynamic precision); null streams all.</summary>
    public IInputDigitPolicy? DigitPolicy { get; init; }

    /// <summary>How calibrated ADC steps are set from the sampled input vectors (CIMQ's learned clipping); null: the peak
    /// partial sum on the top code (<see cref="PeakAdcCalibration"/>).</summary>
    public IAdcStepCalibration? AdcCalibration { get; init; }

    /// <summary>Pixels (im2col vectors) per layer, spread evenly over the calibration batch, whose peak partial sums
    /// set a calibrated ADC step. A peak read from too few clips the rarer large sums of the test images, and a
    /// clipped read of a high digit and slice costs more than a coarser step: 256 took LeNet on neurosim-rram
    /// from 0.72 to 0.40 at an 8-bit ADC, 1,024 or more kept 0.72.</summary>
    public int AdcCalibrationPixels { get; init; } = 2048;
}
