using System.Text;

namespace PimQuant.Engine.Runtime;

/// <summary>
/// Files written whole or not at all (checkpoints, models, results): the content goes to a hidden temporary file
/// beside the target, named uniquely so two writers never share one, is flushed to disk and renamed over the
/// target. A crash or SIGKILL at any moment leaves the old file or the new one, never a torn one (a rename
/// within a directory is atomic on POSIX file systems); a failed write removes its temporary file.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>. The directory must exist: a mistyped
    /// path is an error, not a new directory.</summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="IOException">The file cannot be written (also anything <paramref name="write"/> throws).</exception>
    /// <exception cref="UnauthorizedAccessException">The directory or target is not writable.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full)!;
        string temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8, no byte-order mark) to <paramref name="path"/>.</summary>
    public static void WriteAllText(string path, string text) => Write(path, stream => stream.Write(new UTF8Encoding(false).GetBytes(text)));
}
