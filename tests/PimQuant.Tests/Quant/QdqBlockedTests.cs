using Microsoft.ML.OnnxRuntime;
using PimQuant.Accelerator;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Experiments;
using PimQuant.Hardware.Presets;
using PimQuant.Onnx;
using PimQuant.Quant.Config;
using PimQuant.Quant.Export;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using static TorchSharp.torch;

namespace PimQuant.Tests.Quant;

/// <summary>
/// Integer weights opset 13 cannot express (scales per array or OU block, more than 8 bits, precision maps with such
/// groups) written as opset-21 QDQ: int16 codes and blocked DequantizeLinear. The file reads back to the same
/// quantizers, codes, scales and group formats; ONNX Runtime and PimQuant's executor run it as fake quantization does;
/// the crossbar simulator programs the imported model as it programs the in-memory one.
/// </summary>
public class QdqBlockedTests
{
    private sealed class Lines : IExperimentProgress
    {
        public List<string> Logged { get; } = [];
        public void Log(string message) => Logged.Add(message);
        public T Step<T>(string title, Func<Action<StepProgress>, T> body) => body(_ => { });
    }

    private const string Activations = "activation: {bits: 8, observer: {kind: percentile, percentile: 99.99}}";

    /// <summary>Exports, writes, reads and re-imports <paramref name="model"/>; the caller disposes the three graphs and the model.</summary>
    private static (QdqGraph Qdq, byte[] File, ModelGraph Onnx, ImportedQdq Imported) RoundTrip(QuantizedModel model)
    {
        var qdq = QdqExport.Rewrite(model);
        byte[] file = OnnxExporter.Export(qdq.Graph);
        var onnx = OnnxImporter.Import(file, "q.onnx");
        return (qdq, file, onnx, QdqImport.Read(onnx));
    }

    /// <summary>Every layer reads back with the same spec (format, granularity, precision map, affine), codes, scales,
    /// zero points, group formats and dequantized values, bit for bit.</summary>
    private static void AssertSameQuantizers(QuantizedModel model, QuantizedModel read)
    {
        Assert.Equal(model.Layers.Select(l => l.Name), read.Layers.Select(l => l.Name));
        foreach (var layer in model.Layers)
        {
            var other = read.Layer(layer.Name)!;
            var (expected, actual) = (layer.Plan.Weight!, other.Plan.Weight!);
            Assert.Equal(expected.Format, actual.Format);
            Assert.Equal(expected.Granularity, actual.Granularity);
            Assert.Equal(expected.Precision, actual.Precision);
            var before = layer.Weight!.ToIntegers(model.WeightOf(layer));
            var after = other.Weight!.ToIntegers(read.WeightOf(other));
            // An affine quantizer whose zero points all came out 0 reads back as symmetric: the same quantization.
            Assert.Equal(expected.Affine && before.ZeroPoints.Any(z => z != 0), actual.Affine);
            Assert.Equal(before.Codes, after.Codes);
            Assert.Equal(before.Scales, after.Scales);
            Assert.Equal(before.ZeroPoints, after.ZeroPoints);
            Assert.Equal(before.GroupFormats, after.GroupFormats);
            Assert.Equal(before.Dequantize(), after.Dequantize());
        }
    }

