using System.Text;

namespace PimQuant.Data;

/// <summary>The files of one split of a dataset, as found by <see cref="DatasetLocator"/>.</summary>
/// <param name="Dataset">The dataset.</param>
/// <param name="Split">The split.</param>
/// <param name="Directory">The directory the files are in.</param>
/// <param name="Paths">Full paths, in <see cref="DatasetInfo.FileNames"/> order (with <c>.gz</c> where that is what exists).</param>
public sealed record DatasetFiles(DatasetInfo Dataset, DatasetSplit Split, string Directory, IReadOnlyList<string> Paths)
{
    /// <summary>Reads the files into memory.</summary>
    /// <exception cref="DataException">A file is unreadable or malformed.</exception>
    public ImageDataset Load()
    {
        string name = $"{Dataset.Name}/{Split.ToString().ToLowerInvariant()}";
        return Dataset.Format switch
        {
            DatasetFormat.Idx => IdxReader.LoadPair(Paths[0], Paths[1], name, Dataset.Classes),
            DatasetFormat.Cifar10Binary => Cifar10Reader.Load(Paths, name),
            _ => throw new InvalidOperationException($"unknown format {Dataset.Format}"),
        };
    }
}

/// <summary>Finds dataset files in an explicit, ordered list of directories; the first directory that
/// holds every file of the requested split wins. The library reads no environment variables and has
/// no default locations: the caller decides (the CLI passes <c>--data DIR</c> if given, else the
/// repository's <c>data/&lt;name&gt;</c>, else <c>/usr/share/datasets/&lt;name&gt;</c>).</summary>
public sealed class DatasetLocator
{
    /// <summary>The sub-directory that the official CIFAR-10 binary archive extracts to.</summary>
    public const string CifarBatchesDirectory = "cifar-10-batches-bin";

    /// <summary>Creates a locator searching <paramref name="searchDirectories"/> in order.</summary>
    /// <param name="searchDirectories">Directories holding a dataset's files (not their parent). For
    /// CIFAR-10 a directory may hold the batch files or a <c>cifar-10-batches-bin</c> sub-directory.</param>
    public DatasetLocator(IEnumerable<string> searchDirectories)
    {
        ArgumentNullException.ThrowIfNull(searchDirectories);
        SearchDirectories = searchDirectories.ToArray();
        foreach (string dir in SearchDirectories)
            ArgumentException.ThrowIfNullOrWhiteSpace(dir, nameof(searchDirectories));
    }

    /// <summary>The directories searched, in order.</summary>
    public IReadOnlyList<string> SearchDirectories { get; }

    /// <summary>Finds the files of <paramref name="split"/>.</summary>
    /// <exception cref="DataException">No directory holds them all; the message lists every directory
    /// searched, what was missing there, and how to obtain the dataset.</exception>
    public DatasetFiles Locate(DatasetInfo dataset, DatasetSplit split)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var fileNames = dataset.FileNames(split);
        var report = new StringBuilder();
        foreach (string dir in SearchDirectories)
        {
            if (!Directory.Exists(dir))
            {
                report.Append($"\n  {dir}: no such directory");
                continue;
            }
            string[] candidates = dataset.Format == DatasetFormat.Cifar10Binary
                ? [Path.Combine(dir, CifarBatchesDirectory), dir]
                : [dir];
            foreach (string candidate in candidates.Where(Directory.Exists))
            {
                var paths = fileNames.Select(f => Find(candidate, f, dataset.Format)).ToArray();
                if (paths.All(p => p is not null))
                    return new DatasetFiles(dataset, split, candidate, paths!);
                var missing = fileNames.Where((_, i) => paths[i] is null).Select(f => Spell(f, dataset.Format));
                report.Append($"\n  {candidate}: missing {string.Join(", ", missing)}");
            }
        }
        if (SearchDirectories.Count == 0) report.Append("\n  (no directories given)");

        string splitName = split.ToString().ToLowerInvariant();
        throw new DataException(
            $"{dataset.DisplayName} {splitName} split not found. Searched:{report}\n{HowToObtain(dataset, fileNames)}");
    }

    /// <summary>Finds and reads <paramref name="split"/>.</summary>
    /// <exception cref="DataException">The files are missing, unreadable or malformed.</exception>
    public ImageDataset Load(DatasetInfo dataset, DatasetSplit split) => Locate(dataset, split).Load();

    private static string? Find(string dir, string fileName, DatasetFormat format)
    {
        string plain = Path.Combine(dir, fileName);
        if (File.Exists(plain)) return plain;
        if (format != DatasetFormat.Idx) return null;
        string gzipped = plain + ".gz";
        return File.Exists(gzipped) ? gzipped : null;
    }

    private static string Spell(string fileName, DatasetFormat format) =>
        format == DatasetFormat.Idx ? fileName + "[.gz]" : fileName;

    private static string HowToObtain(DatasetInfo dataset, IReadOnlyList<string> fileNames)
    {
        string files = string.Join(", ", fileNames.Select(f => Spell(f, dataset.Format)));
        return dataset.Format switch
        {
            DatasetFormat.Cifar10Binary =>
                $"To use {dataset.DisplayName}, download the binary version (cifar-10-binary.tar.gz from " +
                $"https://www.cs.toronto.edu/~kriz/cifar.html), extract it and pass --data DIR pointing at the extracted " +
                $"{CifarBatchesDirectory} directory (holding {files}).",
            _ when dataset.DebianPackage is { } package =>
                $"To get it, install the Debian package {package} (apt-get install {package}), which puts it in " +
                $"/usr/share/datasets/{dataset.Name}, or pass --data DIR with a directory holding {files}.",
            _ => $"To use {dataset.DisplayName}, pass --data DIR with a directory holding {files} " +
                 "(Debian has no package for it).",
        };
    }
}
