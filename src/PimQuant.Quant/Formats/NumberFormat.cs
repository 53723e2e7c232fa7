namespace PimQuant.Quant.Formats;

/// <summary>The families of number formats a quantizer can round to.</summary>
public enum FormatKind
{
    /// <summary>Uniform integers (<see cref="IntegerFormat"/>).</summary>
    Integer,
    /// <summary>Zero and signed powers of two (<see cref="PowerOfTwoFormat"/>).</summary>
    PowerOfTwo,
    /// <summary>Sums of powers of two from interleaved sets (<see cref="AdditivePowerOfTwoFormat"/>).</summary>
    AdditivePowerOfTwo,
    /// <summary>Low-bit floating point without infinities or NaN (<see cref="FloatFormat"/>).</summary>
    Float,
}

/// <summary>
/// A finite set of representable values, the <em>levels</em>, in code units: a quantized value is
/// <c>scale · level</c>. Levels are exact sums of signed powers of two (see <see cref="Terms"/>), so
/// the scale alone carries every non-power-of-two factor. Each level has a <em>code</em>, the bit
/// pattern a memory cell or register holds: for <see cref="IntegerFormat"/> the code is the integer
/// itself; for the other formats an unsigned pattern whose top bit is the sign when the format is
/// signed (<see cref="LevelOf"/>, <see cref="CodeOf"/>).
/// </summary>
/// <remarks>Formats are immutable value records; construct them through the derived types and check
/// <see cref="Problems"/> (or call <see cref="Validated"/>) before use.</remarks>
public abstract record NumberFormat
{
    /// <summary>Total bits of a code, sign included.</summary>
    public abstract int Bits { get; }

    /// <summary>Whether negative levels exist.</summary>
    public abstract bool Signed { get; }

    /// <summary>The family.</summary>
    public abstract FormatKind Kind { get; }

    /// <summary>A short name such as <c>int8</c>, <c>uint4</c>, <c>pot4</c>, <c>apot5n2</c>, <c>fp8e4m3</c>.</summary>
    public abstract string Name { get; }

    /// <summary>True when the levels are the consecutive integers <see cref="MinLevel"/>..<see cref="MaxLevel"/>.</summary>
    public bool IsUniform => Kind == FormatKind.Integer;

    /// <summary>The largest level (positive).</summary>
    public abstract double MaxLevel { get; }

    /// <summary>The smallest level: 0 for unsigned formats, negative otherwise.</summary>
    public abstract double MinLevel { get; }

    /// <summary>All levels, ascending, without duplicates, 0 included. Computed on each call.</summary>
    public abstract double[] Levels();

    /// <summary>The level a code stands for.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The code is not a code of this format.</exception>
    public abstract double LevelOf(long code);

    /// <summary>The code of a level (the canonical one: +0 for zero).</summary>
    /// <exception cref="ArgumentException"><paramref name="level"/> is not a level of this format.</exception>
    public abstract long CodeOf(double level);

    /// <summary>
    /// <paramref name="level"/> as a sum of signed powers of two, largest magnitude first; empty for 0.
    /// Integers use their binary magnitude (sign-magnitude, as crossbar slicing stores them); floats
    /// their implicit one and set mantissa bits; power-of-two formats one term per non-zero field.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="level"/> is not a level of this format.</exception>
    public abstract IReadOnlyList<PowerOfTwoTerm> Terms(double level);

    /// <summary>What is wrong with the parameters, as (field, problem) pairs; empty when valid.</summary>
    public abstract IEnumerable<(string Field, string Problem)> Problems();

    /// <summary>
    /// The same family, sign and options with <paramref name="bits"/> bits (a weight group's precision,
    /// <see cref="Granularity.WeightPrecision"/>); floats keep their exponent bits and give the rest to
    /// the mantissa. Not validated: check <see cref="Problems"/>.
    /// </summary>
    public abstract NumberFormat WithBits(int bits);

    /// <summary>This format, or an <see cref="ArgumentException"/> naming the first problem.</summary>
    public NumberFormat Validated()
    {
        foreach (var (field, problem) in Problems())
            throw new ArgumentException($"{Name}: {field}: {problem}", field);
        return this;
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>Sign-magnitude decomposition of <paramref name="magnitude"/>·2^<paramref name="shift"/>, highest bit first.</summary>
    private protected static List<PowerOfTwoTerm> BinaryTerms(int sign, long magnitude, int shift)
    {
        var terms = new List<PowerOfTwoTerm>();
        for (int bit = 62; bit >= 0; bit--)
            if ((magnitude >> bit & 1) != 0) terms.Add(new PowerOfTwoTerm(sign, bit + shift));
        return terms;
    }

    private protected ArgumentException NotALevel(double level) =>
        new($"{level:R} is not a level of {Name}", nameof(level));

    private protected ArgumentOutOfRangeException NotACode(long code) =>
        new(nameof(code), code, $"not a code of {Name}");
}
