using PimQuant.Quant.Formats;
using static TorchSharp.torch;

namespace PimQuant.Quant.Statistics;

/// <summary>
/// Bit statistics of the activation codes a layer streams, accumulated over the batches it sees:
/// how many codes are zero, how many bits they need, and how many of their digits are zero. A code
/// is streamed as <see cref="Bits"/>-bit pattern (signed codes in two's complement) cut into
/// digits of <see cref="DigitBits"/> bits (the DAC resolution), least significant first; a zero
/// digit needs no crossbar read.
/// </summary>
public sealed class ActivationStatistics
{
    private long _elements, _zeroCodes, _zeroDigits, _bitsUsed;
    private int _maxBits;

    /// <summary>Statistics of codes of <paramref name="format"/> cut into <paramref name="digitBits"/>-bit digits.</summary>
    public ActivationStatistics(NumberFormat format, int digitBits = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(digitBits, 1);
        Format = format;
        DigitBits = digitBits;
    }

    /// <summary>The codes' format.</summary>
    public NumberFormat Format { get; }

    /// <summary>Bits of a streamed code.</summary>
    public int Bits => Format.Bits;

    /// <summary>Bits per streamed digit.</summary>
    public int DigitBits { get; }

    /// <summary>Digits per code, ceil(bits/digit bits).</summary>
    public int DigitsPerCode => (Bits + DigitBits - 1) / DigitBits;

    /// <summary>Codes seen.</summary>
    public long Elements => _elements;

    /// <summary>Fraction of codes that are zero.</summary>
    public double ZeroCodeFraction => _elements == 0 ? 0 : (double)_zeroCodes / _elements;

    /// <summary>Fraction of digits that are zero (digit sparsity).</summary>
    public double ZeroDigitFraction => _elements == 0 ? 0 : (double)_zeroDigits / (_elements * DigitsPerCode);

    /// <summary>Mean over codes of the bits a code needs: its pattern's bit length (0 for a zero code).</summary>
    public double MeanBitsUsed => _elements == 0 ? 0 : (double)_bitsUsed / _elements;

    /// <summary>The largest bit length of any code seen.</summary>
    public int MaxBitsUsed => _maxBits;

    /// <summary>Adds a batch of codes (any shape, integer values).</summary>
    public void Add(Tensor codes)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var pattern = codes.to_type(ScalarType.Int64).bitwise_and(tensor((1L << Bits) - 1));
        _elements += pattern.numel();
        _zeroCodes += pattern.eq(0).sum().item<long>();
        long digitMask = (1L << DigitBits) - 1;
        for (int t = 0; t < DigitsPerCode; t++)
            _zeroDigits += pattern.bitwise_right_shift(tensor((long)(DigitBits * t))).bitwise_and(tensor(digitMask)).eq(0).sum().item<long>();
        var length = zeros_like(pattern);
        for (int bit = 0; bit < Bits; bit++)
            length += pattern.bitwise_right_shift(tensor((long)bit)).ne(0).to_type(ScalarType.Int64);
        _bitsUsed += length.sum().item<long>();
        _maxBits = Math.Max(_maxBits, (int)length.max().item<long>());
    }
}
