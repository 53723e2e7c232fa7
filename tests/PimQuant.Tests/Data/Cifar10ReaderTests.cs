using PimQuant.Data;
using Xunit;
using static PimQuant.Tests.Data.TestData;

namespace PimQuant.Tests.Data;

public sealed class Cifar10ReaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Records(byte[] labels, int salt = 0)
    {
        var file = new byte[labels.Length * Cifar10Reader.RecordSize];
        for (int r = 0; r < labels.Length; r++)
        {
            file[r * Cifar10Reader.RecordSize] = labels[r];
            Pixels(Cifar10Reader.ImageSize, salt + r).CopyTo(file, r * Cifar10Reader.RecordSize + 1);
        }
        return file;
    }

    [Fact]
    public void ReadsTwoRecords()
    {
        var dataset = Cifar10Reader.Read(new MemoryStream(Records([3, 9])), "mem", "cifar-mini");
        Assert.Equal(("cifar-mini", 2, 3, 32, 32, 10), (dataset.Name, dataset.Count, dataset.Channels, dataset.Height, dataset.Width, dataset.Classes));
        Assert.Equal(new byte[] { 3, 9 }, dataset.Labels);
        Assert.Equal(Pixels(3072, 0), dataset.GetImage(0).ToArray());
        Assert.Equal(Pixels(3072, 1), dataset.GetImage(1).ToArray());
        // The red plane comes first: pixel (row 0, col 1) of the green channel is byte 1 + 1024 + 1 of the record.
        Assert.Equal(Pixels(3072, 1)[1024 + 1], dataset.Pixels[3072 + 1024 + 1]);
    }

    [Fact]
    public void LoadConcatenatesFilesInOrder()
    {
        string a = _dir.Write("data_batch_1.bin", Records([1, 2]));
        string b = _dir.Write("data_batch_2.bin", Records([4], salt: 7));
        var dataset = Cifar10Reader.Load([a, b], "cifar10/train");
        Assert.Equal(new byte[] { 1, 2, 4 }, dataset.Labels);
        Assert.Equal(Pixels(3072, 7), dataset.GetImage(2).ToArray());
    }

    [Fact]
    public void TruncatedRecord()
    {
        byte[] file = Records([1, 2])[..^5];
        string path = _dir.Write("test_batch.bin", file);
        var e = Assert.Throws<DataException>(() => Cifar10Reader.Load([path], "t"));
        Assert.Equal(path, e.FileName);
        Assert.Equal(6141, e.Offset);
        Assert.Equal($"{path}: truncated at byte 6,141: expected 3,073 bytes for record 1 starting at byte 3,073, found 3,068", e.Message);
    }

    [Fact]
    public void LabelAboveNine()
    {
        var e = Assert.Throws<DataException>(() => Cifar10Reader.Read(new MemoryStream(Records([0, 10])), "batch.bin", "t"));
        Assert.Equal(3073, e.Offset);
        Assert.Equal("batch.bin: label 10 of record 1 at byte 3,073: expected 0..9", e.Message);
    }

    [Fact]
    public void EmptyFileAndMissingFile()
    {
        var e = Assert.Throws<DataException>(() => Cifar10Reader.Read(new MemoryStream(), "empty.bin", "t"));
        Assert.Equal("empty.bin: empty file at byte 0: expected 3,073-byte records (1 label byte + 3,072 pixel bytes)", e.Message);

        string missing = Path.Combine(_dir.Path, "data_batch_9.bin");
        e = Assert.Throws<DataException>(() => Cifar10Reader.Load([missing], "t"));
        Assert.Equal($"{missing}: file not found", e.Message);
    }
}
