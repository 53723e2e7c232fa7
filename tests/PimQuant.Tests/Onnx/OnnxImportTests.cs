using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Onnx;
using Xunit;
using static TorchSharp.torch;

namespace PimQuant.Tests.Onnx;

/// <summary>Imported models compute what ONNX Runtime computes on the same file.</summary>
public class OnnxImportTests
{
    /// <summary>Imports <paramref name="model"/> and checks PimQuant against ONNX Runtime; returns the graph.</summary>
    private static ModelGraph ImportAndCompare(TestModel model, string what)
    {
        var bytes = model.Bytes();
        var input = OnnxParity.Input(model.SampleShape);
        var expected = OnnxParity.RunOrt(bytes, input);
        var graph = OnnxImporter.Import(bytes, what);
        OnnxParity.AssertClose(expected, OnnxParity.RunPimQuant(graph, input), what);
        return graph;
    }

    [Theory]
    [InlineData(11)]
    [InlineData(18)]
    public void ConvBatchNormGemm_MatchesOnnxRuntime_AlsoAfterBatchNormFolding(int opset)
    {
        var model = OnnxTestModels.ConvBn(opset);
        using var graph = ImportAndCompare(model, $"convbn-{opset}");
        Assert.Equal(opset, graph.Opset);
        Assert.Equal("main_graph", graph.Name);
        Assert.Equal("cifar10", graph.Metadata["dataset"]);
        Assert.Equal(["Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm"], graph.Nodes.Select(n => n.OpType));
        Assert.Equal([-1L, 3, 8, 8], graph.Inputs.Single().Shape);
        Assert.Equal([-1L, 10], graph.ValueShapes[graph.Outputs[0]]);
        Assert.Equal(InitializerKind.Parameter, graph.Initializers["conv1.weight"].Kind);
        Assert.Equal(InitializerKind.Parameter, graph.Initializers["bn1.weight"].Kind);
        Assert.Equal(InitializerKind.Buffer, graph.Initializers["bn1.running_mean"].Kind);
        Assert.Equal(InitializerKind.Buffer, graph.Initializers["bn1.running_var"].Kind);

        Assert.Equal(1, BatchNormFolding.Run(graph));
        Assert.DoesNotContain(graph.Nodes, n => n.OpType == "BatchNormalization");
        var input = OnnxParity.Input(model.SampleShape);
        OnnxParity.AssertClose(OnnxParity.RunOrt(model.Bytes(), input), OnnxParity.RunPimQuant(graph, input), "folded");
    }

