using System.Globalization;

namespace PimQuant.Data;

/// <summary>A dataset that cannot be found, read or trusted. The message is meant for the user: it
/// names the file (or the directories searched) and, for corrupt or truncated content, the byte
/// offset and what was expected there, e.g.
/// <c>t10k-images-idx3-ubyte.gz: truncated at byte 7,840,016 of the decompressed data: expected
/// 7,840,000 pixel bytes after the 16-byte header</c>.</summary>
public class DataException : Exception
{
    /// <summary>Creates an exception with a complete user-facing message.</summary>
    /// <param name="message">The whole message, already naming the file concerned.</param>
    /// <param name="fileName">The file (or stream name) concerned, if any.</param>
    /// <param name="offset">The byte offset of the problem within <paramref name="fileName"/>, if known.</param>
    /// <param name="innerException">The low-level cause (I/O or decompression error), if any.</param>
    public DataException(string message, string? fileName = null, long? offset = null, Exception? innerException = null)
        : base(message, innerException)
    {
        FileName = fileName;
        Offset = offset;
    }

    /// <summary>The file or stream name the problem is in; null when the problem is not one file's
    /// (e.g. a dataset missing from every searched directory).</summary>
    public string? FileName { get; }

    /// <summary>The byte offset of the problem; null when it has none (missing file) or is unknown.
    /// For gzip-compressed files it counts decompressed bytes unless the message says otherwise.</summary>
    public long? Offset { get; }

    /// <summary>Formats a count or offset the same way in every message, whatever the current culture.</summary>
    internal static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
