using FsCheck;
using FsCheck.Xunit;
using PimQuant.Sim;
using PimQuant.Sim.Kernels;

namespace PimQuant.Tests.Sim;

/// <summary>The exact path's byte product (AVX-VNNI <c>vpdpbusd</c>) equals its scalar reference and the float64 product on random
/// shapes (K not a multiple of 4, N not of 16, pixel counts not of 4) and on extreme codes, and the exact path takes it where
/// the weights fit bytes.</summary>
public class ByteProductTests
{
    [Property(MaxTest = 80, Replay = "(13579,2469)")]
    public void The_vector_product_equals_the_scalar_references(DoNotSize<int> seed)
    {
        var rng = new Random(seed.Item);
        int k = rng.Next(1, 200), n = rng.Next(1, 70), pixels = rng.Next(1, 11), k4 = ByteProductKernel.PaddedRows(k);
        bool extreme = rng.Next(4) == 0;
        var weights = Enumerable.Range(0, k * n).Select(_ => extreme ? (rng.Next(2) == 0 ? -128 : 127) : rng.Next(-128, 128)).ToArray();
        var codes = new byte[pixels * k4];
        for (int p = 0; p < pixels; p++)
            for (int i = 0; i < k; i++) codes[p * k4 + i] = extreme ? (byte)255 : (byte)rng.Next(256);
        var packed = ByteProductKernel.Pack(weights, k, n);

        // The plain definition: y[p, j] = Σ_i a[p, i]·w[i, j].
        var expected = new double[pixels * n];
        for (int p = 0; p < pixels; p++)
            for (int j = 0; j < n; j++)
            {
                long sum = 0;
                for (int i = 0; i < k; i++) sum += codes[p * k4 + i] * weights[i * n + j];
                expected[p * n + j] = sum;
            }
        var scalar = new double[pixels * n];
        ByteProductKernel.MultiplyScalar(codes, packed, scalar, pixels, k4, n);
        Assert.Equal(expected, scalar);
        if (!ByteProductKernel.Vectorized(SimConfiguration.Default)) return;
        var vector = new double[pixels * n];
        ByteProductKernel.Multiply(codes, packed, vector, pixels, k4, n);
        Assert.Equal(expected, vector);
    }

    [Fact]
    public void The_exact_path_takes_the_byte_product_only_where_the_weights_fit_bytes()
    {
        var eight = SimCases.Random(5, lossless: true);
        Assert.NotNull(eight.Programmed().ExactBytes);
        var config = CrossbarConfig.Create(new CrossbarSettings
        {
            Rows = 16, Cols = 64, OuRows = 16, OuCols = 64, CellBits = 2, DacBits = 1, AdcBits = 0, AdcStep = AdcStep.Unit,
            WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding.Offset, WeightBits = 10, ActivationBits = 8,
        });
        var wide = ProgrammedLayer.Program(config, Enumerable.Range(0, 12).Select(i => i % 2 == 0 ? 300 : -5).ToArray(), 4, 3);
        Assert.Null(wide.ExactBytes);
        var scaled = SimCases.WithDigitalScales(eight, 5);
        Assert.Null(scaled.Programmed().ExactBytes);
    }
}
