using PimQuant.Data;
using System.Text;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Spec;
using PimQuant.Onnx;

namespace PimQuant.Fuzz;

/// <summary>
/// A reader under fuzzing: it must either accept the input or reject it with its own user-facing
/// exception type. Any other exception (or a crash of the process) is a finding.
/// </summary>
public sealed record FuzzTarget(string Name, Action<byte[]> Read, Func<Exception, bool> IsExpectedRejection);

public static class Targets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("onnx", bytes =>
        {
            using var graph = OnnxImporter.Import(bytes, "fuzz.onnx");
        }, e => e is GraphException),
        new("idx-images", bytes => IdxReader.ReadImages(new MemoryStream(bytes), "fuzz-images"), e => e is DataException),
        new("idx-labels", bytes => IdxReader.ReadLabels(new MemoryStream(bytes), "fuzz-labels"), e => e is DataException),
        new("cifar10", bytes => Cifar10Reader.Read(new MemoryStream(bytes), "fuzz.bin", "cifar10"), e => e is DataException),
        new("hardware-yaml", bytes => HardwareSpecLoader.Parse(Encoding.UTF8.GetString(bytes), "fuzz.yaml"), e => e is HardwareSpecException),
    ];
}
