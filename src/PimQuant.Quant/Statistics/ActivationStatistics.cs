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
    /// <remarks>
    /// Each digit and bit position is counted in its own dispose scope: a batch's codes are the size of a
    /// layer's activation, and keeping the ~3 temporaries of each of up to 16 positions alive together
    /// (as one scope would) took gigabytes per layer on resnet20 batches of 256.
    /// </remarks>
    public void Add(Tensor codes)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // Codes have at most 16 bits, so 32-bit integers hold every pattern at half int64's memory.
        var pattern = codes.to_type(ScalarType.Int32).bitwise_and_(tensor((1 << Bits) - 1, ScalarType.Int32));
        _elements += pattern.numel();
        _zeroCodes += pattern.eq(0).sum().item<long>();
        int digitMask = (1 << DigitBits) - 1;
        for (int t = 0; t < DigitsPerCode; t++)
        {
            using var digitScope = NewDisposeScope();
            _zeroDigits += pattern.bitwise_right_shift(tensor(DigitBits * t, ScalarType.Int32)).bitwise_and_(tensor(digitMask, ScalarType.Int32))
                .eq(0).sum().item<long>();
        }
        // A code's bit length is the number of positions at or below its highest set bit: Σ_bit [code >> bit ≠ 0].
        var length = zeros_like(pattern, ScalarType.Int8);
        for (int bit = 0; bit < Bits; bit++)
        {
            using var bitScope = NewDisposeScope();
            length.add_(pattern.bitwise_right_shift(tensor(bit, ScalarType.Int32)).ne(0));
        }
        _bitsUsed += length.sum(ScalarType.Int64).item<long>();
        _maxBits = Math.Max(_maxBits, (int)length.max().item<sbyte>());
    }
}
