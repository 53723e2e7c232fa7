using PimQuant.Quant.Formats;

namespace PimQuant.Tests.Quant;

/// <summary>
/// Scalar one-line reference formulas the torch implementation is checked against: written from
/// the definitions (levels, groups, ranges) with plain loops, sharing no code with PimQuant.Quant.
/// </summary>
internal static class QuantReference
{
    /// <summary>The nearest level to u: integers round half to even, other formats break ties toward the smaller magnitude.</summary>
    public static double Nearest(double[] levels, double u, bool integer)
    {
        if (integer) return Math.Clamp(Math.Round(u, MidpointRounding.ToEven), levels[0], levels[^1]);
        double best = levels[0];
        foreach (double level in levels)
        {
            double d = Math.Abs(u - level), e = Math.Abs(u - best);
            if (d < e || d == e && Math.Abs(level) < Math.Abs(best)) best = level;
        }
        return best;
    }

    /// <summary>Symmetric scale of a group from its values: max magnitude (or max, unsigned) over the largest level, in float32; 1 for an all-zero group.</summary>
    public static float SymmetricScale(IEnumerable<float> values, NumberFormat format)
    {
        float amax = format.Signed ? values.Max(MathF.Abs) : Math.Max(0f, values.Max());
        float s = amax / (float)format.MaxLevel;
        return s > 0 ? s : 1f;
    }

    /// <summary>q(x) = s·L(x/s) in float32, L the nearest level of <paramref name="format"/>.</summary>
    public static float FakeQuantize(float x, float s, NumberFormat format, double[] levels) =>
        (float)Nearest(levels, x / s, format.IsUniform) * s;

    /// <summary>ONNX QuantizeLinear + DequantizeLinear with zero point: s·(clamp(round(x/s) + z, qmin, qmax) − z).</summary>
    public static float Affine(float x, float s, float z, IntegerFormat format) =>
        (float)(Math.Clamp(Math.Round(x / s, MidpointRounding.ToEven) + z, format.QMin, format.QMax) - z) * s;

    /// <summary>The gap between the levels around u (u inside the range).</summary>
    public static double Gap(double[] levels, double u)
    {
        for (int i = 1; i < levels.Length; i++)
            if (u <= levels[i]) return levels[i] - levels[i - 1];
        return 0;
    }

    /// <summary>Seeded standard-normal floats (Box–Muller), with some exact zeros.</summary>
    public static float[] Normal(int count, int seed, double zeroFraction = 0.05)
    {
        var rng = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = rng.NextDouble() < zeroFraction ? 0f
                : (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return values;
    }
}
