using System.Buffers.Binary;

namespace PimQuant.Data;

/// <summary>Images read from an IDX file: <see cref="Count"/> greyscale images of
/// <see cref="Height"/>×<see cref="Width"/> bytes, row-major, one after another.</summary>
/// <param name="Count">Number of images.</param>
/// <param name="Height">Rows per image.</param>
/// <param name="Width">Columns per image.</param>
/// <param name="Pixels">Count·Height·Width bytes, 0..255.</param>
public sealed record IdxImages(int Count, int Height, int Width, byte[] Pixels);

/// <summary>Reads the IDX format of MNIST and Fashion-MNIST: a big-endian magic number
/// (<c>0x00000803</c> for unsigned-byte 3-D image files, <c>0x00000801</c> for unsigned-byte 1-D label
/// files), one big-endian 32-bit size per dimension, then the bytes. Files are gunzipped transparently
/// when they start with the gzip magic 1f 8b. Every defect, including bytes after the expected end, is
/// reported as a <see cref="DataException"/> naming the file and the byte offset.</summary>
public static class IdxReader
{
    /// <summary>Magic number of an IDX file of unsigned bytes with 3 dimensions (images).</summary>
    public const uint ImagesMagic = 0x00000803;

    /// <summary>Magic number of an IDX file of unsigned bytes with 1 dimension (labels).</summary>
    public const uint LabelsMagic = 0x00000801;

    /// <summary>Largest accepted image side. Real IDX images are tens of pixels; a larger value almost
    /// certainly means a damaged header.</summary>
    public const int MaxImageSide = 16384;

    /// <summary>Reads an image file (raw or gzipped) from <paramref name="stream"/>, which is left open.</summary>
    /// <param name="stream">The file's bytes, from the start; need not be seekable.</param>
    /// <param name="sourceName">Name used in error messages, normally the path.</param>
    /// <exception cref="DataException">The data is not a well-formed IDX image file.</exception>
    public static IdxImages ReadImages(Stream stream, string sourceName)
    {
        using var reader = DataReader.Open(stream, sourceName, detectGzip: true);
        var dims = ReadHeader(reader, ImagesMagic, ["image count", "row count", "column count"]);
        int count = dims[0], height = dims[1], width = dims[2];
        if (height > MaxImageSide) throw reader.Error(8, $"row count {DataException.N(height)}", $"at most {DataException.N(MaxImageSide)}");
        if (width > MaxImageSide) throw reader.Error(12, $"column count {DataException.N(width)}", $"at most {DataException.N(MaxImageSide)}");
        long imageSize = (long)height * width;
        if (count * imageSize > Array.MaxLength)
            throw reader.Error(4, $"image count {DataException.N(count)}",
                $"at most {DataException.N(Array.MaxLength / imageSize)} images of {height}×{width} (the in-memory limit)");

        long pixelBytes = count * imageSize;
        var pixels = reader.ReadExactly(pixelBytes, at => reader.Error(at, "truncated",
            $"{DataException.N(pixelBytes)} pixel bytes ({DataException.N(count)} images of {height}×{width}) after the 16-byte header"));
        reader.ExpectEnd($"the end of the file after {DataException.N(count)} images of {height}×{width}");
        return new IdxImages(count, height, width, pixels);
    }

    /// <summary>Reads a label file (raw or gzipped) from <paramref name="stream"/>, which is left open.</summary>
    /// <param name="stream">The file's bytes, from the start; need not be seekable.</param>
    /// <param name="sourceName">Name used in error messages, normally the path.</param>
    /// <returns>One byte per label.</returns>
    /// <exception cref="DataException">The data is not a well-formed IDX label file.</exception>
    public static byte[] ReadLabels(Stream stream, string sourceName)
    {
        using var reader = DataReader.Open(stream, sourceName, detectGzip: true);
        int count = ReadHeader(reader, LabelsMagic, ["label count"])[0];
        if (count > Array.MaxLength)
            throw reader.Error(4, $"label count {DataException.N(count)}", $"at most {DataException.N(Array.MaxLength)} (the in-memory limit)");
        var labels = reader.ReadExactly(count, at => reader.Error(at, "truncated",
            $"{DataException.N(count)} label bytes after the 8-byte header"));
        reader.ExpectEnd($"the end of the file after {DataException.N(count)} labels");
        return labels;
    }

