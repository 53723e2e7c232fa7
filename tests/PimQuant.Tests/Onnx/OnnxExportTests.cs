using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Onnx;
using Xunit;
using static TorchSharp.torch;

namespace PimQuant.Tests.Onnx;

/// <summary>Exported models run in ONNX Runtime and import back to the same graph.</summary>
public class OnnxExportTests
{
    public static TheoryData<string, int> Models => new()
    {
        { "convbn", 11 }, { "convbn", 18 }, { "mix", 11 }, { "mix", 13 }, { "reshape", 11 }, { "reshape", 13 }, { "matmul", 13 }, { "typed", 13 },
    };

    private static TestModel Build(string name, int opset) => name switch
    {
        "convbn" => OnnxTestModels.ConvBn(opset),
        "mix" => OnnxTestModels.Mix(opset),
        "reshape" => OnnxTestModels.ReshapeChain(opset),
        "matmul" => OnnxTestModels.MatMulAdd(opset),
        _ => OnnxTestModels.TypedFields(),
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void ExportThenImport_KeepsNodesAttributesTensorsAndOutputs(string name, int opset)
    {
        var model = Build(name, opset);
        var input = OnnxParity.Input(model.SampleShape);
        var expected = OnnxParity.RunOrt(model.Bytes(), input);
        using var graph = OnnxImporter.Import(model.Bytes(), name);

        var exported = OnnxExporter.Export(graph, new Dictionary<string, string> { ["pimquant.test"] = "yes" });
        OnnxParity.AssertClose(expected, OnnxParity.RunOrt(exported, input), $"{name}-{opset} exported, in ONNX Runtime");

        using var again = OnnxImporter.Import(exported, $"{name}-{opset} again");
        AssertSameGraph(graph, again);
        Assert.Equal("yes", again.Metadata["pimquant.test"]);
        OnnxParity.AssertClose(expected, OnnxParity.RunPimQuant(again, input), $"{name}-{opset} re-imported");
    }

    [Fact]
    public void FoldedGraph_ExportsToTheSameOutputs()
    {
        var model = OnnxTestModels.ConvBn(17);
        var input = OnnxParity.Input(model.SampleShape);
        using var graph = OnnxImporter.Import(model.Bytes());
        Assert.Equal(1, BatchNormFolding.Run(graph));
        var exported = OnnxExporter.Export(graph);
        OnnxParity.AssertClose(OnnxParity.RunOrt(model.Bytes(), input), OnnxParity.RunOrt(exported, input), "folded, in ONNX Runtime");
    }

    /// <summary>A graph built through the engine's API may hold either operand form; the file must hold its opset's.</summary>
    [Theory]
    [InlineData(11)]
    [InlineData(17)]
    public void EngineBuiltGraph_IsWrittenInTheFormsOfItsOpset(int opset)
    {
        using var graph = new ModelGraph("built", opset);
        graph.Inputs.Add(new GraphInput("x", [-1, 6]));
        using (NewDisposeScope())
        {
            var rng = new Random(5);
            graph.AddParameter("w", tensor(Enumerable.Range(0, 24).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), [6, 4]));
            graph.AddInitializer("axes", tensor(new long[] { 3 }), InitializerKind.Constant);
        }
        graph.Nodes.AddRange(
        [
            Node.Create("mm", "MatMul", ["x", "w"], ["h"]),
            Node.Create("clip", "Clip", ["h"], ["c"], [new("min", new AttributeValue.Float(-0.3f)), new("max", new AttributeValue.Float(0.3f))]),
            Node.Create("u1", "Unsqueeze", ["c"], ["u1"], [new("axes", new AttributeValue.Ints([1]))]),
            Node.Create("u2", "Unsqueeze", ["u1", "axes"], ["u2"]),
            Node.Create("sq", "Squeeze", ["u2"], ["s"], [new("axes", new AttributeValue.Ints([1, 3]))]),
            Node.Create("drop", "Dropout", ["s"], ["d"], [new("ratio", new AttributeValue.Float(0.2f))]),
            Node.Create("softmax", "Softmax", ["d"], ["p"]),
        ]);
        graph.Outputs.Add("p");
        ShapeInference.Run(graph);

        var exported = OnnxExporter.Export(graph);
        var input = OnnxParity.Input([6]);
        var ours = OnnxParity.RunPimQuant(graph, input);
        OnnxParity.AssertClose(ours, OnnxParity.RunOrt(exported, input), $"built-{opset} in ONNX Runtime");
        using var again = OnnxImporter.Import(exported);
        Assert.Equal(opset, again.Opset);
        Assert.Equal(opset >= 13, again.Nodes.Single(n => n.Name == "u1").Inputs.Length == 2);
        OnnxParity.AssertClose(ours, OnnxParity.RunPimQuant(again, input), $"built-{opset} re-imported");
    }

