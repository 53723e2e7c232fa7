using FsCheck;
using FsCheck.Xunit;
using PimQuant.Accelerator;

namespace PimQuant.Tests.Accelerator;

/// <summary>The simulated product's dequantization of one pixel (<see cref="Dequantization.Row"/>, 256-bit vectors) equals its
/// scalar reference bit for bit on random column counts and values.</summary>
public class DequantizationTests
{
    [Property(MaxTest = 60, Replay = "(97531,8643)")]
    public unsafe void The_vector_row_equals_the_scalar_reference(DoNotSize<int> seed)
    {
        var rng = new Random(seed.Item);
        int columns = rng.Next(1, 70);
        double[] Values(double range) => Enumerable.Range(0, columns).Select(_ => (rng.NextDouble() - 0.5) * range).ToArray();
        var y = Enumerable.Range(0, columns).Select(_ => (double)rng.Next(-1 << 20, 1 << 20)).ToArray();
        double[] offset = Values(1e4), scale = Values(1e-3), bias = Values(2);
        var expected = new float[columns];
        var actual = new float[columns];
        fixed (float* e = expected) Dequantization.RowScalar(y, offset, scale, bias, e);
        fixed (float* a = actual) Dequantization.Row(y, offset, scale, bias, a);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), actual.Select(BitConverter.SingleToInt32Bits));
    }
}
