using PimQuant.Quant.Formats;
using static TorchSharp.torch;

namespace PimQuant.Quant.Quantizers;

/// <summary>
/// The integer view of a quantized activation: codes and the parameters that turn them back into
/// values, value = scale·(code − zero point) for integer formats and scale·level(code) otherwise.
/// Unsigned formats give codes in 0..2^b−1 (ReLU outputs); signed formats give signed codes, which a
/// crossbar streams in two's complement (<see cref="TwosComplement"/>: the top digit carries weight
/// −2^(b−1)). Tensors belong to the caller's dispose scope.
/// </summary>
/// <param name="Format">The number format.</param>
/// <param name="Codes">Int32 codes. Static granularity: the activation's shape. Dynamic groups: the
/// im2col vectors, (N, convolution groups, K, L).</param>
/// <param name="Scale">Float32 scale broadcastable to the codes. Static: a scalar (tensor) or
/// (1, C, 1, 1)/(1, C) (channel). Dynamic: (N, convolution groups, ceil(K/size), L); element k of a
/// vector belongs to group k / size.</param>
/// <param name="ZeroPoint">Int32 zero point broadcastable like <paramref name="Scale"/>, or null when symmetric.</param>
/// <param name="GroupSize">Dynamic groups: elements per group along K; 0 for static granularity.</param>
public sealed record IntegerActivations(NumberFormat Format, Tensor Codes, Tensor Scale, Tensor? ZeroPoint, int GroupSize)
{
    /// <summary>
    /// Two's complement bit patterns of signed integer codes with <paramref name="bits"/> bits:
    /// code mod 2^bits, so a = −2^(b−1)·bit_(b−1) + Σ_(t&lt;b−1) 2^t·bit_t.
    /// </summary>
    public static Tensor TwosComplement(Tensor codes, int bits) => codes.bitwise_and(tensor((1 << bits) - 1));
}
