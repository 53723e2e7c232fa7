using PimQuant.Data;
using Xunit;
using static PimQuant.Tests.Data.TestData;

namespace PimQuant.Tests.Data;

public sealed class BatchLoaderTests
{
    private static readonly ImageDataset Data = Synthetic(23, channels: 3, height: 6, width: 5);
    private static readonly Normalization Norm = new([0.4f, 0.5f, 0.6f], [0.2f, 0.25f, 0.3f]);

    private static BatchLoader Loader(long seed = 7, int batchSize = 5, bool dropLast = false, int prefetch = 2,
        Augmentation? augmentation = null, bool shuffle = true) =>
        new(Data, batchSize, shuffle, seed, Norm, augmentation ?? new Augmentation(2, true), dropLast, prefetch);

    /// <summary>A copy of everything in an epoch's batches, so batches can be compared after the fact.</summary>
    private static List<(int Index, float[] Images, long[] Labels, int[] Indices)> Run(BatchLoader loader, int epoch) =>
        loader.Epoch(epoch).Select(b => (b.Index, (float[])b.Images.Clone(), b.Labels, b.Indices)).ToList();

    private static void AssertSame(
        List<(int Index, float[] Images, long[] Labels, int[] Indices)> expected,
        List<(int Index, float[] Images, long[] Labels, int[] Indices)> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int b = 0; b < expected.Count; b++)
        {
            Assert.Equal(expected[b].Index, actual[b].Index);
            Assert.Equal(expected[b].Indices, actual[b].Indices);
            Assert.Equal(expected[b].Labels, actual[b].Labels);
            // Bitwise: NaN-free data, so element equality is bit equality.
            Assert.Equal(expected[b].Images, actual[b].Images);
        }
    }

    [Fact]
    public void SameSeedAndEpochGiveIdenticalBatches() =>
        AssertSame(Run(Loader(), 1), Run(Loader(prefetch: 4), 1));

    [Fact]
    public void EpochThreeAloneEqualsEpochThreeAfterEarlierEpochs()
    {
        var uninterrupted = Loader();
        for (int e = 0; e < 3; e++) Run(uninterrupted, e);
        AssertSame(Run(uninterrupted, 3), Run(Loader(), 3));
    }

    [Fact]
    public void DifferentEpochsAndSeedsGiveDifferentOrders()
    {
        var loader = Loader();
        int[] Order(BatchLoader l, int e) => Run(l, e).SelectMany(b => b.Indices).ToArray();
        Assert.NotEqual(Order(loader, 0), Order(loader, 1));
        Assert.NotEqual(Order(loader, 0), Order(Loader(seed: 8), 0));
        Assert.Equal(Enumerable.Range(0, 23), Order(Loader(shuffle: false), 5));
    }

    [Fact]
    public void EverySampleAppearsOncePerEpochWithItsLabelAndPixels()
    {
        var loader = Loader(augmentation: Augmentation.None);
        var batches = Run(loader, 2);
        Assert.Equal([5, 5, 5, 5, 3], batches.Select(b => b.Labels.Length));
        Assert.Equal(Enumerable.Range(0, 23), batches.SelectMany(b => b.Indices).Order());
        foreach (var batch in batches)
        {
            Assert.Equal(batch.Labels.Length * 90, batch.Images.Length);
            for (int i = 0; i < batch.Indices.Length; i++)
            {
                int sample = batch.Indices[i];
                Assert.Equal(Data.Labels[sample], batch.Labels[i]);
                for (int j = 0; j < 90; j++)
                {
                    int c = j / 30;
                    float expected = (float)((Data.Pixels[sample * 90 + j] / 255.0 - Norm.Mean[c]) / Norm.Std[c]);
                    Assert.Equal(expected, batch.Images[i * 90 + j]);
                }
            }
        }
    }

    [Fact]
    public void DropLastLeavesOutThePartialBatch()
    {
        var loader = Loader(dropLast: true);
        Assert.Equal((4, 20), (loader.BatchesPerEpoch, loader.SamplesPerEpoch));
        var batches = Run(loader, 0);
        Assert.All(batches, b => Assert.Equal(5, b.Labels.Length));
        var seen = batches.SelectMany(b => b.Indices).ToArray();
        Assert.Equal(20, seen.Distinct().Count());
        // The left-out samples are the tail of this epoch's order.
        Assert.Equal(loader.EpochOrder(0)[..20], seen);
        Assert.Throws<ArgumentException>(() => Loader(batchSize: 24, dropLast: true));
    }

    [Fact]
    public void AugmentationKeepsShapeAndChangesPixels()
    {
        var plain = Run(Loader(augmentation: Augmentation.None), 0);
        var augmented = Run(Loader(augmentation: new Augmentation(2, true)), 0);
        Assert.Equal(plain.Select(b => b.Indices), augmented.Select(b => b.Indices));
        Assert.Equal(plain.Select(b => b.Images.Length), augmented.Select(b => b.Images.Length));
        Assert.NotEqual(plain.SelectMany(b => b.Images), augmented.SelectMany(b => b.Images));
        Assert.Equal(0, new BatchLoader(Data, 23, seed: 1).Epoch(0).Single().Images.Count(float.IsNaN));
    }

    [Fact]
    public void BatchesDescribeTheirShape()
    {
        using var batch = Loader().Epoch(4).First();
        Assert.Equal((4, 0, 5, 3, 6, 5), (batch.Epoch, batch.Index, batch.Count, batch.Channels, batch.Height, batch.Width));
        Assert.Equal(5 * 3 * 6 * 5, batch.Images.Length);
    }

    [Fact]
    public void DisposedBatchesAreRecycledWithoutChangingResults()
    {
        var loader = Loader(batchSize: 4);
        var expected = Run(loader, 6);
        var recycled = new List<(int, float[], long[], int[])>();
        foreach (var batch in loader.Epoch(6))
        {
            recycled.Add((batch.Index, (float[])batch.Images.Clone(), batch.Labels, batch.Indices));
            batch.Dispose();
            Assert.Throws<ObjectDisposedException>(() => batch.Images);
        }
        AssertSame(expected, recycled);
    }

    [Fact]
    public async Task StoppingEarlyDoesNotHang()
    {
        var big = Synthetic(2000, channels: 1, height: 28, width: 28);
        var loader = new BatchLoader(big, batchSize: 10, prefetch: 1);
        var consumer = Task.Run(() =>
        {
            int taken = 0;
            foreach (var batch in loader.Epoch(0))
                if (++taken == 3) break;
            // A second, independent epoch still works after the first was abandoned.
            return loader.Epoch(1).Take(2).Count() + taken;
        });
        var first = await Task.WhenAny(consumer, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(first == consumer, "the enumeration did not stop");
        Assert.Equal(5, await consumer);
    }

    [Fact]
    public void CancellationStopsTheEpoch()
    {
        using var cancel = new CancellationTokenSource();
        var loader = new BatchLoader(Synthetic(100), batchSize: 10);
        int seen = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var batch in loader.Epoch(0, cancel.Token))
                if (++seen == 2) cancel.Cancel();
        });
        Assert.Equal(2, seen);
    }

    [Fact]
    public void ArgumentsAreChecked()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Loader(batchSize: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Loader(prefetch: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Loader().Epoch(-1));
    }
}
