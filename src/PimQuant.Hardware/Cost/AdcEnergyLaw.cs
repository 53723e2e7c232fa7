namespace PimQuant.Hardware.Cost;

/// <summary>
/// ADC energy per conversion at any resolution from 1 to 16 bits, from a table published for
/// some resolutions (ISAAC's 4–10-bit figures): a listed resolution costs its entry; one between
/// two entries the geometric interpolation of its neighbours; below the table the energy halves
/// per bit removed (a constant Walden figure of merit, P / (f_s · 2^ENOB), the low-resolution
/// regime of the ADC survey literature: Murmann, "ADC Performance Survey 1997–2024"); above it
/// the energy quadruples per bit added (the thermal-noise-limited regime, a constant Schreier
/// figure of merit: 6 dB more SNR costs 4× the energy). docs/hardware.md §5 has the numbers.
/// </summary>
public static class AdcEnergyLaw
{
    /// <summary>Lowest resolution priced.</summary>
    public const int MinBits = 1;

    /// <summary>Highest resolution priced.</summary>
    public const int MaxBits = 16;

    /// <summary>Energy factor per bit below the table (Walden regime).</summary>
    public const double PerBitBelow = 2;

    /// <summary>Energy factor per bit above the table (thermal-noise regime).</summary>
    public const double PerBitAbove = 4;

    /// <summary>Energy in pJ of one conversion at <paramref name="bits"/> from <paramref name="table"/> (resolution → pJ, at least one entry).</summary>
    public static double EnergyPj(IReadOnlyDictionary<int, double> table, int bits)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Count == 0) throw new ArgumentException("the table has no entry", nameof(table));
        ArgumentOutOfRangeException.ThrowIfLessThan(bits, MinBits);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, MaxBits);
        if (table.TryGetValue(bits, out double exact)) return exact;
        int lo = table.Keys.Where(b => b < bits).DefaultIfEmpty(0).Max();
        int hi = table.Keys.Where(b => b > bits).DefaultIfEmpty(0).Min();
        if (lo == 0) return table[hi] * Math.Pow(PerBitBelow, bits - hi);
        if (hi == 0) return table[lo] * Math.Pow(PerBitAbove, bits - lo);
        return table[lo] * Math.Pow(table[hi] / table[lo], (double)(bits - lo) / (hi - lo));
    }
}
