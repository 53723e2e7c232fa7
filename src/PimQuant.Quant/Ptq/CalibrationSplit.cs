namespace PimQuant.Quant.Ptq;

/// <summary>The seeded choice of calibration images from a training split.</summary>
public static class CalibrationSplit
{
    /// <summary>The number of calibration images PimQuant uses by default.</summary>
    public const int DefaultCount = 1024;

    /// <summary>
    /// <paramref name="count"/> distinct indices below <paramref name="available"/>, ascending: the first
    /// <paramref name="count"/> positions of a Fisher–Yates shuffle driven by SplitMix64 seeded with
    /// <paramref name="seed"/>. A pure function of its arguments.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not in 1..<paramref name="available"/>.</exception>
    public static int[] Choose(int available, int count, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, available);
        var indices = new int[available];
        for (int i = 0; i < available; i++) indices[i] = i;
        ulong state = unchecked((ulong)seed);
        for (int i = 0; i < count; i++)
        {
            int j = i + (int)(Next(ref state) % (ulong)(available - i));
            (indices[i], indices[j]) = (indices[j], indices[i]);
        }
        var chosen = indices[..count];
        Array.Sort(chosen);
        return chosen;
    }

    /// <summary>SplitMix64 (Steele, Lea and Flood 2014).</summary>
    private static ulong Next(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
