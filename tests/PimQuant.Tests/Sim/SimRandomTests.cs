using System.Runtime.Intrinsics;
using PimQuant.Sim;

namespace PimQuant.Tests.Sim;

/// <summary>The counter-based normal draws: vector and scalar forms agree bit for bit, and the draws
/// look standard normal.</summary>
public class SimRandomTests
{
    [Fact]
    public void Vector_normals_equal_scalar_normals()
    {
        var keys = new ulong[8];
        for (ulong k = 0; k < 4096; k += 8)
        {
            for (int lane = 0; lane < 8; lane++) keys[lane] = SimRandom.Mix(k + (ulong)lane) * 31 + k;
            var draws = SimRandom.Normal(Vector512.Create<ulong>(keys));
            for (int lane = 0; lane < 8; lane++)
                Assert.Equal(BitConverter.DoubleToInt64Bits(SimRandom.Normal(keys[lane])), BitConverter.DoubleToInt64Bits(draws[lane]));
        }
    }

    [Fact]
    public void Draws_are_standard_normal()
    {
        const int count = 200_000;
        double sum = 0, squares = 0, fourth = 0;
        int beyondTwo = 0;
        for (int i = 0; i < count; i++)
        {
            double z = SimRandom.Normal(SimRandom.CellKey(1, 2, RandomPurpose.Variation, i, 7));
            sum += z; squares += z * z; fourth += z * z * z * z;
            if (Math.Abs(z) > 2) beyondTwo++;
        }
        Assert.InRange(sum / count, -0.01, 0.01);
        Assert.InRange(squares / count, 0.98, 1.02);
        Assert.InRange(fourth / count, 2.9, 3.1);               // kurtosis 3
        Assert.InRange(beyondTwo / (double)count, 0.043, 0.048); // 4.55 % beyond 2σ
    }

    [Fact]
    public void Polynomial_log_and_cosine_match_the_runtime_to_rounding()
    {
        // Box–Muller pieces against Math.Log / Math.Cos through the public draw: r·cos with r from u1.
        var rng = new Random(9);
        for (int i = 0; i < 10000; i++)
        {
            ulong key = (ulong)rng.NextInt64();
            ulong h1 = SimRandom.Mix(key ^ 0xD1B54A32D192ED03), h2 = SimRandom.Mix(key ^ 0x8CB92BA72F3D8DD7);
            double u1 = ((h1 >> 11) + 1) * (1.0 / (1UL << 53)), u2 = (h2 >> 11) * (1.0 / (1UL << 53));
            double expected = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
            Assert.Equal(expected, SimRandom.Normal(key), 1e-12);
        }
    }
}