    /// <summary>Reads an image file, raw or gzipped.</summary>
    /// <exception cref="DataException">The file is missing, unreadable or malformed.</exception>
    public static IdxImages ReadImages(string path)
    {
        using var stream = DataReader.OpenFile(path);
        return ReadImages(stream, path);
    }

    /// <summary>Reads a label file, raw or gzipped.</summary>
    /// <exception cref="DataException">The file is missing, unreadable or malformed.</exception>
    public static byte[] ReadLabels(string path)
    {
        using var stream = DataReader.OpenFile(path);
        return ReadLabels(stream, path);
    }

    /// <summary>Reads an image file and its label file into a single-channel dataset, checking that
    /// they hold the same number of entries and that every label is below <paramref name="classes"/>.</summary>
    /// <param name="imagesPath">The <c>*-images-idx3-ubyte[.gz]</c> file.</param>
    /// <param name="labelsPath">The <c>*-labels-idx1-ubyte[.gz]</c> file.</param>
    /// <param name="name">The dataset's display name, e.g. <c>fashion-mnist/test</c>.</param>
    /// <param name="classes">Number of classes (10 for MNIST and Fashion-MNIST).</param>
    /// <exception cref="DataException">A file is missing or malformed, or the two do not match.</exception>
    public static ImageDataset LoadPair(string imagesPath, string labelsPath, string name, int classes = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classes, 256);
        var images = ReadImages(imagesPath);
        var labels = ReadLabels(labelsPath);
        if (labels.Length != images.Count)
            throw new DataException(
                $"{labelsPath}: label count {DataException.N(labels.Length)} at byte 4: expected {DataException.N(images.Count)}, " +
                $"the number of images in {imagesPath}", labelsPath, 4);
        if (classes < 256)
        {
            int bad = labels.AsSpan().IndexOfAnyInRange((byte)classes, byte.MaxValue);
            if (bad >= 0)
                throw new DataException(
                    $"{labelsPath}: label {labels[bad]} (of image {DataException.N(bad)}) at byte {DataException.N(8 + bad)}: expected 0..{classes - 1}",
                    labelsPath, 8 + bad);
        }
        return new ImageDataset(name, 1, images.Height, images.Width, classes, images.Pixels, labels);
    }

    /// <summary>Reads and checks the magic number and the dimension sizes, each of which must be at least 1.</summary>
    private static int[] ReadHeader(DataReader reader, uint expectedMagic, string[] dimNames)
    {
        int headerSize = 4 + 4 * dimNames.Length;
        Span<byte> header = stackalloc byte[headerSize];
        int got = reader.Read(header);
        // The magic is checked before the length so that a short file of the wrong kind says so.
        if (got >= 4)
        {
            uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
            if (magic != expectedMagic)
                throw reader.Error(0, $"wrong magic number 0x{magic:X8} ({DescribeMagic(magic)})",
                    $"0x{expectedMagic:X8} ({DescribeMagic(expectedMagic)})");
        }
        if (got < headerSize)
            throw reader.Error(got, got == 0 ? "empty file" : "truncated header",
                $"a {headerSize}-byte IDX header ({DescribeMagic(expectedMagic)})");

        var dims = new int[dimNames.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            uint size = BinaryPrimitives.ReadUInt32BigEndian(header[(4 + 4 * i)..]);
            if (size == 0 || size > int.MaxValue)
                throw reader.Error(4 + 4 * i, $"{dimNames[i]} {DataException.N(size)}",
                    size == 0 ? "at least 1" : $"at most {DataException.N(int.MaxValue)}");
            dims[i] = (int)size;
        }
        return dims;
    }

    /// <summary>Says what a magic number denotes, so a swapped or foreign file is easy to recognise.</summary>
    private static string DescribeMagic(uint magic)
    {
        if (magic >> 16 != 0) return "not an IDX file";
        string? type = (magic >> 8 & 0xff) switch
        {
            0x08 => "unsigned-byte",
            0x09 => "signed-byte",
            0x0B => "int16",
            0x0C => "int32",
            0x0D => "float32",
            0x0E => "float64",
            _ => null,
        };
        if (type is null) return "unknown IDX element type";
        string what = magic switch
        {
            ImagesMagic => " images",
            LabelsMagic => " labels",
            _ => "",
        };
        return $"IDX {type} {magic & 0xff}-D{what}";
    }
}
