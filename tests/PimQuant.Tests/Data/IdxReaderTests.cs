using PimQuant.Data;
using Xunit;
using static PimQuant.Tests.Data.TestData;

namespace PimQuant.Tests.Data;

public sealed class IdxReaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static DataException Fails(Action read) => Assert.Throws<DataException>(read);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ImagesAndLabelsRoundTrip(bool gzip)
    {
        byte[] pixels = Pixels(3 * 2 * 5);
        byte[] images = Idx(IdxReader.ImagesMagic, [3, 2, 5], pixels);
        byte[] labels = Idx(IdxReader.LabelsMagic, [3], [7, 0, 9]);
        string suffix = gzip ? ".gz" : "";
        string imagesPath = _dir.Write("imgs" + suffix, gzip ? Gzip(images) : images);
        string labelsPath = _dir.Write("lbls" + suffix, gzip ? Gzip(labels) : labels);

        var read = IdxReader.ReadImages(imagesPath);
        Assert.Equal((3, 2, 5), (read.Count, read.Height, read.Width));
        Assert.Equal(pixels, read.Pixels);
        Assert.Equal(new byte[] { 7, 0, 9 }, IdxReader.ReadLabels(labelsPath));

        var dataset = IdxReader.LoadPair(imagesPath, labelsPath, "tiny");
        Assert.Equal(("tiny", 3, 1, 2, 5, 10), (dataset.Name, dataset.Count, dataset.Channels, dataset.Height, dataset.Width, dataset.Classes));
        Assert.Equal(pixels.AsSpan(10, 10).ToArray(), dataset.GetImage(1).ToArray());
        Assert.Equal(new byte[] { 7, 0, 9 }, dataset.Labels);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NonSeekableStreamsWork(bool gzip)
    {
        byte[] pixels = Pixels(4 * 3 * 3, salt: 5);
        byte[] file = Idx(IdxReader.ImagesMagic, [4, 3, 3], pixels);
        var read = IdxReader.ReadImages(new TrickleStream(gzip ? Gzip(file) : file, chunk: 3), "pipe");
        Assert.Equal(pixels, read.Pixels);
    }

    [Fact]
    public void EmptyFile()
    {
        string path = _dir.Write("empty-idx3-ubyte", []);
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal(path, e.FileName);
        Assert.Equal(0, e.Offset);
        Assert.Equal($"{path}: empty file at byte 0: expected a 16-byte IDX header (IDX unsigned-byte 3-D images)", e.Message);
    }

    [Fact]
    public void TruncatedHeader()
    {
        string path = _dir.Write("short-idx3-ubyte", Idx(IdxReader.ImagesMagic, [5, 28], []));
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal(12, e.Offset);
        Assert.Equal($"{path}: truncated header at byte 12: expected a 16-byte IDX header (IDX unsigned-byte 3-D images)", e.Message);
    }

    [Fact]
    public void TruncatedPixels()
    {
        string path = _dir.Write("cut-idx3-ubyte", Idx(IdxReader.ImagesMagic, [3, 2, 2], Pixels(7)));
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal(path, e.FileName);
        Assert.Equal(23, e.Offset);
        Assert.Equal($"{path}: truncated at byte 23: expected 12 pixel bytes (3 images of 2×2) after the 16-byte header", e.Message);
    }

    [Fact]
    public void TruncatedPixelsInGzipCountDecompressedBytes()
    {
        byte[] file = Idx(IdxReader.ImagesMagic, [1000, 10, 10], Pixels(99_990));
        string path = _dir.Write("cut-idx3-ubyte.gz", Gzip(file));
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal(100_006, e.Offset);
        Assert.StartsWith($"{path}: truncated at byte 100,006 of the decompressed data: expected 100,000 pixel bytes", e.Message);
    }

    [Fact]
    public void TruncatedLabels()
    {
        string path = _dir.Write("cut-idx1-ubyte", Idx(IdxReader.LabelsMagic, [10], [1, 2, 3]));
        var e = Fails(() => IdxReader.ReadLabels(path));
        Assert.Equal(11, e.Offset);
        Assert.Equal($"{path}: truncated at byte 11: expected 10 label bytes after the 8-byte header", e.Message);
    }

    [Fact]
    public void WrongMagicSaysWhatWasFoundAndExpected()
    {
        string path = _dir.Write("t10k-labels-idx1-ubyte", Idx(IdxReader.LabelsMagic, [3], [1, 2, 3]));
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal(0, e.Offset);
        Assert.Equal($"{path}: wrong magic number 0x00000801 (IDX unsigned-byte 1-D labels) at byte 0: " +
                     "expected 0x00000803 (IDX unsigned-byte 3-D images)", e.Message);

        string text = _dir.Write("notes.txt", "hello world, not IDX"u8.ToArray());
        Assert.Contains("(not an IDX file)", Fails(() => IdxReader.ReadLabels(text)).Message);
    }

    [Theory]
    [InlineData(0, 28, 28, 4, "image count 0")]
    [InlineData(5, 0, 28, 8, "row count 0")]
    [InlineData(5, 28, 0, 12, "column count 0")]
    public void ZeroDimensions(int count, int rows, int cols, long offset, string what)
    {
        string path = _dir.Write("zero-idx3-ubyte", Idx(IdxReader.ImagesMagic, [count, rows, cols], []));
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal(offset, e.Offset);
        Assert.Equal($"{path}: {what} at byte {offset}: expected at least 1", e.Message);
    }

    [Fact]
    public void AbsurdDimensionsFailBeforeAllocating()
    {
        string tall = _dir.Write("tall-idx3-ubyte", Idx(IdxReader.ImagesMagic, [1, 100_000, 28], []));
        var e = Fails(() => IdxReader.ReadImages(tall));
        Assert.Equal(8, e.Offset);
        Assert.Contains("row count 100,000 at byte 8: expected at most 16,384", e.Message);

        string many = _dir.Write("many-idx3-ubyte", Idx(IdxReader.ImagesMagic, [int.MaxValue, 28, 28], []));
        e = Fails(() => IdxReader.ReadImages(many));
        Assert.Equal(4, e.Offset);
        Assert.Contains("image count 2,147,483,647 at byte 4: expected at most", e.Message);

        // 0xFFFFFFFF does not fit a signed count.
        var huge = Idx(IdxReader.LabelsMagic, [0], []);
        huge[4] = huge[5] = huge[6] = huge[7] = 0xff;
        e = Fails(() => IdxReader.ReadLabels(new MemoryStream(huge), "huge"));
        Assert.Equal(4, e.Offset);
        Assert.StartsWith("huge: label count 4,294,967,295 at byte 4", e.Message);

        // A header claiming many images on a tiny file is reported as truncated, not as out of memory.
        string bluff = _dir.Write("bluff-idx3-ubyte", Idx(IdxReader.ImagesMagic, [2_000_000, 28, 28], Pixels(100)));
        e = Fails(() => IdxReader.ReadImages(bluff));
        Assert.Equal(116, e.Offset);
    }

    [Fact]
    public void TrailingDataIsRejected()
    {
        byte[] file = [.. Idx(IdxReader.ImagesMagic, [3, 2, 2], Pixels(12)), 0x42];
        string path = _dir.Write("long-idx3-ubyte", file);
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal(28, e.Offset);
        Assert.Equal($"{path}: unexpected trailing data at byte 28: expected the end of the file after 3 images of 2×2", e.Message);

        string labels = _dir.Write("long-idx1-ubyte.gz", Gzip([.. Idx(IdxReader.LabelsMagic, [2], [1, 2]), 9, 9]));
        e = Fails(() => IdxReader.ReadLabels(labels));
        Assert.Equal(10, e.Offset);
        Assert.Contains("unexpected trailing data at byte 10 of the decompressed data", e.Message);
    }

    [Fact]
    public void CorruptGzipNamesTheFile()
    {
        byte[] gz = Gzip(Idx(IdxReader.ImagesMagic, [50, 20, 20], Pixels(20_000)));
        // Damage the deflate stream just after the 10-byte gzip header.
        for (int i = 10; i < 30; i++) gz[i] ^= 0x5a;
        string path = _dir.Write("bad-idx3-ubyte.gz", gz);
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal(path, e.FileName);
        Assert.StartsWith($"{path}: corrupt gzip data at byte ", e.Message);
        Assert.Contains("compressed bytes", e.Message);
        Assert.NotNull(e.Offset);
    }

    [Fact]
    public void GzipChecksumMismatchIsDetected()
    {
        byte[] gz = Gzip(Idx(IdxReader.LabelsMagic, [4], [1, 2, 3, 4]));
        gz[^8] ^= 0xff; // the CRC-32 in the gzip trailer
        string path = _dir.Write("crc-idx1-ubyte.gz", gz);
        var e = Fails(() => IdxReader.ReadLabels(path));
        Assert.StartsWith($"{path}: corrupt gzip data", e.Message);
    }

    [Fact]
    public void TruncatedGzipIsReported()
    {
        byte[] gz = Gzip(Idx(IdxReader.ImagesMagic, [50, 20, 20], Pixels(20_000)));
        string path = _dir.Write("half-idx3-ubyte.gz", gz[..(gz.Length / 2)]);
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal(path, e.FileName);
        Assert.Matches("(truncated|corrupt gzip data) at byte [0-9,]+ of the decompressed data", e.Message);
    }

    [Fact]
    public void LabelCountMismatch()
    {
        string images = _dir.Write("i-idx3-ubyte", Idx(IdxReader.ImagesMagic, [3, 2, 2], Pixels(12)));
        string labels = _dir.Write("l-idx1-ubyte", Idx(IdxReader.LabelsMagic, [2], [1, 2]));
        var e = Fails(() => IdxReader.LoadPair(images, labels, "x"));
        Assert.Equal(labels, e.FileName);
        Assert.Equal(4, e.Offset);
        Assert.Equal($"{labels}: label count 2 at byte 4: expected 3, the number of images in {images}", e.Message);
    }

    [Fact]
    public void LabelOutOfRange()
    {
        string images = _dir.Write("i-idx3-ubyte", Idx(IdxReader.ImagesMagic, [3, 2, 2], Pixels(12)));
        string labels = _dir.Write("l-idx1-ubyte", Idx(IdxReader.LabelsMagic, [3], [1, 9, 10]));
        var e = Fails(() => IdxReader.LoadPair(images, labels, "x"));
        Assert.Equal(10, e.Offset);
        Assert.Equal($"{labels}: label 10 (of image 2) at byte 10: expected 0..9", e.Message);
        // The same labels are fine with 11 classes.
        Assert.Equal(11, IdxReader.LoadPair(images, labels, "x", classes: 11).Classes);
    }

    [Fact]
    public void MissingFile()
    {
        string path = Path.Combine(_dir.Path, "nowhere", "t10k-images-idx3-ubyte.gz");
        var e = Fails(() => IdxReader.ReadImages(path));
        Assert.Equal($"{path}: file not found", e.Message);
        Assert.Equal(path, e.FileName);
        Assert.Null(e.Offset);
    }
}
