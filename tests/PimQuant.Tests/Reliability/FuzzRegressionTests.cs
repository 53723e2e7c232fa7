using PimQuant.Data;
using System.Text;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Spec;
using PimQuant.Onnx;
using PimQuant.Quant.Config;

namespace PimQuant.Tests.Reliability;

/// <summary>
/// Every input the fuzzer kept (tests/fuzz/corpus) or found failing (tests/fuzz/findings) is
/// replayed: each reader must accept it or reject it with its own user-facing exception.
/// A finding that regresses fails here, or kills the test run if it crashes natively.
/// </summary>
public class FuzzRegressionTests
{
    /// <summary>
    /// The fuzzer's model (tests/PimQuant.Fuzz, Seeds.TinyCnnGraph): its layer names conv1 and gemm1
    /// decide which resolution paths a kept config reaches, so the replay uses the same graph. Declared before
    /// <see cref="Readers"/>, whose initializer refers to it.
    /// </summary>
    private static readonly Lazy<ModelGraph> QuantModel = new(() =>
    {
        var b = new GraphBuilder("tiny", 1, 6, 6, seed: 1, opset: 17);
        string x = b.Relu(b.BatchNorm(b.Conv(b.Input, 1, 2, 3, padding: 1), 2));
        x = b.Flatten(b.MaxPool(x, 2, 2));
        return b.Finish(b.Linear(x, 18, 3));
    });

    private static readonly Dictionary<string, (Action<byte[]> read, Func<Exception, bool> expected)> Readers = new()
    {
        ["onnx"] = (bytes => { using var g = OnnxImporter.Import(bytes, "fuzz.onnx"); }, e => e is GraphException),
        ["idx-images"] = (bytes => IdxReader.ReadImages(new MemoryStream(bytes), "fuzz-images"), e => e is DataException),
        ["idx-labels"] = (bytes => IdxReader.ReadLabels(new MemoryStream(bytes), "fuzz-labels"), e => e is DataException),
        ["cifar10"] = (bytes => Cifar10Reader.Read(new MemoryStream(bytes), "fuzz.bin", "cifar10"), e => e is DataException),
        ["hardware-yaml"] = (bytes => HardwareSpecLoader.Parse(Encoding.UTF8.GetString(bytes), "fuzz.yaml"), e => e is HardwareSpecException),
        ["quant-config"] = (bytes => QuantConfigLoader.Parse(Encoding.UTF8.GetString(bytes), "fuzz.yaml").Resolve(QuantModel.Value), e => e is QuantConfigException),
        // The command line parses any arguments without throwing: a mistake is a parse error.
        ["cli-args"] = (bytes => PimQuant.Cli.PimqCommands.Root().Parse(Encoding.UTF8.GetString(bytes).Split('\n')), _ => false),
    };

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in new[] { "findings", "corpus" })
            foreach (var target in Readers.Keys)
            {
                string dir = Path.Combine(TestPaths.Root, "tests", "fuzz", kind, target);
                if (!Directory.Exists(dir)) continue;
                // "current" is the running fuzzer's scratch input (run.sh renames it crash-* if it kills the process).
                foreach (var file in Directory.GetFiles(dir).Where(f => !f.EndsWith(".txt", StringComparison.Ordinal) && Path.GetFileName(f) != "current").Order(StringComparer.Ordinal))
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
