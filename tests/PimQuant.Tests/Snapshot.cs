namespace PimQuant.Tests;

/// <summary>
/// Text compared with a file under tests/PimQuant.Tests/Snapshots/. A change is a test failure showing the first differing line;
/// run the tests with PIMQ_UPDATE_SNAPSHOTS=1 to rewrite the files, then review the diff before committing it.
/// </summary>
public static class Snapshot
{
    /// <summary>The folder of the snapshot files in the source tree.</summary>
    public static string Folder => Path.Combine(TestPaths.Root, "tests", "PimQuant.Tests", "Snapshots");

    /// <summary>Asserts that <paramref name="actual"/> equals the snapshot <paramref name="name"/> (line ends normalised to \n).</summary>
    public static void Matches(string name, string actual)
    {
        string path = Path.Combine(Folder, name);
        actual = actual.Replace("\r\n", "\n");
        if (Environment.GetEnvironmentVariable("PIMQ_UPDATE_SNAPSHOTS") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"no snapshot {path}; run the test with PIMQ_UPDATE_SNAPSHOTS=1 to write it, then review it");
        string expected = File.ReadAllText(path).Replace("\r\n", "\n");
        if (expected == actual) return;
        var (e, a) = (expected.Split('\n'), actual.Split('\n'));
        int line = Enumerable.Range(0, Math.Min(e.Length, a.Length)).FirstOrDefault(i => e[i] != a[i], Math.Min(e.Length, a.Length));
        Assert.Fail($"{name} differs at line {line + 1}:\n  snapshot: {(line < e.Length ? e[line] : "(end)")}\n  actual:   {(line < a.Length ? a[line] : "(end)")}\n" +
                    "(PIMQ_UPDATE_SNAPSHOTS=1 rewrites the snapshot)");
    }
}
