namespace PimQuant.Quant.Formats;

/// <summary>
/// Uniform integers: levels are the integers <see cref="QMin"/>..<see cref="QMax"/> and the code of a
/// level is the level itself. Signed full range is two's complement [−2^(b−1), 2^(b−1)−1]; narrow
/// range drops the most negative value, [−(2^(b−1)−1), 2^(b−1)−1], so the range is symmetric and
/// every magnitude fits b−1 bits (what sign-magnitude slicing on a crossbar needs). Unsigned is
/// [0, 2^b−1], narrow [0, 2^b−2] (Brevitas' convention).
/// </summary>
/// <param name="Bits">Bit-width, 1 to 16 (signed needs at least 2).</param>
/// <param name="Signed">Whether negative values exist.</param>
/// <param name="NarrowRange">Drop the extreme code (see above).</param>
public sealed record IntegerFormat(int Bits, bool Signed, bool NarrowRange = false) : NumberFormat
{
    /// <summary>Smallest and largest bit-width accepted.</summary>
    public const int MinBits = 1, MaxBits = 16;

    /// <inheritdoc/>
    public override int Bits { get; } = Bits;

    /// <inheritdoc/>
    public override bool Signed { get; } = Signed;

    /// <inheritdoc/>
    public override FormatKind Kind => FormatKind.Integer;

    /// <inheritdoc/>
    public override string Name => $"{(Signed ? "int" : "uint")}{Bits}{(NarrowRange ? "n" : "")}";

    /// <summary>The smallest integer.</summary>
    public long QMin => Signed ? -(1L << (Bits - 1)) + (NarrowRange ? 1 : 0) : 0;

    /// <summary>The largest integer.</summary>
    public long QMax => Signed ? (1L << (Bits - 1)) - 1 : (1L << Bits) - 1 - (NarrowRange ? 1 : 0);

    /// <inheritdoc/>
    public override double MaxLevel => QMax;

    /// <inheritdoc/>
    public override double MinLevel => QMin;

    /// <inheritdoc/>
    public override double[] Levels()
    {
        var levels = new double[QMax - QMin + 1];
        for (long q = QMin; q <= QMax; q++) levels[q - QMin] = q;
        return levels;
    }

    /// <inheritdoc/>
    public override double LevelOf(long code) => code >= QMin && code <= QMax ? code : throw NotACode(code);

    /// <inheritdoc/>
    public override long CodeOf(double level) =>
        level == Math.Floor(level) && level >= QMin && level <= QMax ? (long)level : throw NotALevel(level);

    /// <inheritdoc/>
    public override IReadOnlyList<PowerOfTwoTerm> Terms(double level)
    {
        long q = CodeOf(level);
        return BinaryTerms(Math.Sign(q), Math.Abs(q), 0);
    }

    /// <inheritdoc/>
    public override NumberFormat WithBits(int bits) => new IntegerFormat(bits, Signed, NarrowRange);

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Problem)> Problems()
    {
        if (Bits is < MinBits or > MaxBits)
            yield return ("bits", $"{Bits} is not allowed ({MinBits}..{MaxBits})");
        else if (Signed && Bits < 2)
            yield return ("bits", "a signed integer needs at least 2 bits (2..16)");
        else if (NarrowRange && !Signed && Bits < 2)
            yield return ("narrow_range", "an unsigned narrow-range integer needs at least 2 bits");
    }
}
