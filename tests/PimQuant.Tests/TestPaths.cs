using PimQuant.Data;

namespace PimQuant.Tests;

/// <summary>Files of the repository the tests read (the embedded dataset, models).</summary>
public static class TestPaths
{
    /// <summary>The repository root, found by walking up from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PimQuant.slnx"))) return dir.FullName;
        throw new InvalidOperationException("the tests must run from inside the PimQuant repository");
    }

    private static readonly Lazy<ImageDataset> FashionTestSet = new(() =>
        new DatasetLocator([Path.Combine(Root, "data", "fashion-mnist")]).Load(DatasetCatalog.FashionMnist, DatasetSplit.Test));

    /// <summary>The embedded Fashion-MNIST test split (10,000 images), loaded once.</summary>
    public static ImageDataset FashionMnistTest => FashionTestSet.Value;
}
