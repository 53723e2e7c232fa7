using PimQuant.Data;
using System.Text;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Spec;
using PimQuant.Onnx;
using PimQuant.Quant.Config;

namespace PimQuant.Fuzz;

/// <summary>
/// A reader under fuzzing: it must either accept the input or reject it with its own user-facing
/// exception type. Any other exception (or a crash of the process) is a finding.
/// </summary>
public sealed record FuzzTarget(string Name, Action<byte[]> Read, Func<Exception, bool> IsExpectedRejection);

/// <summary>The readers under fuzzing, by name.</summary>
public static class Targets
{
    /// <summary>Every target, in the order run.sh fuzzes them.</summary>
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
        // pimq quantize and finetune load a config and then resolve it against the model; both
        // steps report a user's mistake as QuantConfigException, so both are fuzzed.
        new("quant-config", bytes => QuantConfigLoader.Parse(Encoding.UTF8.GetString(bytes), "fuzz.yaml").Resolve(QuantModel.Value),
            e => e is QuantConfigException),
        // The command line, one argument per line: parsing (every option's parser and validator) must report a
        // mistake as a parse error, never throw; nothing is run.
        new("cli-args", bytes => PimQuant.Cli.PimqCommands.Root().Parse(CliArguments(bytes)), _ => false),
    ];

    /// <summary>The arguments a cli-args input holds: its UTF-8 text split at line feeds.</summary>
    public static string[] CliArguments(byte[] bytes) => Encoding.UTF8.GetString(bytes).Split('\n');

    /// <summary>The model configs are resolved against; built on first use, after the engine is set up.</summary>
    private static readonly Lazy<ModelGraph> QuantModel = new(() => Seeds.TinyCnnGraph(17));
}
