using PimQuant.Data;

namespace PimQuant.Experiments;

/// <summary>
/// Where PimQuant finds its embedded files: the repository root (holding data/ and models/), found by
/// walking up from the working directory and from the executable.
/// </summary>
public static class Workspace
{
    /// <summary>The repository root, or null when PimQuant runs outside a checkout.</summary>
    public static string? Root { get; } = FindRoot();

    private static string? FindRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "PimQuant.slnx")) && Directory.Exists(Path.Combine(dir.FullName, "data")))
                    return dir.FullName;
        return null;
    }

    /// <summary>The embedded default model.</summary>
    public static string DefaultModel => Path.Combine(Root ?? ".", "models", "resnet20-fmnist.onnx");

    /// <summary>Directories searched for a dataset: the explicit one only if given, else the repository's data/NAME, then Debian's.</summary>
    public static IReadOnlyList<string> DatasetRoots(string name, DirectoryInfo? explicitDir)
    {
        if (explicitDir is not null) return [explicitDir.FullName];
        var roots = new List<string>();
        if (Root is not null) roots.Add(Path.Combine(Root, "data", name));
        roots.Add(Path.Combine("/usr/share/datasets", name));
        return roots;
    }

    /// <summary>Names of the datasets pimq knows.</summary>
    public static string[] KnownDatasets => [.. DatasetCatalog.All.Select(d => d.Name)];

    /// <summary>Loads a dataset split; a missing, unknown or corrupt dataset is an <see cref="ExperimentException"/> naming the file.</summary>
    public static ImageDataset LoadDataset(string name, string split, DirectoryInfo? explicitDir)
    {
        try
        {
            return new DatasetLocator(DatasetRoots(name, explicitDir)).Load(DatasetCatalog.Get(name), DatasetCatalog.ParseSplit(split));
        }
        catch (DataException e)
        {
            throw new ExperimentException(e.Message);
        }
    }
}
