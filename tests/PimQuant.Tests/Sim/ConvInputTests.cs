using PimQuant.Quant.Granularity;
using PimQuant.Sim;

namespace PimQuant.Tests.Sim;

/// <summary><see cref="ConvInput"/> against a scalar im2col written from docs/hardware.md §0, and its digit
/// statistics against those of the gathered vectors and the events of running them.</summary>
public class ConvInputTests
{
    /// <summary>The reference: vector element (c, ky, kx) of output pixel (oy, ox) reads input
    /// (c, oy·sh + ky·dh − top, ox·sw + kx·dw − left), the padding code outside the image.</summary>
    private static byte[] ReferenceVectors(byte[] images, int count, ConvWindow w, int group, byte padding)
    {
        var vectors = new byte[count * w.Pixels * w.K];
        int e = 0;
        for (int n = 0; n < count; n++)
            for (int oy = 0; oy < w.OutHeight; oy++)
                for (int ox = 0; ox < w.OutWidth; ox++)
                    for (int c = 0; c < w.ChannelsPerGroup; c++)
                        for (int ky = 0; ky < w.KernelHeight; ky++)
                            for (int kx = 0; kx < w.KernelWidth; kx++)
                            {
                                int y = oy * w.StrideHeight + ky * w.DilationHeight - w.PadTop, x = ox * w.StrideWidth + kx * w.DilationWidth - w.PadLeft;
                                int channel = group * w.ChannelsPerGroup + c;
                                vectors[e++] = y < 0 || y >= w.Height || x < 0 || x >= w.Width ? padding
                                    : images[((n * w.Channels + channel) * w.Height + y) * w.Width + x];
                            }
        return vectors;
    }

    private static (ConvWindow Window, byte[] Images, int Count, int Group, byte Padding, int Bits) RandomCase(int seed)
    {
        var rng = new Random(seed);
        int groups = rng.Next(3) == 0 ? rng.Next(2, 4) : 1;
        var window = new ConvWindow
        {
            // Some rows wider than one 32-pixel vector.
            Channels = groups * rng.Next(1, 7), Height = rng.Next(1, 10), Width = rng.Next(4) == 0 ? rng.Next(30, 80) : rng.Next(1, 10),
            Convolution = new ConvLowering(Kernel: [rng.Next(1, 4), rng.Next(1, 4)], Strides: [rng.Next(1, 3), rng.Next(1, 3)],
                Pads: [rng.Next(0, 3), rng.Next(0, 3), rng.Next(0, 3), rng.Next(0, 3)], Dilations: [rng.Next(1, 3), rng.Next(1, 3)], Groups: groups),
        };
        // Grow the input until the dilated kernel fits.
        window = window with
        {
            Height = Math.Max(window.Height, window.DilationHeight * (window.KernelHeight - 1) + 1),
            Width = Math.Max(window.Width, window.DilationWidth * (window.KernelWidth - 1) + 1),
        };
        int bits = rng.Next(1, 9), count = rng.Next(1, 4);
        var images = new byte[count * window.Channels * window.Height * window.Width];
        // Sparse codes, as after ReLU, so that whole digits are often zero.
        for (int i = 0; i < images.Length; i++) images[i] = rng.Next(3) == 0 ? (byte)0 : (byte)rng.Next(1 << bits);
        return (window, images, count, rng.Next(groups), (byte)rng.Next(1 << bits), bits);
    }

    [Fact]
    public void Gather_equals_the_scalar_im2col()
    {
        for (int seed = 0; seed < 200; seed++)
        {
            var (w, images, count, group, padding, _) = RandomCase(seed);
            var expected = ReferenceVectors(images, count, w, group, padding);
            var input = new ConvInput(images, count, w, group, padding);
            Assert.Equal(expected.Length, input.Pixels * w.K);
            foreach (int threads in new[] { 1, 3 })
            {
                var vectors = new byte[expected.Length + 5];
                input.Gather(vectors, new SimConfiguration { MaxDegreeOfParallelism = threads });
                Assert.True(expected.AsSpan().SequenceEqual(vectors.AsSpan(0, expected.Length)), $"seed {seed}: {w}");
            }
        }
    }

    [Fact]
    public void Digit_statistics_from_the_images_equal_those_of_the_vectors_and_the_events_of_a_run()
    {
        for (int seed = 0; seed < 150; seed++)
        {
            var (w, images, count, group, padding, bits) = RandomCase(seed);
            var rng = new Random(seed + 1000);
            // Half the cases on 1-bit DACs, the vector path's.
            int cellBits = rng.Next(1, 3), dacBits = rng.Next(2) == 0 ? 1 : rng.Next(2, 4), rows = rng.Next(1, 2 * w.K + 2);
            var config = CrossbarConfig.Create(new CrossbarSettings
            {
                Rows = rows, Cols = 32, OuRows = rng.Next(2) == 0 ? rows : rng.Next(1, rows + 1), OuCols = 8, CellBits = cellBits, DacBits = dacBits,
                AdcBits = 0, WeightBits = 4, ActivationBits = bits,
            });
            int n = rng.Next(1, 4);
            var weights = Enumerable.Range(0, w.K * n).Select(_ => rng.Next(-8, 8)).ToArray();
            var layer = ProgrammedLayer.Program(config, weights, w.K, n);
            var input = new ConvInput(images, count, w, group, padding);
            var vectors = ReferenceVectors(images, count, w, group, padding);

            var fromVectors = DigitStatistics.Of(vectors, input.Pixels, layer);
            DigitStatistics fromImages = null!;
            foreach (var width in new[] { SimdWidth.Scalar, SimdWidth.Auto })
            {
                fromImages = input.CountDigits(layer, new SimConfiguration { MaxDegreeOfParallelism = 2, SimdWidth = width });
                Assert.Equal(fromVectors.Vectors, fromImages.Vectors);
                Assert.Equal(fromVectors.NonzeroDigits, fromImages.NonzeroDigits);
                Assert.Equal(fromVectors.ZeroDigits, fromImages.ZeroDigits);
            }

            var y = new double[input.Pixels * n];
            var events = layer.Run(vectors, y, input.Pixels);
            Assert.Equal(events, layer.EventsOfAllDigits(fromImages));
        }
    }

    [Fact]
    public void Invalid_windows_and_groups_are_refused()
    {
        var window = new ConvWindow { Channels = 4, Height = 3, Width = 3, Convolution = new ConvLowering([3, 3], [1, 1], [0, 0, 0, 0], [1, 1], 2) };
        Assert.Throws<ArgumentException>(() => new ConvInput(new byte[36], 1, window, 2, 0));
        Assert.Throws<ArgumentException>(() => new ConvInput(new byte[35], 1, window, 0, 0));
        Assert.Throws<ArgumentException>(() => new ConvInput(new byte[36], 1, window with { Convolution = window.Convolution with { Groups = 3 } }, 0, 0));
        Assert.Throws<ArgumentException>(() => new ConvInput(new byte[36], 1, window with { Convolution = window.Convolution with { Kernel = [4, 3] } }, 0, 0));
    }
}