    private static float[] OrtLogits(byte[] model, Tensor images)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(model, options);
        using var input = OrtValue.CreateTensorValueFromMemory(images.contiguous().data<float>().ToArray(), images.shape);
        using var run = new RunOptions();
        using var outputs = session.Run(run, [session.InputNames[0]], [input], session.OutputNames);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    [Theory]
    // Array tiles: conv2's K = 150 is a block of 128 rows and a partial one of 22; affine, so the blocks carry zero points.
    [InlineData("weight: {bits: 4, affine: true, observer: mse, granularity: {kind: array, rows: 128, cols: 16}}", "")]
    // BWQ's 9 × 8 OU blocks, 8 bits.
    [InlineData("weight: {bits: 8, narrow_range: true, granularity: {kind: ou, rows: 9, cols: 8}}", "")]
    // 10-bit weights per channel: int16 codes, no blocks.
    [InlineData("weight: {bits: 10, narrow_range: true}", "")]
    // 12-bit weights per OU block, and one unsigned affine 12-bit layer (int16 holds every uint12 code).
    [InlineData("weight: {bits: 12, granularity: {kind: ou, rows: 9, cols: 8}}", "  gemm3: {weight: {signed: false, affine: true, granularity: channel}}\n")]
    // Precision maps: conv2 bits per 9 × 8 OU block (some pruned, some 10-bit) with OU-block scales; gemm1 bits per channel up to 12.
    [InlineData("weight: {bits: 8, narrow_range: true, granularity: {kind: ou, rows: 9, cols: 8}}",
        "  conv2: {weight: {precision: {bits: [PRECISION]}}}\n  gemm1: {weight: {granularity: channel, precision: {bits: [CHANNELS]}}}\n")]
    public void LeNetWeightsRoundTripThroughOpset21QdqAndRunInOnnxRuntime(string weight, string layers)
    {
        string yaml = $"version: 1\ndefault: {{{weight}, {Activations}}}\n" + (layers.Length > 0 ? "layers:\n" + layers
            .Replace("PRECISION", string.Join(", ", Enumerable.Range(0, 34).Select(i => i % 11 == 10 ? 0 : i % 7 == 3 ? 10 : 3 + i % 6)))
            .Replace("CHANNELS", string.Join(", ", Enumerable.Range(0, 120).Select(i => 4 + i % 9))) : "");
        var (graph, model) = QuantFixtures.QuantizedLeNet(yaml, 0, calibration: 256);
        using var ownedGraph = graph;
        using var ownedModel = model;
        using var scope = NewDisposeScope();
        var (qdq, file, onnx, imported) = RoundTrip(model);
        using var qdqGraph = qdq.Graph;
        using var onnxGraph = onnx;
        using var importedGraph = imported.Graph;
        using var read = imported.Model;

        Assert.Equal(QdqExport.BlockedOpset, onnx.Opset);
        Assert.Contains(qdq.Notes, n => n.StartsWith($"opset raised to {QdqExport.BlockedOpset}"));
        Assert.DoesNotContain(qdq.Notes, n => n.Contains("float32"));
        Assert.Empty(imported.Notes);
        AssertSameQuantizers(model, read);

        const int count = 1000;
        var images = QuantFixtures.Images(5000, count);
        var labels = QuantFixtures.Labels(5000, count);
        var fake = QuantFixtures.Logits(model.CreateExecutor(), images);
        float largest = fake.abs().max().item<float>();
        // PimQuant's executor runs the file's blocked and int16 DequantizeLinear as fake quantization computes.
        var own = QuantFixtures.Logits(new GraphExecutor(onnx), images);
        Assert.True((own - fake).abs().max().item<float>() <= 1e-4f * largest);
        var again = QuantFixtures.Logits(read.CreateExecutor(), images);
        Assert.True((again - fake).abs().max().item<float>() <= 1e-5f * largest);
        // ONNX Runtime runs the file's own operators and gives PimQuant's accuracy (the parity tests' bar).
        var ort = tensor(OrtLogits(file, images), [count, 10]);
        double fakeAccuracy = QuantFixtures.Accuracy(fake, labels), ortAccuracy = QuantFixtures.Accuracy(ort, labels);
        Assert.True(fakeAccuracy > 0.6, $"fake-quantized accuracy {fakeAccuracy:P2}");
        Assert.True(Math.Abs(ortAccuracy - fakeAccuracy) <= 0.0005, $"ONNX Runtime {ortAccuracy:P3}, PimQuant {fakeAccuracy:P3}");
    }

    /// <summary>A grouped convolution (2 groups, K = 36 rows, 6 columns a group) and a MatMul ((in, out) weight, blocked along
    /// axis 0): tiles of 5 rows leave a partial block of 1, tiles of 4 columns a partial one of 2 in each group.</summary>
    private static ModelGraph GroupedModel()
    {
        var builder = new GraphBuilder("grouped", 3, 8, 8, seed: 4, opset: 13);
        var x = builder.Relu(builder.Conv(builder.Input, 3, 8, 3, padding: 1, bias: true));
        x = builder.Relu(builder.Conv(x, 8, 12, 3, padding: 1, groups: 2, bias: true));
        var graph = builder.Finish(builder.Flatten(builder.GlobalAveragePool(x)));
        using (var scope = NewDisposeScope())
            graph.AddParameter("head.weight", randn([12, 10], generator: new Generator(9UL)) * 0.3);
        graph.Nodes[^1] = graph.Nodes[^1] with { Outputs = ["features"] };
        graph.Nodes.Add(Node.Create("head", "MatMul", ["features", "head.weight"], ["logits"]));
        ShapeInference.Run(graph);
        return graph;
    }

