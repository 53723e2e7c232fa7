using System.Runtime.Intrinsics;

namespace PimQuant.Sim;

/// <summary>What a random draw is for; part of its key, so draws for different purposes never coincide.</summary>
public enum RandomPurpose : ulong
{
    /// <summary>Stuck-at fault of a cell.</summary>
    Fault = 1,
    /// <summary>Programming variation of a cell.</summary>
    Variation = 2,
    /// <summary>Read noise of one partial sum.</summary>
    ReadNoise = 3,
}

/// <summary>Counter-based randomness: every draw is a pure function of its key (seed, layer, purpose,
/// and the indices of what it perturbs), so results never depend on thread scheduling, batching or
/// evaluation order. Keys are hashed field by field with the SplitMix64 finaliser.
/// Cell keys: (row, physical column) with the physical column numbered layout-independently as
/// (j·polarities + polarity)·slices + slice. Read-noise keys: (pixel, OU row group, digit, physical column).</summary>
public static class SimRandom
{
    private const ulong Gamma = 0x9E3779B97F4A7C15;

    /// <summary>The SplitMix64 finaliser, a bijection on 64 bits.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    /// <summary>A stable 64-bit identity of a layer name (FNV-1a over UTF-16 code units, then mixed).</summary>
    public static ulong LayerKey(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ulong h = 0xCBF29CE484222325;
        foreach (char ch in name) h = (h ^ ch) * 0x100000001B3;
        return Mix(h);
    }

    /// <summary>The key of a cell draw.</summary>
    public static ulong CellKey(ulong seed, ulong layer, RandomPurpose purpose, long row, long physicalColumn)
        => Mix(Mix(Mix(Mix(seed + Gamma) ^ layer) ^ (ulong)purpose) ^ (ulong)row) ^ (ulong)physicalColumn * Gamma;

    /// <summary>The stream key of one read (pixel, OU row group, digit) of a layer; combine with the
    /// physical column through <see cref="ColumnKey"/>.</summary>
    public static ulong ReadKey(ulong seed, ulong layer, long pixel, int rowGroup, int digit)
        => Mix(Mix(Mix(Mix(Mix(seed + Gamma) ^ layer) ^ (ulong)RandomPurpose.ReadNoise) ^ (ulong)pixel) ^ (ulong)rowGroup) ^ (ulong)digit * Gamma;

    /// <summary>The key of one physical column within a read.</summary>
    public static ulong ColumnKey(ulong readKey, long physicalColumn) => Mix(readKey ^ (ulong)physicalColumn);

    /// <summary>Uniform in [0, 1) from the top 53 bits of a mixed key.</summary>
    public static double Uniform(ulong key) => (Mix(key) >> 11) * (1.0 / (1UL << 53));

    /// <summary>A standard normal draw: Box–Muller on two uniforms derived from the key, with the
    /// logarithm and cosine evaluated by fixed polynomials in +, −, ×, ÷ and √ only, so that the scalar
    /// and vector forms (<see cref="Normal(Vector512{ulong})"/>) give the same bits on every machine.</summary>
    public static double Normal(ulong key)
    {
        ulong h1 = Mix(key ^ 0xD1B54A32D192ED03);
        ulong h2 = Mix(key ^ 0x8CB92BA72F3D8DD7);
        double u1 = ((h1 >> 11) + 1) * (1.0 / (1UL << 53)); // (0, 1]: the logarithm stays finite
        double u2 = (h2 >> 11) * (1.0 / (1UL << 53));
        return Math.Sqrt(-2.0 * Log(u1)) * CosTwoPi(u2);
    }

