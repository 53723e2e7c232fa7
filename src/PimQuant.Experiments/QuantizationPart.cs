using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using static TorchSharp.torch;

namespace PimQuant.Experiments;

/// <summary>
/// A change a method makes to the quantized model before it is programmed (CIMQ's array-wise weight scales, QDrop's
/// reconstruction, bit-sparse activation scales): the config it quantizes with, the post-training quantization it
/// calibrates with, and an adjustment of the calibrated model. Each member defaults to leaving things as they are.
/// A part's <see cref="object.ToString"/> says all its values (a record's does; a stateless class's type name does):
/// a comparison shares one quantized model between schemes whose parts print alike.
/// </summary>
public interface IQuantizationPart
{
    /// <summary>The config to quantize with instead of <paramref name="config"/>, for crossbars of <paramref name="spec"/>.</summary>
    /// <exception cref="ExperimentException">The config cannot take the change, with the reason.</exception>
    QuantConfig Configure(QuantConfig config, HardwareSpec spec) => config;

    /// <summary>The post-training quantization options to calibrate with instead of <paramref name="options"/>.</summary>
    PtqOptions Calibration(PtqOptions options) => options;

    /// <summary>Adjusts the calibrated <paramref name="model"/> on the normalised <paramref name="calibration"/> images.</summary>
    void Adjust(QuantizedModel model, Tensor calibration, HardwareSpec spec, IExperimentProgress progress, CancellationToken cancel) { }
}
