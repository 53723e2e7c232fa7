namespace PimQuant.Quant.Formats;

/// <summary>
/// Zero and powers of two (logarithmic quantization, Miyashita et al. 2016): the magnitude field of
/// m = b − s bits (s = 1 when signed) encodes 0 as 0 and 2^−(k−1) as k = 1..2^m−1, so the levels are
/// {0} ∪ {±2^0, ±2^−1, …, ±2^−(2^m−2)} and the largest is 1 (the scale is the clipping value).
/// Code = sign·2^(b−1) + k when signed (the pattern with sign set and k = 0 also reads as 0).
/// </summary>
/// <param name="Bits">Bit-width: 2..8 signed, 1..7 unsigned (the smallest level, 2^−126 at most, stays a float32 normal).</param>
/// <param name="Signed">Whether a sign bit is spent.</param>
public sealed record PowerOfTwoFormat(int Bits, bool Signed) : NumberFormat
{
    /// <inheritdoc/>
    public override int Bits { get; } = Bits;

    /// <inheritdoc/>
    public override bool Signed { get; } = Signed;

    /// <inheritdoc/>
    public override FormatKind Kind => FormatKind.PowerOfTwo;

    /// <inheritdoc/>
    public override string Name => $"{(Signed ? "" : "u")}pot{Bits}";

    private int MagnitudeBits => Bits - (Signed ? 1 : 0);

    /// <summary>The most negative exponent, −(2^m − 2).</summary>
    public int MinExponent => -((1 << MagnitudeBits) - 2);

    /// <inheritdoc/>
    public override double MaxLevel => 1.0;

    /// <inheritdoc/>
    public override double MinLevel => Signed ? -1.0 : 0.0;

    /// <inheritdoc/>
    public override double[] Levels()
    {
        var magnitudes = new List<double> { 0 };
        for (int e = MinExponent; e <= 0; e++) magnitudes.Add(Math.ScaleB(1.0, e));
        return Signed ? [.. magnitudes.Skip(1).Select(v => -v).Reverse(), .. magnitudes] : [.. magnitudes];
    }

    /// <inheritdoc/>
    public override double LevelOf(long code)
    {
        if (code < 0 || code >= 1L << Bits) throw NotACode(code);
        long k = code & ((1L << MagnitudeBits) - 1);
        int sign = Signed && (code >> MagnitudeBits) != 0 ? -1 : 1;
        return k == 0 ? 0.0 : sign * Math.ScaleB(1.0, -(int)(k - 1));
    }

    /// <inheritdoc/>
    public override long CodeOf(double level)
    {
        if (level == 0) return 0;
        if (level < 0 && !Signed) throw NotALevel(level);
        double magnitude = Math.Abs(level);
        int e = Math.ILogB(magnitude);
        if (Math.ScaleB(1.0, e) != magnitude || e > 0 || e < MinExponent) throw NotALevel(level);
        return (level < 0 ? 1L << MagnitudeBits : 0) | (long)(1 - e);
    }

    /// <inheritdoc/>
    public override IReadOnlyList<PowerOfTwoTerm> Terms(double level)
    {
        CodeOf(level);
        return level == 0 ? [] : [new PowerOfTwoTerm(Math.Sign(level), Math.ILogB(Math.Abs(level)))];
    }

    /// <inheritdoc/>
    public override NumberFormat WithBits(int bits) => new PowerOfTwoFormat(bits, Signed);

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Problem)> Problems()
    {
        if (Signed && Bits is < 2 or > 8)
            yield return ("bits", $"{Bits} is not allowed for signed power-of-two (2..8)");
        else if (!Signed && Bits is < 1 or > 7)
            yield return ("bits", $"{Bits} is not allowed for unsigned power-of-two (1..7)");
    }
}
