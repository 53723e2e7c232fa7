using System.IO.Compression;

namespace PimQuant.Data;

/// <summary>Reads a dataset file's bytes in order, gunzipping when asked to and the data starts with the
/// gzip magic, and turns every low-level failure into a <see cref="DataException"/> that names the
/// file and the byte offset. Shared by the IDX and CIFAR readers so their messages agree.</summary>
internal sealed class DataReader : IDisposable
{
    /// <summary>The first allocation for data of known or unknown length. Growing from here, rather than
    /// allocating what a header claims, keeps a tiny corrupt file from demanding gigabytes.</summary>
    private const int InitialChunk = 16 << 20;

    private readonly CountingStream _raw;
    private readonly Stream _data;

    /// <summary>Bytes the data is known to hold (uncompressed seekable input), else null. Sizes first
    /// allocations, so a small file costs little to read even when its header claims much.</summary>
    private readonly long? _length;

    private DataReader(string name, CountingStream raw, Stream data, bool compressed, long? length)
    {
        Name = name;
        _raw = raw;
        _data = data;
        Compressed = compressed;
        _length = length;
    }

    /// <summary>The file or stream name used in messages.</summary>
    public string Name { get; }

    /// <summary>Whether the data is being gunzipped; offsets then count decompressed bytes.</summary>
    public bool Compressed { get; }

    /// <summary>Bytes delivered so far, i.e. the offset of the next byte.</summary>
    public long Position { get; private set; }

    /// <summary>Wraps <paramref name="stream"/> (left open) for reading.</summary>
    public static DataReader Open(Stream stream, string name, bool detectGzip)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        long? length = stream.CanSeek ? Math.Max(0, stream.Length - stream.Position) : null;
        var raw = new CountingStream(stream);
        if (!detectGzip) return new DataReader(name, raw, raw, compressed: false, length);

        // Peek at two bytes and hand them back, so non-seekable streams work too.
        Span<byte> magic = stackalloc byte[2];
        int got = ReadRaw(raw, magic, name);
        raw.Unread(magic[..got]);
        bool gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        return gzip
            ? new DataReader(name, raw, new GZipStream(raw, CompressionMode.Decompress, leaveOpen: true), compressed: true, length: null)
            : new DataReader(name, raw, raw, compressed: false, length);
    }

    /// <summary>Opens a file for reading, reporting a missing or unreadable file as a <see cref="DataException"/>.</summary>
    public static FileStream OpenFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        // Opening a directory fails with "access denied", which would send the user chasing permissions.
        if (Directory.Exists(path)) throw new DataException($"{path}: is a directory, expected a file", path);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DataException($"{path}: file not found", path, innerException: e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new DataException($"{path}: permission denied", path, innerException: e);
        }
        catch (IOException e)
        {
            throw new DataException($"{path}: cannot open: {e.Message}", path, innerException: e);
        }
    }

    /// <summary>Fills <paramref name="buffer"/> as far as the data goes; fewer bytes only at the end.</summary>
    public int Read(Span<byte> buffer)
    {
        int total = 0;
        try
        {
            while (total < buffer.Length)
            {
                int n = _data.Read(buffer[total..]);
                if (n == 0) break;
                total += n;
            }
        }
        catch (InvalidDataException e)
        {
            // GZipStream reads ahead, so only an upper bound of the compressed position is known. Its own
            // message is left out: it says "unsupported compression method" for any damage, even a bad CRC.
            long at = Position + total;
            throw new DataException(
                $"{Name}: corrupt gzip data {At(at)} (within the first {DataException.N(_raw.Consumed)} compressed bytes): " +
                "expected an intact gzip stream; the file is damaged, fetch it again",
                Name, at, e);
        }
        catch (IOException e)
        {
            long at = Position + total;
            throw new DataException($"{Name}: read error {At(at)}: {e.Message}", Name, at, e);
        }
        Position += total;
        return total;
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes, or throws <paramref name="truncated"/>'s
    /// exception (given the offset where the data ended).</summary>
    public byte[] ReadExactly(long count, Func<long, DataException> truncated)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Array.MaxLength);
        var buffer = new byte[(int)Math.Min(count, FirstAllocation())];
        int filled = 0;
        while (true)
        {
            filled += Read(buffer.AsSpan(filled));
            if (filled < buffer.Length) throw truncated(Position);
            if (filled == count) return buffer;
            Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
        }
    }

    /// <summary>Reads everything that is left, up to <paramref name="limit"/> bytes; more is an error.</summary>
    public byte[] ReadToEnd(long limit, string expected)
    {
        var buffer = new byte[(int)Math.Min(limit + 1, FirstAllocation() + 1)];
        int filled = 0;
        while (true)
        {
            filled += Read(buffer.AsSpan(filled));
            if (filled < buffer.Length) return buffer.AsSpan(0, filled).ToArray();
            if (filled > limit) throw Error(limit, "too much data", expected);
            Array.Resize(ref buffer, (int)Math.Min(limit + 1, 2L * buffer.Length));
        }
    }

    /// <summary>How much to allocate first: what is left of a known length (at least 1, so reading can
    /// discover the end), else <see cref="InitialChunk"/>.</summary>
    private long FirstAllocation() =>
        _length is { } length ? Math.Clamp(length - Position, 1, InitialChunk) : InitialChunk;

    /// <summary>Throws unless the data ends here: trailing bytes usually mean a wrong or damaged file.</summary>
    public void ExpectEnd(string expected)
    {
        Span<byte> probe = stackalloc byte[1];
        long at = Position;
        if (Read(probe) != 0) throw Error(at, "unexpected trailing data", expected);
    }

    /// <summary>"at byte N", saying whether N counts decompressed bytes.</summary>
    public string At(long offset) =>
        Compressed ? $"at byte {DataException.N(offset)} of the decompressed data" : $"at byte {DataException.N(offset)}";

    /// <summary>The standard message: <c>file: problem at byte N: expected ...</c>.</summary>
    public DataException Error(long offset, string problem, string expected) =>
        new($"{Name}: {problem} {At(offset)}: expected {expected}", Name, offset);

    /// <summary>Releases the decompressor; the caller's stream stays open.</summary>
    public void Dispose()
    {
        if (!ReferenceEquals(_data, _raw)) _data.Dispose();
    }

    private static int ReadRaw(Stream stream, Span<byte> buffer, string name)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (IOException e)
        {
            throw new DataException($"{name}: read error at byte 0: {e.Message}", name, 0, e);
        }
    }

    /// <summary>A read-only pass-through that counts the bytes taken from the caller's stream (for the
    /// compressed position in gzip errors) and can hand back a peeked prefix.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private byte[] _pending = [];
        private int _pendingStart;

        /// <summary>Bytes taken from the underlying stream, minus those handed back and not yet re-read.</summary>
        public long Consumed { get; private set; }

        public void Unread(ReadOnlySpan<byte> bytes)
        {
            _pending = bytes.ToArray();
            _pendingStart = 0;
            Consumed -= bytes.Length;
        }

        public override int Read(Span<byte> buffer)
        {
            int n;
            if (_pendingStart < _pending.Length)
            {
                n = Math.Min(buffer.Length, _pending.Length - _pendingStart);
                _pending.AsSpan(_pendingStart, n).CopyTo(buffer);
                _pendingStart += n;
            }
            else
            {
                n = inner.Read(buffer);
            }
            Consumed += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
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
}