    [Theory]
    [InlineData("{kind: ou, rows: 5, cols: 4}", 5, "")]
    [InlineData("{kind: array, rows: 16, cols: 4}", 16, "")]
    [InlineData("{kind: ou, rows: 5, cols: 4}", 5, "  conv2: {weight: {bits: 11, precision: {granularity: {kind: ou, rows: 9, cols: 3}, bits: [PRECISION]}}}\n")]
    public void AGroupedConvolutionAndAMatMulRoundTripBlockByBlock(string granularity, int rows, string layers)
    {
        Torch.Ensure();
        using var graph = GroupedModel();
        using var scope = NewDisposeScope();
        string yaml = $"version: 1\ndefault: {{weight: {{bits: 6, narrow_range: true, granularity: {granularity}}}, activation: {{bits: 8}}}}\n"
            + (layers.Length > 0 ? "layers:\n" + layers.Replace("PRECISION", string.Join(", ", Enumerable.Range(0, 16).Select(i => i % 5 == 4 ? 0 : 2 + i % 10))) : "");
        using var model = new QuantizedModel(graph, QuantConfigLoader.Parse(yaml, "q.yaml").Resolve(graph), seed: 1);
        var calibration = randn([64, 3, 8, 8], generator: new Generator(5UL));
        PostTrainingQuantization.Calibrate(model, calibration, 64);
        var (qdq, file, onnx, imported) = RoundTrip(model);
        using var qdqGraph = qdq.Graph;
        using var onnxGraph = onnx;
        using var importedGraph = imported.Graph;
        using var read = imported.Model;

        // The convolutions' codes are (Cout, K) → blocked DequantizeLinear → Reshape; the MatMul's (K, N) along axis 0.
        // Blocks of min(rows, K): a tile taller than the head's 12 rows is one block of 12.
        var head = onnx.Nodes.Single(n => n.Name == "head.weight_dequantize");
        Assert.Equal((0L, Math.Min(rows, 12)), (head.GetInt("axis", 1), head.GetInt("block_size", 0)));
        Assert.Equal([(12 + Math.Min(rows, 12) - 1) / Math.Min(rows, 12), 10L], onnx.Initializers[head.Inputs[1]].Value.shape);
        var conv2 = onnx.Nodes.Single(n => n.Name == "conv2.weight_dequantize");
        Assert.Equal((1L, rows), (conv2.GetInt("axis", 0), conv2.GetInt("block_size", 0)));
        Assert.Equal([12L, (36 + rows - 1) / rows], onnx.Initializers[conv2.Inputs[1]].Value.shape); // 12 channels × ceil(36 / rows), the last block partial
        Assert.Contains(onnx.Nodes, n => n.OpType == "Reshape" && n.Inputs[0] == conv2.Output);
        Assert.Empty(imported.Notes);
        AssertSameQuantizers(model, read);

        // Without the declared tiles (another tool's blocked file) each block of rows of one output channel is an OU block:
        // the same codes and values, the scales repeated over a tile's columns.
        onnx.Metadata.Remove(QdqImport.ScaleGroupsKey);
        var foreign = QdqImport.Read(onnx);
        using (foreign.Graph)
        using (foreign.Model)
        {
            Assert.Contains(foreign.Notes, n => n.StartsWith("layer conv2: its scales per output channel and block of"));
            var layer = foreign.Model.Layer("conv2")!;
            Assert.Equal(new ScaleGranularity.PerOuBlock(rows, 1), layer.Plan.Weight!.Granularity);
            var expected = model.Layer("conv2")!.Weight!.ToIntegers(model.WeightOf(model.Layer("conv2")!));
            var actual = layer.Weight!.ToIntegers(foreign.Model.WeightOf(layer));
            Assert.Equal(expected.Codes, actual.Codes);
            Assert.Equal(expected.Dequantize(), actual.Dequantize());
        }

        var images = randn([32, 3, 8, 8], generator: new Generator(6UL));
        var fake = QuantFixtures.Logits(model.CreateExecutor(), images);
        float largest = fake.abs().max().item<float>();
        Assert.True((QuantFixtures.Logits(new GraphExecutor(onnx), images) - fake).abs().max().item<float>() <= 1e-4f * largest);
        var ort = tensor(OrtLogits(file, images), fake.shape);
        Assert.True((ort - fake).abs().max().item<float>() <= 1e-4f * largest, $"ONNX Runtime differs by {(ort - fake).abs().max().item<float>()} at logits up to {largest}");
    }

