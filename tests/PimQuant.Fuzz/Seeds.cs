using System.Buffers.Binary;
using System.IO.Compression;
using PimQuant.Engine.Graph;
using PimQuant.Onnx;

namespace PimQuant.Fuzz;

/// <summary>Small valid inputs for each reader, written once to start a corpus.</summary>
public static class Seeds
{
    public static void Write(string target, string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var (name, bytes) in For(target))
            File.WriteAllBytes(Path.Combine(dir, name), bytes);
    }

    private static IEnumerable<(string, byte[])> For(string target) => target switch
    {
        "onnx" => [("tiny-cnn.onnx", TinyCnn(17)), ("tiny-cnn-opset11.onnx", TinyCnn(11))],
        "idx-images" => [("images", Idx(0x803, [3, 4, 5], 60)), ("images.gz", Gzip(Idx(0x803, [3, 4, 5], 60)))],
        "idx-labels" => [("labels", Idx(0x801, [5], 5)), ("labels.gz", Gzip(Idx(0x801, [5], 5)))],
        "cifar10" => [("two-records.bin", Enumerable.Range(0, 2 * 3073).Select(i => (byte)(i % 3073 == 0 ? i / 3073 : i * 13)).ToArray())],
        "hardware-yaml" => PresetYaml(),
        _ => throw new ArgumentException($"no seeds for target '{target}'"),
    };

    /// <summary>The shipped presets: every field the spec knows, in valid form.</summary>
    private static IEnumerable<(string, byte[])> PresetYaml()
    {
        var assembly = typeof(PimQuant.Hardware.Spec.HardwareSpecLoader).Assembly;
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.EndsWith(".yaml", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            yield return (resource.Split('.')[^2] + ".yaml", copy.ToArray());
        }
    }

    /// <summary>Conv → BN → ReLU → MaxPool → Flatten → Gemm on 1×6×6 inputs: every common record type of an ONNX CNN.</summary>
    private static byte[] TinyCnn(int opset)
    {
        var b = new GraphBuilder("tiny", 1, 6, 6, seed: 1, opset);
        string x = b.Relu(b.BatchNorm(b.Conv(b.Input, 1, 2, 3, padding: 1), 2));
        x = b.Flatten(b.MaxPool(x, 2, 2));
        using var graph = b.Finish(b.Linear(x, 18, 3));
        return OnnxExporter.Export(graph, new Dictionary<string, string> { ["pimquant.mean"] = "0.5", ["pimquant.std"] = "0.25" });
    }

    private static byte[] Idx(uint magic, int[] dims, int payload)
    {
        var bytes = new byte[4 + 4 * dims.Length + payload];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, magic);
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        for (int i = 0; i < payload; i++) bytes[4 + 4 * dims.Length + i] = (byte)(magic == 0x801 ? i % 10 : i * 7);
        return bytes;
    }

    private static byte[] Gzip(byte[] raw)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(raw);
        return output.ToArray();
    }
}
