namespace PimQuant.Quant.Formats;

/// <summary>
/// One term ±2^<see cref="Exponent"/> of a level written as a sum of signed powers of two. Every
/// format's levels are such sums (IVQ puts bits of equal magnitude 2^k on one bitline, so each
/// bitline needs a single shift amount).
/// </summary>
/// <param name="Sign">+1 or −1.</param>
/// <param name="Exponent">The power of two; negative for fractional terms.</param>
public readonly record struct PowerOfTwoTerm(int Sign, int Exponent)
{
    /// <summary>The term's value, Sign·2^Exponent (exact in double for the exponents formats use).</summary>
    public double Value => Sign * Math.ScaleB(1.0, Exponent);

    /// <inheritdoc/>
    public override string ToString() => $"{(Sign < 0 ? "-" : "+")}2^{Exponent}";
}
