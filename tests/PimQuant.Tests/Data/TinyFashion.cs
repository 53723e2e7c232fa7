using PimQuant.Data;

namespace PimQuant.Tests.Data;

/// <summary>A small Fashion-MNIST-layout dataset directory cut from the embedded test split, for runs of pimq that must not need the training split.</summary>
internal static class TinyFashion
{
    /// <summary>Writes train (first <paramref name="trainCount"/> images) and test (the last <paramref name="testCount"/>) IDX files into a new directory <paramref name="dir"/>.</summary>
    public static string Write(string dir, int trainCount, int testCount)
    {
        Directory.CreateDirectory(dir);
        var all = TestPaths.FashionMnistTest;
        var (train, test) = (all.Slice(0, trainCount), all.Slice(all.Count - testCount, testCount));
        foreach (var (split, set) in new[] { ("train", train), ("t10k", test) })
        {
            File.WriteAllBytes(Path.Combine(dir, $"{split}-images-idx3-ubyte"), TestData.Idx(IdxReader.ImagesMagic, [set.Count, 28, 28], set.Pixels));
            File.WriteAllBytes(Path.Combine(dir, $"{split}-labels-idx1-ubyte"), TestData.Idx(IdxReader.LabelsMagic, [set.Count], set.Labels));
        }
        return dir;
    }
}