    /// <summary><see cref="Normal(ulong)"/> of eight keys, bit for bit.</summary>
    internal static Vector512<double> Normal(Vector512<ulong> keys)
    {
        var h1 = Mix(keys ^ Vector512.Create(0xD1B54A32D192ED03));
        var h2 = Mix(keys ^ Vector512.Create(0x8CB92BA72F3D8DD7));
        var u1 = Vector512.ConvertToDouble((h1 >> 11) + Vector512<ulong>.One) * Vector512.Create(1.0 / (1UL << 53));
        var u2 = Vector512.ConvertToDouble(h2 >> 11) * Vector512.Create(1.0 / (1UL << 53));
        return Vector512.Sqrt(Vector512.Create(-2.0) * Log(u1)) * CosTwoPi(u2);
    }

    /// <summary>The SplitMix64 finaliser on eight lanes.</summary>
    internal static Vector512<ulong> Mix(Vector512<ulong> z)
    {
        z = (z ^ (z >> 30)) * Vector512.Create(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * Vector512.Create(0x94D049BB133111EB);
        return z ^ (z >> 31);
    }

    private const double Ln2 = 0.6931471805599453;
    private const double Sqrt2 = 1.4142135623730951;
    private const double HalfPi = 1.5707963267948966;

    // ln u = e·ln 2 + ln m with u = m·2^e, m in [√½, √2); ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172:
    // the series to s^21 leaves a relative error below 1e-16.
    private static double Log(double u)
    {
        long bits = BitConverter.DoubleToInt64Bits(u);
        double e = (bits >> 52) - 1023;
        double m = BitConverter.Int64BitsToDouble((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000);
        if (m > Sqrt2) { m *= 0.5; e += 1; }
        double s = (m - 1) / (m + 1), s2 = s * s;
        return e * Ln2 + s * LogSeries(s2);
    }

    private static Vector512<double> Log(Vector512<double> u)
    {
        var bits = u.AsInt64();
        var e = Vector512.ConvertToDouble((bits >> 52) - Vector512.Create(1023L));
        var m = ((bits & Vector512.Create(0x000FFFFFFFFFFFFF)) | Vector512.Create(0x3FF0000000000000)).AsDouble();
        var big = Vector512.GreaterThan(m, Vector512.Create(Sqrt2));
        m = Vector512.ConditionalSelect(big, m * Vector512.Create(0.5), m);
        e = Vector512.ConditionalSelect(big, e + Vector512<double>.One, e);
        var s = (m - Vector512<double>.One) / (m + Vector512<double>.One);
        return e * Vector512.Create(Ln2) + s * LogSeries(s * s);
    }

    private static double LogSeries(double s2) =>
        2 + s2 * (2.0 / 3 + s2 * (2.0 / 5 + s2 * (2.0 / 7 + s2 * (2.0 / 9 + s2 * (2.0 / 11 + s2 * (2.0 / 13 + s2 * (2.0 / 15 + s2 * (2.0 / 17 + s2 * (2.0 / 19 + s2 * (2.0 / 21))))))))));

    private static Vector512<double> LogSeries(Vector512<double> s2) =>
        Vector512.Create(2.0) + s2 * (Vector512.Create(2.0 / 3) + s2 * (Vector512.Create(2.0 / 5) + s2 * (Vector512.Create(2.0 / 7) + s2 * (Vector512.Create(2.0 / 9)
        + s2 * (Vector512.Create(2.0 / 11) + s2 * (Vector512.Create(2.0 / 13) + s2 * (Vector512.Create(2.0 / 15) + s2 * (Vector512.Create(2.0 / 17)
        + s2 * (Vector512.Create(2.0 / 19) + s2 * Vector512.Create(2.0 / 21))))))))));

    // cos 2πu by quadrant q = ⌊4u⌋ and θ = (4u − q)·π/2 in [0, π/2): cos θ, −sin θ, −cos θ, sin θ; Taylor
    // series to θ^20 and θ^21 in Horner form (coefficients ±1/n!).
    private static double CosTwoPi(double u)
    {
        double v = u * 4, q = Math.Floor(v), theta = (v - q) * HalfPi, t2 = theta * theta;
        double cos = CosSeries(t2), sin = theta * SinSeries(t2);
        return q switch { 0 => cos, 1 => -sin, 2 => -cos, _ => sin };
    }

    private static Vector512<double> CosTwoPi(Vector512<double> u)
    {
        var v = u * Vector512.Create(4.0);
        var q = Vector512.Floor(v);
        var theta = (v - q) * Vector512.Create(HalfPi);
        var t2 = theta * theta;
        var cos = CosSeries(t2);
        var sin = theta * SinSeries(t2);
        var odd = Vector512.Equals(q, Vector512<double>.One) | Vector512.Equals(q, Vector512.Create(3.0));
        var negative = Vector512.Equals(q, Vector512<double>.One) | Vector512.Equals(q, Vector512.Create(2.0));
        var value = Vector512.ConditionalSelect(odd, sin, cos);
        return Vector512.ConditionalSelect(negative, -value, value);
    }

    private const double Ccos0 = 1.0 / 1;
    private const double Ccos1 = -1.0 / 2;
    private const double Ccos2 = 1.0 / 24;
    private const double Ccos3 = -1.0 / 720;
    private const double Ccos4 = 1.0 / 40320;
    private const double Ccos5 = -1.0 / 3628800;
    private const double Ccos6 = 1.0 / 479001600;
    private const double Ccos7 = -1.0 / 87178291200;
    private const double Ccos8 = 1.0 / 20922789888000;
    private const double Ccos9 = -1.0 / 6402373705728000;
    private const double Ccos10 = 1.0 / 2432902008176640000;
    private const double Csin0 = 1.0 / 1;
    private const double Csin1 = -1.0 / 6;
    private const double Csin2 = 1.0 / 120;
    private const double Csin3 = -1.0 / 5040;
    private const double Csin4 = 1.0 / 362880;
    private const double Csin5 = -1.0 / 39916800;
    private const double Csin6 = 1.0 / 6227020800;
    private const double Csin7 = -1.0 / 1307674368000;
    private const double Csin8 = 1.0 / 355687428096000;
    private const double Csin9 = -1.0 / 121645100408832000;
    private const double Csin10 = 1.0 / 51090942171709440000.0;

    private static double CosSeries(double t2) => Ccos0 + t2 * (Ccos1 + t2 * (Ccos2 + t2 * (Ccos3 + t2 * (Ccos4 + t2 * (Ccos5 + t2 * (Ccos6 + t2 * (Ccos7 + t2 * (Ccos8 + t2 * (Ccos9 + t2 * (Ccos10))))))))));

    private static Vector512<double> CosSeries(Vector512<double> t2) =>
        Vector512.Create(Ccos0) + t2 * (Vector512.Create(Ccos1) + t2 * (Vector512.Create(Ccos2) + t2 * (Vector512.Create(Ccos3) + t2 * (Vector512.Create(Ccos4) + t2 * (Vector512.Create(Ccos5) + t2 * (Vector512.Create(Ccos6) + t2 * (Vector512.Create(Ccos7) + t2 * (Vector512.Create(Ccos8) + t2 * (Vector512.Create(Ccos9) + t2 * (Vector512.Create(Ccos10)))))))))));

    private static double SinSeries(double t2) => Csin0 + t2 * (Csin1 + t2 * (Csin2 + t2 * (Csin3 + t2 * (Csin4 + t2 * (Csin5 + t2 * (Csin6 + t2 * (Csin7 + t2 * (Csin8 + t2 * (Csin9 + t2 * (Csin10))))))))));

    private static Vector512<double> SinSeries(Vector512<double> t2) =>
        Vector512.Create(Csin0) + t2 * (Vector512.Create(Csin1) + t2 * (Vector512.Create(Csin2) + t2 * (Vector512.Create(Csin3) + t2 * (Vector512.Create(Csin4) + t2 * (Vector512.Create(Csin5) + t2 * (Vector512.Create(Csin6) + t2 * (Vector512.Create(Csin7) + t2 * (Vector512.Create(Csin8) + t2 * (Vector512.Create(Csin9) + t2 * (Vector512.Create(Csin10)))))))))));
}
