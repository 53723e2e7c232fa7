namespace PimQuant.Data;

/// <summary>Reads the binary version of CIFAR-10 (<c>data_batch_1.bin</c> .. <c>data_batch_5.bin</c>,
/// <c>test_batch.bin</c>): records of 1 label byte (0..9) followed by 3,072 pixel bytes, the 32×32 red
/// plane, then green, then blue, each row-major, which is already CHW order. The official files hold
/// 10,000 records each; any positive number of whole records is accepted.</summary>
public static class Cifar10Reader
{
    /// <summary>Image side in pixels.</summary>
    public const int Side = 32;

    /// <summary>Colour channels (RGB).</summary>
    public const int Channels = 3;

    /// <summary>Number of classes; labels are 0..9.</summary>
    public const int Classes = 10;

    /// <summary>Pixel bytes per record.</summary>
    public const int ImageSize = Channels * Side * Side;

    /// <summary>Bytes per record: the label, then the pixels.</summary>
    public const int RecordSize = 1 + ImageSize;

    /// <summary>Most records accepted from one stream, 10 times the official batch size, so a wrong
    /// multi-gigabyte file fails fast instead of filling memory.</summary>
    public const int MaxRecordsPerFile = 100_000;

    /// <summary>Reads one batch file's records from <paramref name="stream"/>, which is left open.</summary>
    /// <param name="stream">The file's bytes, from the start; need not be seekable.</param>
    /// <param name="sourceName">Name used in error messages, normally the path.</param>
    /// <param name="name">The dataset's display name.</param>
    /// <exception cref="DataException">The data is empty, ends inside a record or has a label above 9.</exception>
    public static ImageDataset Read(Stream stream, string sourceName, string name)
    {
        var (pixels, labels) = ReadRecords(stream, sourceName);
        return new ImageDataset(name, Channels, Side, Side, Classes, pixels, labels);
    }

    /// <summary>Reads one or more batch files, in the order given, into one dataset.</summary>
    /// <param name="paths">The batch files, e.g. the five training batches.</param>
    /// <param name="name">The dataset's display name, e.g. <c>cifar10/train</c>.</param>
    /// <exception cref="DataException">A file is missing or malformed.</exception>
    public static ImageDataset Load(IReadOnlyList<string> paths, string name)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentOutOfRangeException.ThrowIfZero(paths.Count);
        var parts = new List<(byte[] Pixels, byte[] Labels)>(paths.Count);
        foreach (string path in paths)
        {
            using var stream = DataReader.OpenFile(path);
            parts.Add(ReadRecords(stream, path));
        }
        var pixels = new byte[parts.Sum(p => (long)p.Pixels.Length)];
        var labels = new byte[parts.Sum(p => p.Labels.Length)];
        int pixelAt = 0, labelAt = 0;
        foreach (var (p, l) in parts)
        {
            p.CopyTo(pixels, pixelAt);
            l.CopyTo(labels, labelAt);
            pixelAt += p.Length;
            labelAt += l.Length;
        }
        return new ImageDataset(name, Channels, Side, Side, Classes, pixels, labels);
    }

    private static (byte[] Pixels, byte[] Labels) ReadRecords(Stream stream, string sourceName)
    {
        // No gzip detection: the official archive is a tarball, and a batch file's first byte is a label.
        using var reader = DataReader.Open(stream, sourceName, detectGzip: false);
        byte[] data = reader.ReadToEnd((long)MaxRecordsPerFile * RecordSize,
            $"at most {DataException.N(MaxRecordsPerFile)} records of {DataException.N(RecordSize)} bytes");
        if (data.Length == 0)
            throw reader.Error(0, "empty file", $"{DataException.N(RecordSize)}-byte records (1 label byte + {DataException.N(ImageSize)} pixel bytes)");
        int records = data.Length / RecordSize;
        int partial = data.Length % RecordSize;
        if (partial != 0)
            throw reader.Error(data.Length, "truncated",
                $"{DataException.N(RecordSize)} bytes for record {DataException.N(records)} starting at byte " +
                $"{DataException.N((long)records * RecordSize)}, found {DataException.N(partial)}");

        var pixels = new byte[records * ImageSize];
        var labels = new byte[records];
        for (int i = 0; i < records; i++)
        {
            int at = i * RecordSize;
            byte label = data[at];
            if (label >= Classes)
                throw reader.Error(at, $"label {label} of record {DataException.N(i)}", $"0..{Classes - 1}");
            labels[i] = label;
            data.AsSpan(at + 1, ImageSize).CopyTo(pixels.AsSpan(i * ImageSize));
        }
        return (pixels, labels);
    }
}
