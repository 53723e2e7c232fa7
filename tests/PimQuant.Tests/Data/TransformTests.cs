using PimQuant.Data;
using Xunit;
using static PimQuant.Tests.Data.TestData;

namespace PimQuant.Tests.Data;

public sealed class NormalizationTests
{
    [Fact]
    public void MatchesTheFormulaPerChannel()
    {
        float[] mean = [0.5f, 0.25f, 0.125f], std = [0.2f, 0.3f, 0.4f];
        var norm = new Normalization(mean, std);
        byte[] image = Pixels(3 * 4 * 5);
        var actual = new float[image.Length];
        norm.Apply(image, channels: 3, planeSize: 20, actual);
        for (int i = 0; i < image.Length; i++)
        {
            int c = i / 20;
            // Computed in double and rounded once; the float formula agrees to rounding.
            Assert.Equal((float)((image[i] / 255.0 - mean[c]) / std[c]), actual[i]);
            Assert.Equal((image[i] / 255f - mean[c]) / std[c], actual[i], 1e-5f);
        }
    }

    [Fact]
    public void IdentityScalesToUnitInterval()
    {
        var result = new float[3];
        Normalization.Identity.Apply([0, 51, 255], 1, 3, result);
        Assert.Equal(new[] { 0f, 0.2f, 1f }, result);
        Assert.Equal(new Normalization([0f], [1f]), Normalization.Identity);
        Assert.Equal("mean [0.5, 0.25], std [2]", new Normalization([0.5f, 0.25f], [2f]).ToString());
    }

    [Fact]
    public void OneValueServesEveryChannel()
    {
        var dataset = Synthetic(2, channels: 3, height: 2, width: 2);
        float[] all = new Normalization([0.1f], [0.5f]).Apply(dataset);
        for (int i = 0; i < all.Length; i++)
            Assert.Equal((float)((dataset.Pixels[i] / 255.0 - 0.1f) / 0.5f), all[i]);
    }

    [Fact]
    public void Validation()
    {
        Assert.Throws<ArgumentException>(() => new Normalization([0.5f], [0f]));
        Assert.Throws<ArgumentException>(() => new Normalization([0.5f], [-1f]));
        Assert.Throws<ArgumentException>(() => new Normalization([float.NaN], [1f]));
        Assert.Throws<ArgumentException>(() => new Normalization([], [1f]));
        Assert.Throws<ArgumentException>(() => new Normalization([0.1f, 0.2f], [1f, 2f, 3f]));
        var perChannel = new Normalization([0.1f, 0.2f, 0.3f], [1f]);
        Assert.True(perChannel.Fits(3));
        Assert.False(perChannel.Fits(1));
        Assert.Throws<ArgumentException>(() => new BatchLoader(Synthetic(4), 2, normalization: perChannel));
    }
}

public sealed class AugmentationTests
{
    private static float[] Augment(Augmentation aug, ImageDataset d, int sample, ulong key, Normalization norm)
    {
        var result = new float[d.ImageSize];
        var random = Xoshiro256StarStar.FromKeys(key);
        aug.Apply(d.GetImage(sample), d.Channels, d.Height, d.Width, norm, ref random, result);
        return result;
    }

    [Fact]
    public void NoPaddingNoFlipEqualsPlainNormalization()
    {
        var d = Synthetic(3, channels: 3, height: 5, width: 6);
        var norm = new Normalization([0.4f, 0.5f, 0.6f], [0.2f, 0.25f, 0.3f]);
        for (int s = 0; s < d.Count; s++)
        {
            var plain = new float[d.ImageSize];
            norm.Apply(d.GetImage(s), 3, 30, plain);
            Assert.Equal(plain, Augment(new Augmentation(0, false), d, s, (ulong)s, norm));
        }
    }

    [Fact]
    public void CropIsAShiftWithZeroPadding()
    {
        var d = Synthetic(1, channels: 2, height: 6, width: 5);
        var norm = new Normalization([0.3f], [0.5f]);
        float pad = (float)((0 - 0.3f) / 0.5f);
        var shifts = new HashSet<(int, int)>();
        for (ulong key = 0; key < 60; key++)
        {
            float[] actual = Augment(new Augmentation(cropPadding: 2), d, 0, key, norm);
            // Find the shift (dy, dx) in [-2, 2]² that explains every output pixel.
            var found = from dy in Enumerable.Range(-2, 5)
                        from dx in Enumerable.Range(-2, 5)
                        where Enumerable.Range(0, actual.Length).All(i =>
                        {
                            int c = i / 30, y = i % 30 / 5 + dy, x = i % 5 + dx;
                            float expected = y is >= 0 and < 6 && x is >= 0 and < 5
                                ? (float)((d.Pixels[c * 30 + y * 5 + x] / 255.0 - 0.3f) / 0.5f)
                                : pad;
                            return actual[i] == expected;
                        })
                        select (dy, dx);
            shifts.Add(Assert.Single(found));
        }
        Assert.True(shifts.Count >= 15, $"only {shifts.Count} of 25 shifts in 60 draws");
    }

    [Fact]
    public void FlipMirrorsRowsAboutHalfTheTime()
    {
        var d = Synthetic(1, height: 3, width: 4);
        var plain = new float[12];
        Normalization.Identity.Apply(d.GetImage(0), 1, 12, plain);
        float[] mirrored = Enumerable.Range(0, 12).Select(i => plain[i / 4 * 4 + 3 - i % 4]).ToArray();
        int flips = 0;
        for (ulong key = 0; key < 200; key++)
        {
            float[] actual = Augment(new Augmentation(horizontalFlip: true), d, 0, key, Normalization.Identity);
            if (actual.SequenceEqual(mirrored)) flips++;
            else Assert.Equal(plain, actual);
        }
        Assert.InRange(flips, 70, 130);
    }

    [Fact]
    public void Validation()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Augmentation(cropPadding: -1));
        Assert.True(Augmentation.None.IsIdentity);
        Assert.False(new Augmentation(horizontalFlip: true).IsIdentity);
        Assert.Equal(new Augmentation(4, true), new Augmentation(4, true));
    }
}

public sealed class RandomTests
{
    [Fact]
    public void SplitMix64MatchesReferenceOutput()
    {
        var sm = new SplitMix64(0);
        Assert.Equal(0xE220A8397B1DCDAFUL, sm.Next());
        Assert.Equal(0x6E789E6AA1B965F4UL, sm.Next());
        Assert.Equal(0x06C45D188009454FUL, sm.Next());
    }

    [Fact]
    public void XoshiroMatchesReferenceOutput()
    {
        var x = new Xoshiro256StarStar(1, 2, 3, 4);
        ulong[] expected = [11520, 0, 1509978240, 1215971899390074240, 1216172134540287360];
        Assert.Equal(expected, Enumerable.Range(0, 5).Select(_ => x.Next()).ToArray());
    }

    [Fact]
    public void NextIntIsInRangeAndCoversIt()
    {
        var x = Xoshiro256StarStar.FromKeys(42);
        var counts = new int[7];
        for (int i = 0; i < 7000; i++) counts[x.NextInt(7)]++;
        Assert.All(counts, n => Assert.InRange(n, 850, 1150));
    }

    [Fact]
    public void KeysSelectIndependentStreams()
    {
        ulong First(params ulong[] keys) => Xoshiro256StarStar.FromKeys(keys).Next();
        Assert.Equal(First(1, 2, 3), First(1, 2, 3));
        Assert.NotEqual(First(1, 2, 3), First(1, 3, 2));
        Assert.NotEqual(First(1, 2, 3), First(1, 2, 4));
    }
}
