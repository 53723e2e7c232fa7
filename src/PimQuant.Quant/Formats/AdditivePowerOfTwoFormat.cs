namespace PimQuant.Quant.Formats;

/// <summary>
/// Additive powers-of-two (APoT, Li, Dong and Wang, ICLR 2020): the m = b − s magnitude bits are
/// n fields of k = m/n bits; field i (i = 0..n−1) holds j = 0..2^k−1 and contributes
/// p_i = 0 for j = 0, else 2^−(i + (j−1)·n). A level is ±Σ_i p_i, so the levels are the paper's
/// {Σ p_i} without its normalising γ, which the scale absorbs: the largest level is 2 − 2^(1−n).
/// The exponents of different fields never coincide, so each level has one code, and every level
/// is exactly a sum of at most n signed powers of two. Code = sign·2^(b−1) + Σ_i j_i·2^(i·k).
/// </summary>
/// <param name="Bits">Total bits, 2..16 (sign included).</param>
/// <param name="Signed">Whether a sign bit is spent.</param>
/// <param name="AdditiveTerms">n, the number of power-of-two terms; must divide the magnitude bits.</param>
public sealed record AdditivePowerOfTwoFormat(int Bits, bool Signed, int AdditiveTerms = 2) : NumberFormat
{
    /// <inheritdoc/>
    public override int Bits { get; } = Bits;

    /// <inheritdoc/>
    public override bool Signed { get; } = Signed;

    /// <inheritdoc/>
    public override FormatKind Kind => FormatKind.AdditivePowerOfTwo;

    /// <inheritdoc/>
    public override string Name => $"{(Signed ? "" : "u")}apot{Bits}n{AdditiveTerms}";

    private int MagnitudeBits => Bits - (Signed ? 1 : 0);

    /// <summary>k, bits per field.</summary>
    public int FieldBits => MagnitudeBits / AdditiveTerms;

    /// <summary>The deepest exponent, −((n−1) + (2^k−2)·n).</summary>
    public int MinExponent => -((AdditiveTerms - 1) + ((1 << FieldBits) - 2) * AdditiveTerms);

    /// <inheritdoc/>
    public override double MaxLevel => 2.0 - Math.ScaleB(1.0, 1 - AdditiveTerms);

    /// <inheritdoc/>
    public override double MinLevel => Signed ? -MaxLevel : 0.0;

    private double MagnitudeOf(long magnitudeCode)
    {
        double sum = 0;
        for (int i = 0; i < AdditiveTerms; i++)
        {
            long j = magnitudeCode >> (i * FieldBits) & ((1L << FieldBits) - 1);
            if (j != 0) sum += Math.ScaleB(1.0, -(i + (int)(j - 1) * AdditiveTerms));
        }
        return sum;
    }

    /// <inheritdoc/>
    public override double[] Levels()
    {
        var magnitudes = new SortedSet<double>();
        for (long c = 0; c < 1L << MagnitudeBits; c++) magnitudes.Add(MagnitudeOf(c));
        return Signed ? [.. magnitudes.Skip(1).Select(v => -v).Reverse(), .. magnitudes] : [.. magnitudes];
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
        long code = 0;
        foreach (var term in TermsOf(level))
        {
            int depth = -term.Exponent, field = depth % AdditiveTerms;
            code |= (long)((depth - field) / AdditiveTerms + 1) << (field * FieldBits);
        }
        return level < 0 ? code | 1L << MagnitudeBits : code;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<PowerOfTwoTerm> Terms(double level) => TermsOf(level);

    /// <summary>The binary digits of |level|, checked to form one term per field within its range.</summary>
    private List<PowerOfTwoTerm> TermsOf(double level)
    {
        double magnitude = Math.Abs(level);
        if (!(magnitude <= MaxLevel)) throw NotALevel(level);
        var terms = new List<PowerOfTwoTerm>();
        var fieldUsed = new bool[AdditiveTerms];
        double rest = magnitude;
        while (rest > 0)
        {
            int e = Math.ILogB(rest);
            int depth = -e;
            if (e > 0 || e < MinExponent || fieldUsed[depth % AdditiveTerms]) throw NotALevel(level);
            fieldUsed[depth % AdditiveTerms] = true;
            terms.Add(new PowerOfTwoTerm(level < 0 ? -1 : 1, e));
            rest -= Math.ScaleB(1.0, e);
        }
        return terms;
    }

    /// <inheritdoc/>
    public override NumberFormat WithBits(int bits) => new AdditivePowerOfTwoFormat(bits, Signed, AdditiveTerms);

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Problem)> Problems()
    {
        if (Bits is < 2 or > 16)
        {
            yield return ("bits", $"{Bits} is not allowed for APoT (2..16)");
            yield break;
        }
        if (MagnitudeBits < 1)
        {
            yield return ("bits", "a signed APoT format needs at least 2 bits");
            yield break;
        }
        var divisors = Enumerable.Range(1, MagnitudeBits).Where(n => MagnitudeBits % n == 0).ToArray();
        if (AdditiveTerms < 1 || MagnitudeBits % AdditiveTerms != 0)
        {
            yield return ("terms", $"{AdditiveTerms} does not divide the {MagnitudeBits} magnitude bits (allowed: {string.Join(", ", divisors)})");
            yield break;
        }
        // Levels span 2^0 .. 2^MinExponent; float32 holds such sums exactly only within 24 bits.
        if (MinExponent < -23)
            yield return ("terms", $"{AdditiveTerms} terms of {FieldBits} bits reach 2^{MinExponent}; sums spanning more than 24 bits are not exact in float32 (use more terms: {string.Join(", ", divisors.Where(n => n > AdditiveTerms))})");
    }
}