    [Fact]
    public void MatMulAddWithBroadcastArithmetic_MatchesOnnxRuntime()
    {
        using var graph = ImportAndCompare(OnnxTestModels.MatMulAdd(13), "matmul");
        Assert.Equal(InitializerKind.Parameter, graph.Initializers["fc1.weight_t"].Kind);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    [InlineData(17)]
    public void ShapeDerivedReshapeChain_FoldsToConstantAndMatches(int opset)
    {
        using var graph = ImportAndCompare(OnnxTestModels.ReshapeChain(opset), $"reshape-{opset}");
        Assert.Equal(["Conv", "Relu", "Reshape", "Gemm"], graph.Nodes.Select(n => n.OpType));
        var target = graph.Initializers[graph.Nodes[2].Inputs[1]];
        Assert.Equal(InitializerKind.Constant, target.Kind);
        Assert.Equal([0L, -1], target.Value.data<long>().ToArray());
    }

    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    [InlineData(18)]
    public void DepthwiseSamePaddingPoolingConcatSoftmax_MatchesOnnxRuntime(int opset)
    {
        using var graph = ImportAndCompare(OnnxTestModels.Mix(opset), $"mix-{opset}");
        var clip = graph.Nodes.Single(n => n.OpType == "Clip");
        Assert.Equal(InitializerKind.Constant, graph.Initializers[clip.Inputs[1]].Kind);
        Assert.Equal(InitializerKind.Constant, graph.Initializers[clip.Inputs[2]].Kind);
        Assert.Equal(InitializerKind.Parameter, graph.Initializers["dw.weight"].Kind);
        Assert.Equal(4L, graph.Nodes.Single(n => n.OpType == "Conv" && n.Inputs[1] == "dw.weight").GetInt("group", 1));
    }

    [Fact]
    public void TypedFieldInitializers_DoubleInt32Int64_MatchOnnxRuntime()
    {
        using var graph = ImportAndCompare(OnnxTestModels.TypedFields(), "typed");
        Assert.Equal(ScalarType.Float32, graph.Initializers["fc.weight_t"].Value.dtype);
        Assert.Equal(InitializerKind.Constant, graph.Initializers["pick"].Kind);
    }

    [Fact]
    public void LegacyClipAttributes_BecomeInputs_AndMatchTheInputForm()
    {
        var input = OnnxParity.Input(OnnxTestModels.Relu6(false).SampleShape);
        var expected = OnnxParity.RunOrt(OnnxTestModels.Relu6(legacyClip: false).Bytes(), input);
        using var graph = OnnxImporter.Import(OnnxTestModels.Relu6(legacyClip: true).Bytes(), "legacy-clip");
        var clip = graph.Nodes.Single(n => n.OpType == "Clip");
        Assert.Empty(clip.Attributes);
        Assert.Equal(3, clip.Inputs.Length);
        Assert.Equal(6f, graph.Initializers[clip.Inputs[2]].Value.item<float>());
        OnnxParity.AssertClose(expected, OnnxParity.RunPimQuant(graph, input), "legacy clip");
        Assert.Contains(expected[0].Values, v => v != 0);
    }

    /// <summary>
    /// A model exported for batch 1 (no dynamic_axes), as PyTorch writes it: constant Reshape targets starting
    /// with 1 for ShuffleNet's channel shuffle (x.view(N, g, C/g, H, W)) and for x.view(x.size(0), -1).
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(17)]
    public void BatchOneReshapes_RunAtAnyBatch(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 17);
        var x = b.Input("input", 3, 6, 6);
        b.Graph.Input[0].Type.TensorType.Shape.Dim[0] = new PimQuant.Onnx.Proto.TensorShapeProto.Types.Dimension { DimValue = 1 };
        var y = b.Op("Reshape", [b.Conv(x, "conv", 3, 4, 3, pad: 1), b.Int64s("groups", [1, 2, 2, 6, 6], 5)]);
        y = b.Op("Transpose", [y], ("perm", new[] { 0L, 2, 1, 3, 4 }));
        y = b.Op("Relu", [b.Op("Reshape", [y, b.Int64s("shuffled", [1, -1, 6, 6], 4)])]);
        b.Output(b.Linear(b.Op("Reshape", [y, b.Int64s("flat", [1, -1], 2)]), "fc", 4 * 6 * 6, 5));
        var input = OnnxParity.Input([3, 6, 6]);
        // ONNX Runtime holds the file to batch 1: one sample at a time.
        int size = input.Data.Length / OnnxParity.Batch;
        var perSample = Enumerable.Range(0, OnnxParity.Batch)
            .Select(k => OnnxParity.RunOrt(b.Bytes(), (input.Data[(k * size)..((k + 1) * size)], [1, 3, 6, 6]))[0]).ToArray();
        var expected = new ModelOutput([OnnxParity.Batch, 5], [.. perSample.SelectMany(o => o.Values)]);
        using var graph = OnnxImporter.Import(b.Bytes(), "batch-one");
        OnnxParity.AssertClose([expected], OnnxParity.RunPimQuant(graph, input), "batch-one at batch 3");
        Assert.All(graph.Nodes.Where(n => n.OpType == "Reshape"), n => Assert.Equal(0L, graph.Initializers[n.Inputs[1]].Value[0].item<long>()));
        Assert.Equal([-1L, 5], graph.ValueShapes[graph.Outputs[0]]);
    }

    [Fact]
    public void AllowZeroReshape_KeepsItsMeaning()
    {
        // x.view(x.size(0), -1) with allowzero=1 (opset 14+), the target computed from Shape.
        var b = new OnnxModelBuilder(14, seed: 18);
        var x = b.Conv(b.Input("input", 2, 3, 3), "conv", 2, 4, 1);
        var batch = b.Op("Slice", [b.Op("Shape", [x]), b.Int64s("s", [0], 1), b.Int64s("e", [1], 1)]);
        var y = b.Op("Reshape", [x, b.Op("Concat", [batch, b.Int64s("minus_one", [-1], 1)], ("axis", 0L))], ("allowzero", 1L));
        b.Output(b.Linear(y, "fc", 36, 3));
        using var graph = ImportAndCompare(new TestModel(b, [2, 3, 3]), "allowzero");
    }

    [Fact]
    public void UnsortedNodes_AreOrderedTopologically()
    {
        var model = OnnxTestModels.ConvBn(13);
        var input = OnnxParity.Input(model.SampleShape);
        var expected = OnnxParity.RunOrt(model.Bytes(), input);
        var reversed = model.Builder.Graph.Node.Reverse().ToList();
        model.Builder.Graph.Node.Clear();
        model.Builder.Graph.Node.AddRange(reversed);
        using var graph = OnnxImporter.Import(model.Bytes(), "unsorted");
        Assert.Equal(["Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm"], graph.Nodes.Select(n => n.OpType));
        OnnxParity.AssertClose(expected, OnnxParity.RunPimQuant(graph, input), "unsorted");
    }

    [Fact]
    public void UnnamedAndDuplicateNodeNames_AreMadeUnique()
    {
        var model = OnnxTestModels.MatMulAdd(13);
        var input = OnnxParity.Input(model.SampleShape);
        var expected = OnnxParity.RunOrt(model.Bytes(), input);
        // ONNX Runtime refuses duplicate names, so it only runs the original.
        foreach (var node in model.Builder.Graph.Node) node.Name = node.OpType == "MatMul" ? "" : "same";
        using var graph = OnnxImporter.Import(model.Bytes(), "names");
        OnnxParity.AssertClose(expected, OnnxParity.RunPimQuant(graph, input), "names");
        Assert.Equal(graph.Nodes.Count, graph.Nodes.Select(n => n.Name).Distinct().Count());
        Assert.All(graph.Nodes, n => Assert.NotEmpty(n.Name));
    }

    [Fact]
    public void UnusedOptionalOutputs_AreDropped()
    {
        var model = OnnxTestModels.ConvBn(13);
        var pool = model.Builder.Graph.Node.Single(n => n.OpType == "MaxPool");
        pool.Output.Add("unused_indices");
        using var graph = ImportAndCompare(model, "indices");
        Assert.Single(graph.Nodes.Single(n => n.OpType == "MaxPool").Outputs);
    }

    [Fact]
    public void GraphInputsThatAreInitializers_AreNotInputs()
    {
        var model = OnnxTestModels.MatMulAdd(13);
        var g = model.Builder.Graph;
        foreach (var init in g.Initializer)
        {
            var info = new PimQuant.Onnx.Proto.ValueInfoProto { Name = init.Name, Type = g.Input[0].Type.Clone() };
            g.Input.Add(info);
        }
        using var graph = OnnxImporter.Import(model.Bytes(), "old-exporter");
        Assert.Equal("input", graph.Inputs.Single().Name);
    }

    [Fact]
    public void ImportFromStreamAndFile_GiveTheSameGraph()
    {
        var bytes = OnnxTestModels.ConvBn(13).Bytes();
        string dir = Directory.CreateTempSubdirectory("pimq-onnx-").FullName;
        try
        {
            string path = Path.Combine(dir, "model.onnx");
            File.WriteAllBytes(path, bytes);
            using var fromFile = OnnxImporter.ImportFile(path);
            using var fromStream = OnnxImporter.Import(new MemoryStream(bytes));
            Assert.Equal(fromFile.Nodes.Select(n => n.Name), fromStream.Nodes.Select(n => n.Name));
            Assert.True(fromFile.Initializers["fc.weight"].Value.Equals(fromStream.Initializers["fc.weight"].Value));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
