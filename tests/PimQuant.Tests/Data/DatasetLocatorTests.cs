using PimQuant.Data;
using Xunit;
using static PimQuant.Tests.Data.TestData;

namespace PimQuant.Tests.Data;

public sealed class EmbeddedFashionMnistTests
{
    // Decompressing 4.4 MB once is enough for every test here.
    private static readonly Lazy<ImageDataset> TestSplit = new(() =>
        new DatasetLocator([RepoDataDirectory("fashion-mnist")]).Load(DatasetCatalog.FashionMnist, DatasetSplit.Test));

    [Fact]
    public void HasTenThousandImagesOfOneByTwentyEight()
    {
        var d = TestSplit.Value;
        Assert.Equal("fashion-mnist/test", d.Name);
        Assert.Equal((10_000, 1, 28, 28, 10), (d.Count, d.Channels, d.Height, d.Width, d.Classes));
        Assert.Equal(7_840_000, d.Pixels.Length);
    }

    [Fact]
    public void EveryClassAppearsOneThousandTimes() =>
        Assert.All(TestSplit.Value.CountPerClass(), n => Assert.Equal(1000, n));

    [Fact]
    public void KnownFirstSamples()
    {
        var d = TestSplit.Value;
        // The first test image is an ankle boot (class 9), as in the upstream README's sample.
        Assert.Equal("Ankle boot", DatasetCatalog.FashionMnist.ClassNames[d.Labels[0]]);
        Assert.Equal(new byte[] { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 }, d.Labels[..10]);
        long sum = 0;
        foreach (byte p in d.GetImage(0)) sum += p;
        Assert.Equal(33_456, sum);
    }

    [Fact]
    public void SliceCopiesARange()
    {
        var slice = TestSplit.Value.Slice(2, 3);
        Assert.Equal("fashion-mnist/test[2..5)", slice.Name);
        Assert.Equal(new byte[] { 1, 1, 6 }, slice.Labels);
        Assert.Equal(TestSplit.Value.GetImage(4).ToArray(), slice.GetImage(2).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => TestSplit.Value.Slice(9_999, 2));
    }
}

public sealed class DatasetLocatorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void FirstDirectoryWithAllFilesWins()
    {
        string empty = Path.Combine(_dir.Path, "empty");
        Directory.CreateDirectory(empty);
        string missing = Path.Combine(_dir.Path, "missing");
        string embedded = RepoDataDirectory("fashion-mnist");
        var files = new DatasetLocator([missing, empty, embedded]).Locate(DatasetCatalog.FashionMnist, DatasetSplit.Test);
        Assert.Equal(embedded, files.Directory);
        Assert.Equal(
            new[] { Path.Combine(embedded, "t10k-images-idx3-ubyte.gz"), Path.Combine(embedded, "t10k-labels-idx1-ubyte.gz") },
            files.Paths);
    }

    [Fact]
    public void UncompressedFilesAreFoundToo()
    {
        _dir.Write("train-images-idx3-ubyte", Idx(IdxReader.ImagesMagic, [2, 3, 3], Pixels(18)));
        _dir.Write("train-labels-idx1-ubyte.gz", Gzip(Idx(IdxReader.LabelsMagic, [2], [4, 5])));
        var d = new DatasetLocator([_dir.Path]).Load(DatasetCatalog.Mnist, DatasetSplit.Train);
        Assert.Equal(("mnist/train", 2, 3), (d.Name, d.Count, d.Height));
        Assert.Equal(new byte[] { 4, 5 }, d.Labels);
    }

    [Fact]
    public void MissingFashionMnistExplainsWhereItLookedAndHowToGetIt()
    {
        string missing = Path.Combine(_dir.Path, "no-such-dir");
        _dir.Write("partial/train-images-idx3-ubyte.gz", [1]);
        string partial = Path.Combine(_dir.Path, "partial");
        var e = Assert.Throws<DataException>(() =>
            new DatasetLocator([missing, partial]).Locate(DatasetCatalog.FashionMnist, DatasetSplit.Train));
        Assert.Equal(
            "Fashion-MNIST train split not found. Searched:\n" +
            $"  {missing}: no such directory\n" +
            $"  {partial}: missing train-labels-idx1-ubyte[.gz]\n" +
            "To get it, install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), " +
            "which puts it in /usr/share/datasets/fashion-mnist, or pass --data DIR with a directory holding " +
            "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz].",
            e.Message);
    }

    [Fact]
    public void MissingMnistAndCifarPointToDataOption()
    {
        var locator = new DatasetLocator([_dir.Path]);
        var mnist = Assert.Throws<DataException>(() => locator.Locate(DatasetCatalog.Mnist, DatasetSplit.Test));
        Assert.Contains($"{_dir.Path}: missing t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]", mnist.Message);
        Assert.Contains("pass --data DIR", mnist.Message);
        Assert.DoesNotContain("apt-get", mnist.Message);

        var cifar = Assert.Throws<DataException>(() => locator.Locate(DatasetCatalog.Cifar10, DatasetSplit.Test));
        Assert.Contains("--data DIR pointing at the extracted cifar-10-batches-bin directory", cifar.Message);
        Assert.Contains("missing test_batch.bin", cifar.Message);
    }

    [Fact]
    public void CifarIsFoundInsideItsArchiveDirectory()
    {
        var record = new byte[Cifar10Reader.RecordSize];
        record[0] = 6;
        string path = _dir.Write("cifar-10-batches-bin/test_batch.bin", record);
        var files = new DatasetLocator([_dir.Path]).Locate(DatasetCatalog.Cifar10, DatasetSplit.Test);
        Assert.Equal(new[] { path }, files.Paths);
        var d = files.Load();
        Assert.Equal(("cifar10/test", 1, 3, (byte)6), (d.Name, d.Count, d.Channels, d.Labels[0]));
    }

    [Fact]
    public void CatalogNamesAndSplits()
    {
        Assert.Same(DatasetCatalog.Cifar10, DatasetCatalog.Get("CIFAR10"));
        Assert.Equal(DatasetSplit.Test, DatasetCatalog.ParseSplit("test"));
        Assert.Equal("unknown dataset 'svhn': expected one of fashion-mnist, mnist, cifar10",
            Assert.Throws<DataException>(() => DatasetCatalog.Get("svhn")).Message);
        Assert.Equal("unknown split 'val': expected train or test",
            Assert.Throws<DataException>(() => DatasetCatalog.ParseSplit("val")).Message);
    }
}
