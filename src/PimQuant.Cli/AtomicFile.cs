using System.Text;

namespace PimQuant.Cli;

/// <summary>
/// Files written whole or not at all: the content goes to <c>PATH.tmp</c> beside the target, is flushed to
/// disk and renamed over the target, so a crash or SIGKILL at any moment leaves either the old file or the
/// new one, never a torn one (rename within a directory is atomic on POSIX file systems).
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="text"/> (UTF-8, no byte-order mark) to <paramref name="path"/> atomically,
    /// creating its directory if needed.</summary>
    public static void WriteAllText(string path, string text)
    {
        string full = Path.GetFullPath(path);
        if (Path.GetDirectoryName(full) is { } dir) Directory.CreateDirectory(dir);
        string tmp = full + ".tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(new UTF8Encoding(false).GetBytes(text));
            stream.Flush(flushToDisk: true);
        }
        File.Move(tmp, full, overwrite: true);
    }
}