    /// <summary>Metadata that does not fit the codes is refused with the key, the layer and what differs.</summary>
    [Fact]
    public void DeclarationsTheCodesContradictAreRefused()
    {
        Torch.Ensure();
        using var graph = GroupedModel();
        using var scope = NewDisposeScope();
        using var model = new QuantizedModel(graph, QuantConfigLoader.Parse(
            "version: 1\ndefault: {weight: {bits: 10, narrow_range: true, granularity: {kind: ou, rows: 5, cols: 4}}, activation: {bits: 8}}\n"
            + "layers: {conv2: {weight: {precision: {bits: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10]}}}}",
            "q.yaml").Resolve(graph), seed: 1);
        PostTrainingQuantization.Calibrate(model, randn([16, 3, 8, 8], generator: new Generator(5UL)), 16);
        using var qdq = QdqExport.Rewrite(model).Graph;
        using var onnx = OnnxImporter.Import(OnnxExporter.Export(qdq), "q.onnx");
        string Refusal(string key, string from, string to)
        {
            string saved = onnx.Metadata[key];
            onnx.Metadata[key] = saved.Replace(from, to);
            try { return Assert.Throws<QdqImportException>(() => QdqImport.Read(onnx)).Message; }
            finally { onnx.Metadata[key] = saved; }
        }
        // conv2's first OU block declared 3-bit: its 10-bit codes do not fit.
        var narrow = Refusal(QdqImport.PrecisionKey, "conv2=ou 5x4:int10n*32", "conv2=ou 5x4:int3n,int10n*31");
        Assert.Contains($"metadata {QdqImport.PrecisionKey}: layer conv2 group 0 is declared int3n", narrow);
        // A tile of 7 rows where the blocks have 5.
        var rows = Refusal(QdqImport.ScaleGroupsKey, "conv2=ou 5x4", "conv2=ou 7x4");
        Assert.Contains("layer conv2 is declared ou 7x4, but its DequantizeLinear has block_size 5", rows);
    }

    [Fact]
    public void WithoutBlocksOrWideCodesTheFileKeepsTheModelsOpsetAndMetadata()
    {
        var (graph, model) = QuantFixtures.QuantizedLeNet($"version: 1\ndefault: {{weight: {{bits: 8}}, {Activations}}}", 0, calibration: 64);
        using var ownedGraph = graph;
        using var ownedModel = model;
        var result = QdqExport.Rewrite(model);
        using var qdq = result.Graph;
        Assert.Equal(Math.Max(QdqExport.MinimumOpset, graph.Opset), qdq.Opset);
        Assert.Empty(result.Notes);
        Assert.DoesNotContain(qdq.Nodes, n => n.Attributes.ContainsKey("block_size"));
        Assert.False(qdq.Metadata.ContainsKey(QdqImport.ScaleGroupsKey));
        Assert.False(qdq.Metadata.ContainsKey(QdqImport.PrecisionKey));
    }

    /// <summary>
    /// What <c>pimq simulate q.onnx</c> does with the file (<see cref="ModelFiles.ReadQdq"/>, then
    /// <see cref="CrossbarModel.Program"/>): the imported model has signed integer weights with OU-block scales and a
    /// precision map, bwq-h programs it losslessly, and its logits equal those of the in-memory quantized model's crossbars.
    /// </summary>
    [Fact]
    public void TheExportedFileSimulatesAsTheInMemoryModelDoes()
    {
        var (graph, model) = QuantFixtures.QuantizedLeNet("""
            version: 1
            default:
              weight: {format: int, bits: 9, signed: true, narrow_range: true, granularity: {kind: ou, rows: 9, cols: 8}, observer: minmax}
              activation: {format: int, bits: 8, signed: auto, granularity: tensor, observer: minmax}
            layers:
              conv1:
                weight: {precision: {bits: [9, 5, 0]}}
            """, 0, calibration: 256);
        using var ownedGraph = graph;
        using var ownedModel = model;
        using var scope = NewDisposeScope();
        string path = Path.Combine(Directory.CreateTempSubdirectory("pimq-qdq-").FullName, "q.onnx");
        try
        {
            using (var qdq = QdqExport.Rewrite(model).Graph) OnnxExporter.ExportFile(qdq, path);
            var progress = new Lines();
            var imported = ModelFiles.ReadQdq(path, ModelFiles.Load(path), progress);
            Assert.Contains(progress.Logged, l => l.Contains("5 quantized layers keep the file's integers"));
            using var importedGraph = imported.Graph;
            using var read = imported.Model;
            AssertSameQuantizers(model, read);

            var spec = PresetCatalog.Load("bwq-h");
            var fromMemory = CrossbarModel.Program(model, spec);
            var fromFile = CrossbarModel.Program(read, spec);
            Assert.All(fromFile.Layers, l => Assert.True(l.IsLossless, l.Name));
            Assert.Equal(fromMemory.Layers.Select(l => l.Mapping.Blocks.Count), fromFile.Layers.Select(l => l.Mapping.Blocks.Count));
            var images = QuantFixtures.Images(5000, 100);
            var expected = QuantFixtures.Logits(fromMemory.CreateExecutor(), images, 100);
            var actual = QuantFixtures.Logits(fromFile.CreateExecutor(), images, 100);
            Assert.True(actual.eq(expected).all().item<bool>(), $"simulated logits differ by {(actual - expected).abs().max().item<float>()}");
            for (int i = 0; i < fromFile.Layers.Count; i++) Assert.Equal(fromMemory.Layers[i].Events, fromFile.Layers[i].Events);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }
}
