using PimQuant.Quant.Granularity;
using static TorchSharp.torch;

namespace PimQuant.Quant.Quantizers;

/// <summary>
/// Integer-only inference adds the bias to the integer accumulator Σ w·a, whose scale is s_x·s_w
/// (activation scale times the output channel's weight scale); so the bias is stored as an int32
/// level round(b / (s_x·s_w)) and the layer computes with b_q = level·s_x·s_w (Jacob et al. 2018;
/// ONNX QDQ models carry it as an int32 tensor with a DequantizeLinear). This applies when the
/// accumulator has one scale per output channel: a static per-tensor activation scale and per-tensor
/// or per-channel weight scales. With array or OU-block weight scales, per-channel or dynamic
/// activation scales, or an unquantized operand, partial sums have different scales and the bias stays float32.
/// </summary>
public static class BiasQuantization
{
    /// <summary>Whether a layer with these quantizers quantizes its bias.</summary>
    public static bool Applies(QuantizerSpec? weight, QuantizerSpec? activation) =>
        weight is { Granularity: ScaleGranularity.PerTensor or ScaleGranularity.PerChannel }
        && activation is { Granularity: ScaleGranularity.PerTensor };

    /// <summary>
    /// The bias scale s_x·s_w (float32; per output channel, or a scalar) and the int32 levels
    /// round(b / (s_x·s_w)), rounding half to even; scales are taken as constants.
    /// </summary>
    /// <param name="bias">The bias, (Cout).</param>
    /// <param name="activationScale">The input's scale (one element).</param>
    /// <param name="weightScale">The weight's scales: one, or one per output channel.</param>
    public static (Tensor Levels, Tensor Scale) Levels(Tensor bias, Tensor activationScale, Tensor weightScale)
    {
        var scale = activationScale.detach().reshape([]) * weightScale.detach().reshape(-1);
        if (scale.numel() == 1) scale = scale.reshape([]);
        var levels = (bias.detach() / scale.reshape(scale.numel() == 1 ? [] : bias.shape)).round().clamp(int.MinValue, int.MaxValue);
        return (levels.to_type(ScalarType.Int32), scale);
    }

    /// <summary>b_q = level·s_x·s_w, with the gradient passed straight through to b.</summary>
    public static Tensor FakeQuantize(Tensor bias, Tensor activationScale, Tensor weightScale)
    {
        var (levels, scale) = Levels(bias, activationScale, weightScale);
        var quantized = levels.to_type(bias.dtype) * scale.reshape(scale.numel() == 1 ? [] : bias.shape);
        return quantized.detach() + (bias - bias.detach());
    }
}
