using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using PimQuant.Data;

namespace PimQuant.Tests.Data;

/// <summary>Builders of synthetic dataset files and in-memory datasets, and the location of the
/// repository's embedded data.</summary>
internal static class TestData
{
    /// <summary>An IDX file: big-endian magic, big-endian dimension sizes, then the payload.</summary>
    public static byte[] Idx(uint magic, int[] dims, byte[] payload)
    {
        var bytes = new byte[4 + 4 * dims.Length + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, magic);
        for (int i = 0; i < dims.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        payload.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static byte[] Gzip(byte[] raw)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(raw);
        return output.ToArray();
    }

    /// <summary>Distinct-looking pixel bytes, never 0 so that zero padding is recognisable.</summary>
    public static byte[] Pixels(int count, int salt = 0) =>
        Enumerable.Range(0, count).Select(i => (byte)(1 + (i * 37 + salt * 11) % 255)).ToArray();

    /// <summary>A dataset whose image i is recognisable from its bytes and whose label is i mod classes.</summary>
    public static ImageDataset Synthetic(int count, int channels = 1, int height = 4, int width = 4, int classes = 10)
    {
        int size = channels * height * width;
        var pixels = new byte[count * size];
        for (int i = 0; i < count; i++)
            for (int j = 0; j < size; j++)
                pixels[i * size + j] = (byte)(1 + (i * 31 + j * 7) % 255);
        var labels = Enumerable.Range(0, count).Select(i => (byte)(i % classes)).ToArray();
        return new ImageDataset("synthetic", channels, height, width, classes, pixels, labels);
    }

    /// <summary>data/&lt;name&gt; of the repository: found above the test binaries or, when they are built
    /// elsewhere (e.g. with --artifacts-path), above this source file.</summary>
    public static string RepoDataDirectory(string name, [CallerFilePath] string sourceFile = "")
    {
        foreach (string? start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile) })
        {
            for (var dir = start is null ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "data", name);
                if (File.Exists(Path.Combine(dir.FullName, "PimQuant.slnx")) && Directory.Exists(candidate)) return candidate;
            }
        }
        throw new DirectoryNotFoundException($"data/{name} not found above {AppContext.BaseDirectory} or {sourceFile}");
    }
}

/// <summary>A fresh directory under the system temp folder, deleted on disposal.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pimq-data-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Write(string fileName, byte[] bytes)
    {
        string path = System.IO.Path.Combine(Path, fileName);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Hands out a byte array a few bytes at a time and cannot seek, like a pipe.</summary>
internal sealed class TrickleStream(byte[] data, int chunk) : Stream
{
    private int _position;

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = Math.Min(Math.Min(count, chunk), data.Length - _position);
        Array.Copy(data, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
