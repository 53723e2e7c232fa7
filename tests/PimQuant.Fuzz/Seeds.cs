using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using PimQuant.Engine.Graph;
using PimQuant.Onnx;

namespace PimQuant.Fuzz;

/// <summary>Small valid inputs for each reader, written once to start a corpus.</summary>
public static class Seeds
{
    /// <summary>Writes the seeds of <paramref name="target"/> into <paramref name="dir"/>.</summary>
    /// <exception cref="ArgumentException">The target is unknown or its seeds cannot be found.</exception>
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
        "quant-config" => QuantConfigYaml(),
        "cli-args" => CliArgs(),
        _ => throw new ArgumentException($"no seeds for target '{target}'"),
    };

    /// <summary>Command lines reaching every command's options, one argument per line.</summary>
    private static IEnumerable<(string, byte[])> CliArgs() => new[]
    {
        ("simulate", "simulate\nm.onnx\n--hw\nisaac\n--wbits\n4\n--abits\n8\n--adc-bits\n5\n--variation\n0.02\n--on-off-ratio\n10\n--sa0\n0.01\n--sa1\n0.01\n--read-noise\n0.2\n--images\n16\n--checkpoint-every\n2"),
        ("eval", "eval\nm.onnx\n--dataset\ncifar10\n--mean\n0.49,0.48,0.45\n--std\n0.25\n--images\n10\n--batch-size\n32\n--threads\n1"),
        ("quantize", "quantize\nm.onnx\n--wbits\n4\n--abits\n8\n--reconstruct\n--iterations\n20\n--drop-prob\n0.5\n--calibration-images\n64\n--seed\n-3"),
        ("finetune", "finetune\nm.onnx\n--config\nq.yaml\n-o\nq.onnx\n--epochs\n1\n--lr\n1e-4\n--momentum\n0.9\n--weight-decay\n0\n--step-gamma\n0.1\n--warmup\n0\n--label-smoothing\n0.1\n--crop-padding\n2"),
        ("bench-sim", "bench\nsim\n--model\nvgg8\n--hw\nneurosim-rram\n--images\n8\n--batch-size\n4"),
        ("bench-infer", "bench\ninfer\nm.onnx\n--images\n256\n--passes\n1\n--cpu-time"),
    }.Select(s => (s.Item1, Encoding.UTF8.GetBytes(s.Item2)));

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

    /// <summary>
    /// The shipped example configs (configs/*.yaml of the repository the fuzzer was built in) and
    /// one config that sets every field the examples leave out, so mutations start from each branch.
    /// </summary>
    private static IEnumerable<(string, byte[])> QuantConfigYaml()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "PimQuant.slnx"))) root = root.Parent;
        if (root is null) throw new ArgumentException($"the fuzzer in {AppContext.BaseDirectory} is not inside the PimQuant repository, whose configs/ hold the seeds");
        foreach (var file in Directory.GetFiles(Path.Combine(root.FullName, "configs"), "*.yaml").Order(StringComparer.Ordinal))
            yield return (Path.GetFileName(file), File.ReadAllBytes(file));
        yield return ("every-field.yaml", Encoding.UTF8.GetBytes(EveryField));
    }

    private const string EveryField = """
        version: 1
        default:
          weight: {format: float, exponent_bits: 3, mantissa_bits: 2, bias: 4, signed: true, granularity: channel, observer: {kind: moving_average, momentum: 0.1}, scale: float, rounding: stochastic, learn: none}
          activation: {format: apot, bits: 6, terms: 3, signed: false, affine: false, granularity: tensor, observer: {kind: mse, candidates: 20}, scale: {restriction: power_of_two, rounding: nearest}, learn: pact}
        op_types:
          Conv: {skip: false, activation: none}
          MatMul: {weight: {affine: true, rounding: learned}}
          Gemm:
            weight: {format: pot, bits: 3, granularity: {kind: array, rows: 4, cols: 2}, scale: power_of_two}
            activation: {format: int, bits: 4, affine: false, observer: minmax, learn: none, granularity: {kind: dynamic, group_size: 6}}
        layers:
          conv1: {weight: {format: int, bits: 2, narrow_range: false, affine: true, observer: percentile, granularity: {kind: ou, rows: 3, cols: 2}}}
        """;

    /// <summary>Conv → BN → ReLU → MaxPool → Flatten → Gemm on 1×6×6 inputs (quantizable layers conv1 and gemm1): every common record type of an ONNX CNN.</summary>
    public static ModelGraph TinyCnnGraph(int opset)
    {
        var b = new GraphBuilder("tiny", 1, 6, 6, seed: 1, opset);
        string x = b.Relu(b.BatchNorm(b.Conv(b.Input, 1, 2, 3, padding: 1), 2));
        x = b.Flatten(b.MaxPool(x, 2, 2));
        return b.Finish(b.Linear(x, 18, 3));
    }

    private static byte[] TinyCnn(int opset)
    {
        using var graph = TinyCnnGraph(opset);
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
