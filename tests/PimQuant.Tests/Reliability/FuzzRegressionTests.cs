using PimQuant.Data;
using System.Text;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Spec;
using PimQuant.Onnx;

namespace PimQuant.Tests.Reliability;

/// <summary>
/// Every input the fuzzer kept (tests/fuzz/corpus) or found failing (tests/fuzz/findings) is
/// replayed: each reader must accept it or reject it with its own user-facing exception.
/// A finding that regresses fails here, or kills the test run if it crashes natively.
/// </summary>
public class FuzzRegressionTests
{
    private static readonly Dictionary<string, (Action<byte[]> read, Func<Exception, bool> expected)> Readers = new()
    {
        ["onnx"] = (bytes => { using var g = OnnxImporter.Import(bytes, "fuzz.onnx"); }, e => e is GraphException),
        ["idx-images"] = (bytes => IdxReader.ReadImages(new MemoryStream(bytes), "fuzz-images"), e => e is DataException),
        ["idx-labels"] = (bytes => IdxReader.ReadLabels(new MemoryStream(bytes), "fuzz-labels"), e => e is DataException),
        ["cifar10"] = (bytes => Cifar10Reader.Read(new MemoryStream(bytes), "fuzz.bin", "cifar10"), e => e is DataException),
        ["hardware-yaml"] = (bytes => HardwareSpecLoader.Parse(Encoding.UTF8.GetString(bytes), "fuzz.yaml"), e => e is HardwareSpecException),
    };

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in new[] { "findings", "corpus" })
            foreach (var target in Readers.Keys)
            {
                string dir = Path.Combine(TestPaths.Root, "tests", "fuzz", kind, target);
                if (!Directory.Exists(dir)) continue;
                foreach (var file in Directory.GetFiles(dir).Where(f => !f.EndsWith(".txt", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
                    data.Add(target, Path.GetRelativePath(TestPaths.Root, file));
            }
        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void ReaderAcceptsOrRejectsCleanly(string target, string file)
    {
        Torch.Ensure();
        var (read, expected) = Readers[target];
        try
        {
            read(File.ReadAllBytes(Path.Combine(TestPaths.Root, file)));
        }
        catch (Exception e) when (expected(e))
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
            Assert.DoesNotContain('\n', e.Message.TrimEnd());
        }
    }
}
