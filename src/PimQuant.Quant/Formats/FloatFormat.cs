namespace PimQuant.Quant.Formats;

/// <summary>
/// Low-bit floating point with E exponent bits, M mantissa bits and a bias, every pattern finite
/// (no infinities or NaN, as low-bit float quantization usually assumes): for exponent field e and
/// mantissa field f, the magnitude is (2^M + f)·2^(e − bias − M) when e ≥ 1 and f·2^(1 − bias − M)
/// (subnormal) when e = 0. Code = sign·2^(b−1) + e·2^M + f, b = s + E + M.
/// </summary>
/// <param name="ExponentBits">E ≥ 1.</param>
/// <param name="MantissaBits">M ≥ 0.</param>
/// <param name="Signed">Whether a sign bit is spent.</param>
/// <param name="Bias">Exponent bias; null means the IEEE-style 2^(E−1) − 1.</param>
public sealed record FloatFormat(int ExponentBits, int MantissaBits, bool Signed = true, int? Bias = null) : NumberFormat
{
    /// <inheritdoc/>
    public override int Bits => (Signed ? 1 : 0) + ExponentBits + MantissaBits;

    /// <inheritdoc/>
    public override bool Signed { get; } = Signed;

    /// <inheritdoc/>
    public override FormatKind Kind => FormatKind.Float;

    /// <inheritdoc/>
    public override string Name => $"{(Signed ? "" : "u")}fp{Bits}e{ExponentBits}m{MantissaBits}{(Bias is { } b ? $"b{b}" : "")}";

    /// <summary>The bias in effect.</summary>
    public int EffectiveBias => Bias ?? (1 << (ExponentBits - 1)) - 1;

    private int MagnitudeBits => ExponentBits + MantissaBits;

    private (long significand, int shift) Parts(long magnitudeCode)
    {
        long e = magnitudeCode >> MantissaBits, f = magnitudeCode & ((1L << MantissaBits) - 1);
        return e == 0 ? (f, 1 - EffectiveBias - MantissaBits) : ((1L << MantissaBits) + f, (int)e - EffectiveBias - MantissaBits);
    }

    private double MagnitudeOf(long magnitudeCode)
    {
        var (significand, shift) = Parts(magnitudeCode);
        return Math.ScaleB(significand, shift);
    }

    /// <inheritdoc/>
    public override double MaxLevel => MagnitudeOf((1L << MagnitudeBits) - 1);

    /// <inheritdoc/>
    public override double MinLevel => Signed ? -MaxLevel : 0.0;

    /// <inheritdoc/>
    public override double[] Levels()
    {
        var magnitudes = new double[1L << MagnitudeBits];
        for (long c = 0; c < magnitudes.Length; c++) magnitudes[c] = MagnitudeOf(c); // ascending by construction
        return Signed ? [.. magnitudes.Skip(1).Select(v => -v).Reverse(), .. magnitudes] : magnitudes;
    }

    /// <inheritdoc/>
    public override double LevelOf(long code)
    {
        if (code < 0 || code >= 1L << Bits) throw NotACode(code);
        double magnitude = MagnitudeOf(code & ((1L << MagnitudeBits) - 1));
        return Signed && (code >> MagnitudeBits) != 0 ? -magnitude : magnitude;
    }

    /// <inheritdoc/>
    public override long CodeOf(double level)
    {
        if (level < 0 && !Signed) throw NotALevel(level);
        double magnitude = Math.Abs(level);
        // Magnitudes increase with the code, so a binary search finds the code of an exact level.
        long lo = 0, hi = (1L << MagnitudeBits) - 1;
        while (lo < hi)
        {
            long mid = (lo + hi) / 2;
            if (MagnitudeOf(mid) < magnitude) lo = mid + 1; else hi = mid;
        }
        if (MagnitudeOf(lo) != magnitude) throw NotALevel(level);
        return level < 0 ? lo | 1L << MagnitudeBits : lo;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<PowerOfTwoTerm> Terms(double level)
    {
        long code = CodeOf(level);
        var (significand, shift) = Parts(code & ((1L << MagnitudeBits) - 1));
        return BinaryTerms(level < 0 ? -1 : 1, significand, shift);
    }

    /// <inheritdoc/>
    public override NumberFormat WithBits(int bits) => new FloatFormat(ExponentBits, bits - ExponentBits - (Signed ? 1 : 0), Signed, Bias);

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Problem)> Problems()
    {
        if (ExponentBits is < 1 or > 8)
            yield return ("exponent_bits", $"{ExponentBits} is not allowed (1..8)");
        else if (MantissaBits is < 0 or > 10)
            yield return ("mantissa_bits", $"{MantissaBits} is not allowed (0..10)");
        else if (Bits is < 2 or > 16)
            yield return ("bits", $"sign + exponent + mantissa = {Bits} bits is not allowed (2..16)");
        else if (MaxLevel > float.MaxValue || MagnitudeOf(1) < Math.ScaleB(1.0, -149))
            yield return ("bias", $"{EffectiveBias} puts levels outside float32 (largest {MaxLevel:G3}, smallest non-zero {MagnitudeOf(1):G3})");
    }
}
