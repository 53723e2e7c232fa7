using System.Runtime.InteropServices;
using Google.Protobuf;
using PimQuant.Engine.Graph;
using PimQuant.Onnx;
using PimQuant.Onnx.Proto;
using Xunit;
using DataType = PimQuant.Onnx.Proto.TensorProto.Types.DataType;

namespace PimQuant.Tests.Onnx;

/// <summary>Broken or unsupported files fail with one-line messages that say what and where.</summary>
public sealed class OnnxMalformedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-onnx-").FullName;
    private string Path0 => Path.Combine(_dir, "model.onnx");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Imports <paramref name="bytes"/> from model.onnx; asserts an OnnxException naming the file, one line.</summary>
    private OnnxException ImportFails(byte[] bytes)
    {
        File.WriteAllBytes(Path0, bytes);
        var e = Assert.Throws<OnnxException>(() => OnnxImporter.ImportFile(Path0));
        Assert.IsAssignableFrom<GraphException>(e);
        Assert.StartsWith(Path0 + ": ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    private OnnxException ImportFails(OnnxModelBuilder builder) => ImportFails(builder.Bytes());

    private static void AssertContains(OnnxException e, params string[] parts)
    {
        foreach (var part in parts) Assert.Contains(part, e.Message);
    }

    private static TensorProto Initializer(OnnxModelBuilder b, string name) => b.Graph.Initializer.Single(t => t.Name == name);

    private static void SetRawFloat(TensorProto t, int index, float value)
    {
        var values = MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
        values[index] = value;
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    [Fact]
    public void TruncatedFile()
    {
        var bytes = OnnxTestModels.ConvBn(13).Bytes();
        AssertContains(ImportFails(bytes[..(bytes.Length / 2)]), "not a valid ONNX model");
    }

    [Fact]
    public void RandomBytes()
    {
        var bytes = new byte[4096];
        new Random(42).NextBytes(bytes);
        AssertContains(ImportFails(bytes), "not a valid ONNX model");
    }

    [Fact]
    public void MissingFile()
    {
        var e = Assert.Throws<OnnxException>(() => OnnxImporter.ImportFile(Path0));
        AssertContains(e, Path0, "cannot read");
    }

    [Fact]
    public void UnsupportedOperator_NamesOperatorNodeAndOpset()
    {
        var model = OnnxTestModels.ConvBn(13);
        var relu = model.Builder.Graph.Node.Single(n => n.OpType == "Relu");
        (relu.OpType, relu.Name) = ("LSTM", "Foo_3");
        AssertContains(ImportFails(model.Builder), "an operator PimQuant does not support (opset 13)", "'LSTM' (1 node, first 'Foo_3')");
    }

    [Fact]
    public void EveryUnsupportedOperator_IsNamedOnce_WithItsCountAndFirstNode()
    {
        var model = OnnxTestModels.Mix(13);
        var nodes = model.Builder.Graph.Node;
        nodes.Single(n => n.OpType == "Clip").OpType = "Celu";
        foreach (var relu in nodes.Where(n => n.OpType == "Relu")) relu.OpType = "Elu";
        var concats = nodes.Where(n => n.OpType == "Concat").ToList();
        foreach (var concat in concats) concat.OpType = "ConcatFromSequence";
        concats[1].Name = "";
        var e = ImportFails(model.Builder);
        AssertContains(e, "3 operators PimQuant does not support (opset 13)", "'Celu' (1 node, first '/Clip_", "'Elu' (1 node",
            $"'ConcatFromSequence' (2 nodes, first '{concats[0].Name}')");
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(e.Message, System.Text.RegularExpressions.Regex.Escape(Path0)));
    }

    [Fact]
    public void NonDefaultDomain_NamesDomainOperatorAndNode()
    {
        var model = OnnxTestModels.ConvBn(13);
        model.Builder.Model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        var relu = model.Builder.Graph.Node.Single(n => n.OpType == "Relu");
        (relu.OpType, relu.Domain) = ("FusedGelu", "com.microsoft");
        AssertContains(ImportFails(model.Builder), $"'FusedGelu' (domain 'com.microsoft', opset 1; 1 node, first '{relu.Name}')", "only the default ONNX domain");
    }

    [Fact]
    public void MissingInitializer_NamesNodeAndInput()
    {
        var model = OnnxTestModels.ConvBn(13);
        model.Builder.Graph.Initializer.Remove(Initializer(model.Builder, "conv1.weight"));
        var conv = model.Builder.Graph.Node.Single(n => n.OpType == "Conv");
        AssertContains(ImportFails(model.Builder), $"node '{conv.Name}' (Conv)", "input 'conv1.weight'", "missing initializer");
    }

    [Fact]
    public void NaNWeight_NamesTensorAndIndex()
    {
        var model = OnnxTestModels.ConvBn(13);
        SetRawFloat(Initializer(model.Builder, "conv1.weight"), 5, float.NaN);
        // conv1.weight is [8, 3, 3, 3]: flat index 5 is [0, 0, 1, 2].
        AssertContains(ImportFails(model.Builder), "tensor 'conv1.weight'", "NaN", "index 5 [0, 0, 1, 2]");
    }

    [Fact]
    public void InfiniteWeight_InFloatData_NamesTensorAndIndex()
    {
        var model = OnnxTestModels.ConvBn(13);
        var fc = Initializer(model.Builder, "fc.weight");
        var values = MemoryMarshal.Cast<byte, float>(fc.RawData.Span).ToArray();
        values[130] = float.PositiveInfinity;
        fc.ClearRawData();
        fc.FloatData.AddRange(values);
        AssertContains(ImportFails(model.Builder), "tensor 'fc.weight'", "infinite", "index 130 [1, 2]");
    }

    [Fact]
    public void ExternalData_NamesTensorAndFile()
    {
        var model = OnnxTestModels.ConvBn(13);
        var w = Initializer(model.Builder, "fc.weight");
        w.ClearRawData();
        w.DataLocation = TensorProto.Types.DataLocation.External;
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
        AssertContains(ImportFails(model.Builder), "tensor 'fc.weight'", "external file 'weights.bin'");
    }

    [Theory]
    [InlineData(9)]
    [InlineData(22)]
    public void OpsetOutsideRange_NamesOpsetAndRange(int opset)
    {
        var model = OnnxTestModels.ConvBn(13);
        model.Builder.Model.OpsetImport[0].Version = opset;
        AssertContains(ImportFails(model.Builder), $"opset {opset}", "opsets 11 to 21");
    }

    [Fact]
    public void BatchDependentReshapeTarget_IsReportedWithTheFileName()
    {
        // x.view(2 * x.size(0), -1): the first entry follows the batch but is not the batch.
        var b = new OnnxModelBuilder(13);
        var x = b.Input("input", 4, 3, 3);
        var n = b.Op("Gather", [b.Op("Shape", [x]), b.Constant(OnnxModelBuilder.Int64Tensor("", [0], []))], ("axis", 0L));
        var doubled = b.Op("Mul", [n, b.Constant(OnnxModelBuilder.Int64Tensor("", [2], []))]);
        var target = b.Op("Concat", [b.Op("Unsqueeze", [doubled, b.Int64s("axes", [0], 1)]), b.Int64s("minus_one", [-1], 1)], ("axis", 0L));
        var reshaped = b.Op("Reshape", [x, target]);
        b.Output(reshaped);
        var reshape = b.Graph.Node.Single(n => n.OpType == "Reshape");
        AssertContains(ImportFails(b), $"node '{reshape.Name}' (Reshape)", "batch size");
    }

    [Fact]
    public void BatchFixedWhereItCannotBeGeneralised_IsRefusedNamingTheNode()
    {
        // CoordConv-style constant channels expanded to batch 1 and concatenated: at batch 2 the Concat fails.
        var b = new OnnxModelBuilder(13);
        var x = b.Input("input", 2, 3, 3);
        var coords = b.Op("Expand", [b.Weight("coords", [2, 3, 3]), b.Int64s("coords.shape", [1, 2, 3, 3], 4)]);
        var cat = b.Op("Concat", [x, coords], ("axis", 1L));
        b.Output(b.Op("Relu", [cat]));
        var concat = b.Graph.Node.Single(n => n.OpType == "Concat");
        AssertContains(ImportFails(b), $"node '{concat.Name}' (Concat)", "at batch 2, not at batch 1", "dynamic_axes");
    }

    [Fact]
    public void RawDataSizeMismatch_NamesTensorAndByteCounts()
    {
        var model = OnnxTestModels.ConvBn(13);
        var w = Initializer(model.Builder, "conv1.weight");
        w.RawData = ByteString.CopyFrom(w.RawData.Span[..^4]);
        AssertContains(ImportFails(model.Builder), "tensor 'conv1.weight'", "raw_data holds 860 bytes", "[8, 3, 3, 3]", "needs 864");
    }

    [Fact]
    public void WeightsThatDoNotFitTheirOperator_AreReportedAsInvalid()
    {
        var model = OnnxTestModels.ConvBn(13);
        var w = Initializer(model.Builder, "conv1.weight");
        // Same element count, wrong layout: 3 input channels per filter become 9 with 1×3 kernels.
        w.Dims.Clear();
        w.Dims.AddRange([8L, 9, 1, 3]);
        var e = ImportFails(model.Builder);
        AssertContains(e, "(Conv)");
        Assert.DoesNotContain("batch 2", e.Message);
    }

    [Fact]
    public void UnsupportedElementType_NamesTensorAndType()
    {
        var model = OnnxTestModels.ConvBn(13);
        var v = Initializer(model.Builder, "bn1.running_var");
        v.DataType = (int)DataType.Float16;
        v.RawData = ByteString.CopyFrom(new byte[16]);
        AssertContains(ImportFails(model.Builder), "tensor 'bn1.running_var'", "FLOAT16");
    }

    [Fact]
    public void EmptyGraphs_AreRefused()
    {
        var noNodes = OnnxTestModels.ConvBn(13);
        noNodes.Builder.Graph.Node.Clear();
        AssertContains(ImportFails(noNodes.Builder), "no nodes");

        var noInputs = OnnxTestModels.ConvBn(13);
        noInputs.Builder.Graph.Input.Clear();
        AssertContains(ImportFails(noInputs.Builder), "no inputs");

        var noOutputs = OnnxTestModels.ConvBn(13);
        noOutputs.Builder.Graph.Output.Clear();
        AssertContains(ImportFails(noOutputs.Builder), "no outputs");

        var noGraph = new ModelProto { IrVersion = 8 };
        AssertContains(ImportFails(noGraph.ToByteArray()), "not a valid ONNX model");
    }

    [Fact]
    public void LegacySoftmaxOverNonLastAxis_IsRefused()
    {
        var b = new OnnxModelBuilder(11);
        var softmax = b.Op("Softmax", [b.Input("input", 3, 4, 4)]);
        b.Output(softmax);
        AssertContains(ImportFails(b), "(Softmax, opset 11)", "axis 1 of a rank-4 input", "last one");
    }

    [Fact]
    public void Cycle_IsRefused()
    {
        var b = new OnnxModelBuilder(13);
        var x = b.Input("input", 4);
        b.Add("Add", [x, "b"], ["a"], "first");
        b.Add("Relu", ["a"], ["b"], "second");
        b.Output("b");
        AssertContains(ImportFails(b), "cycle", "'first' (Add)");
    }

    [Fact]
    public void ShapeSlicingOperator_IsRefused()
    {
        var model = OnnxTestModels.ReshapeChain(15);
        model.Builder.Graph.Node.Single(n => n.OpType == "Shape").Attribute.Add(OnnxModelBuilder.Attribute("start", 1L));
        AssertContains(ImportFails(model.Builder), "(Shape)", "'start'/'end'");
    }

    /// <summary>No cut of a valid file and no random buffer may escape as anything but an OnnxException.</summary>
    [Fact]
    public void AnyTruncationOrGarbage_FailsOnlyWithOnnxException()
    {
        var bytes = OnnxTestModels.MatMulAdd(13).Bytes();
        var rng = new Random(9);
        var cases = Enumerable.Range(0, bytes.Length / 5).Select(k => bytes[..(k * 5)])
            .Concat(Enumerable.Range(0, 50).Select(k => { var r = new byte[1 + rng.Next(300)]; rng.NextBytes(r); return r; }));
        foreach (var data in cases)
        {
            try { OnnxImporter.Import(data, "fuzz").Dispose(); }
            catch (OnnxException) { }
        }
    }
}