    [Fact]
    public void ExportFile_WritesAtomicallyAndMergesMetadata()
    {
        string dir = Directory.CreateTempSubdirectory("pimq-onnx-").FullName;
        try
        {
            string path = Path.Combine(dir, "model.onnx");
            File.WriteAllText(path, "an older file to replace");
            using var graph = OnnxImporter.Import(OnnxTestModels.ConvBn(13).Bytes());
            OnnxExporter.ExportFile(graph, path, new Dictionary<string, string> { ["dataset"] = "mnist", ["command"] = "pimq export" });
            Assert.Equal(["model.onnx"], Directory.GetFiles(dir).Select(Path.GetFileName));
            using var again = OnnxImporter.ImportFile(path);
            Assert.Equal("mnist", again.Metadata["dataset"]);
            Assert.Equal("pimq export", again.Metadata["command"]);
            Assert.Equal("cifar10", graph.Metadata["dataset"]);

            var missing = Path.Combine(dir, "no-such-dir", "model.onnx");
            var e = Assert.Throws<OnnxException>(() => OnnxExporter.ExportFile(graph, missing));
            Assert.StartsWith(missing, e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void ExportedModel_DeclaresBatchDimensionAndProducer()
    {
        using var graph = OnnxImporter.Import(OnnxTestModels.ConvBn(13).Bytes());
        var model = OnnxExporter.ToModel(graph, null);
        Assert.Equal(8, model.IrVersion);
        Assert.Equal("PimQuant", model.ProducerName);
        Assert.Equal(13, model.OpsetImport.Single().Version);
        Assert.Equal("batch", model.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal([10L], model.Graph.Output[0].Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue));
        Assert.All(model.Graph.Initializer, t => Assert.True(t.HasRawData));
    }

    [Fact]
    public void NonLastSoftmaxAxisBeforeOpset13_IsRefused()
    {
        using var graph = new ModelGraph("softmax", 11);
        graph.Inputs.Add(new GraphInput("x", [-1, 3, 4]));
        graph.Nodes.Add(Node.Create("sm", "Softmax", ["x"], ["y"], [new("axis", new AttributeValue.Int(1))]));
        graph.Outputs.Add("y");
        ShapeInference.Run(graph);
        var e = Assert.Throws<OnnxException>(() => OnnxExporter.Export(graph));
        Assert.Contains("'sm' (Softmax)", e.Message);
        Assert.Contains("axis 1", e.Message);
    }

    [Fact]
    public void TensorOfUnexportableType_IsRefused()
    {
        using var graph = OnnxImporter.Import(OnnxTestModels.MatMulAdd(13).Bytes());
        using (NewDisposeScope()) graph.AddInitializer("flags", tensor(new[] { true, false }), InitializerKind.Constant);
        var e = Assert.Throws<OnnxException>(() => OnnxExporter.Export(graph));
        Assert.Contains("'flags'", e.Message);
    }

    private static void AssertSameGraph(ModelGraph expected, ModelGraph actual)
    {
        Assert.Equal(expected.Opset, actual.Opset);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Inputs.Select(i => (i.Name, string.Join(",", i.Shape))), actual.Inputs.Select(i => (i.Name, string.Join(",", i.Shape))));
        Assert.Equal(expected.Outputs, actual.Outputs);
        Assert.Equal(expected.Nodes.Count, actual.Nodes.Count);
        foreach (var (e, a) in expected.Nodes.Zip(actual.Nodes))
        {
            Assert.Equal(e.Name, a.Name);
            Assert.Equal(e.OpType, a.OpType);
            Assert.Equal(e.Inputs.ToArray(), a.Inputs.ToArray());
            Assert.Equal(e.Outputs.ToArray(), a.Outputs.ToArray());
            Assert.Equal(e.Attributes.OrderBy(x => x.Key), a.Attributes.OrderBy(x => x.Key));
        }
        Assert.Equal(expected.Initializers.Keys.Order(), actual.Initializers.Keys.Order());
        foreach (var (name, init) in expected.Initializers)
        {
            var other = actual.Initializers[name];
            Assert.Equal(init.Kind, other.Kind);
            Assert.Equal(init.Value.dtype, other.Value.dtype);
            Assert.True(init.Value.Equals(other.Value), $"tensor '{name}' changed");
        }
        foreach (var (key, value) in expected.Metadata) Assert.Equal(value, actual.Metadata[key]);
    }
}
