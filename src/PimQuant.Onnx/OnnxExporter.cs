using Google.Protobuf;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Runtime;
using PimQuant.Onnx.Proto;
using static TorchSharp.torch;
using AttributeType = PimQuant.Onnx.Proto.AttributeProto.Types.AttributeType;
using Dimension = PimQuant.Onnx.Proto.TensorShapeProto.Types.Dimension;

namespace PimQuant.Onnx;

/// <summary>
/// Writes <see cref="ModelGraph"/>s as ONNX models that ONNX Runtime loads and that
/// <see cref="OnnxImporter"/> reads back to the same nodes, attributes and tensors.
/// </summary>
/// <remarks>
/// The model declares the IR version its opset needs (<see cref="IrVersionFor"/>) and the graph's opset, clamped to the
/// range the importer accepts; operands that ONNX moved between attributes and inputs across
/// opsets (Clip bounds, Dropout ratio, Unsqueeze/Squeeze axes) are written in the form of that
/// opset. Dimension 0 of every input is the symbolic "batch". Parameters, buffers and integer
/// constants are initializers in raw_data; float constants are Constant nodes, which is how ONNX
/// marks a value as fixed, so that importing the file gives them back as constants, not weights.
/// </remarks>
public static class OnnxExporter
{
    /// <summary>The ONNX IR version written for <paramref name="opset"/>: the lowest that defines it (ONNX's release
    /// table: opsets up to 18 are IR 8, 19 and 20 IR 9, 21 IR 10), so strict checkers accept the file.</summary>
    public static long IrVersionFor(long opset) => opset switch { <= 18 => 8, <= 20 => 9, _ => 10 };

    /// <summary>The producer_name written.</summary>
    public const string ProducerName = "PimQuant";

    /// <summary>The symbolic name given to dimension 0 of inputs and outputs.</summary>
    public const string BatchDimension = "batch";

    /// <summary>Serializes <paramref name="graph"/> as an ONNX model.</summary>
    /// <param name="graph">The graph; it is not modified.</param>
    /// <param name="metadata">Entries added to the model's metadata_props, overriding the graph's own <see cref="ModelGraph.Metadata"/> on equal keys.</param>
    /// <exception cref="OnnxException">The graph holds something ONNX cannot express at its opset.</exception>
    public static byte[] Export(ModelGraph graph, IReadOnlyDictionary<string, string>? metadata = null) =>
        ToModel(graph, metadata).ToByteArray();

    /// <summary>
    /// Writes <paramref name="graph"/> to <paramref name="path"/> atomically: the model goes to a
    /// temporary file in the same directory, which then replaces the target, so readers never see
    /// a partial file.
    /// </summary>
    /// <exception cref="OnnxException">The graph cannot be expressed in ONNX, or the file cannot be written.</exception>
    public static void ExportFile(ModelGraph graph, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var model = ToModel(graph, metadata);
        try { AtomicFile.Write(path, model.WriteTo); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OnnxException($"{path}: cannot write the file: {e.Message}");
        }
    }

    /// <summary>Builds the ModelProto of <paramref name="graph"/>.</summary>
    internal static ModelProto ToModel(ModelGraph graph, IReadOnlyDictionary<string, string>? metadata)
    {
        int opset = Math.Clamp(graph.Opset, OnnxImporter.MinOpset, OnnxImporter.MaxOpset);
        OnnxException Fail(string message) => new($"graph '{graph.Name}': {message}");

        using var scope = NewDisposeScope();
        var forms = new OpsetForms(graph, opset, Fail);
        var nodes = graph.Nodes.Select(n => LegacySoftmax(forms.Adapt(n), graph, opset, Fail)).ToList();

        var g = new GraphProto { Name = graph.Name };
        var tensors = graph.Initializers.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (kv.Key, kv.Value.Value, kv.Value.Kind))
            .Concat(forms.NewConstants.Select(c => (c.Name, c.Value, InitializerKind.Constant)));
        foreach (var (name, value, kind) in tensors)
        {
            var proto = TensorCodec.Write(name, value, graph.Name);
            if (kind == InitializerKind.Constant && value.is_floating_point()) g.Node.Add(ConstantNode(proto));
            else g.Initializer.Add(proto);
        }
        g.Node.AddRange(nodes.Select(ToProto));
        g.Input.AddRange(graph.Inputs.Select(i => ValueInfo(i.Name, i.Shape, batchFirst: true)));
        g.Output.AddRange(graph.Outputs.Select(o => ValueInfo(o, graph.ValueShapes.GetValueOrDefault(o), batchFirst: false)));

        var model = new ModelProto
        {
            IrVersion = IrVersionFor(opset),
            ProducerName = ProducerName,
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            Graph = g,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        var entries = new SortedDictionary<string, string>(graph.Metadata, StringComparer.Ordinal);
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>()) entries[key] = value;
        model.MetadataProps.AddRange(entries.Select(e => new StringStringEntryProto { Key = e.Key, Value = e.Value }));
        return model;
    }

    /// <summary>
    /// Before opset 13 Softmax flattens at its axis (default 1); it equals the engine's softmax over
    /// one axis only for the last axis, so that is written explicitly and anything else refused.
    /// </summary>
    private static Node LegacySoftmax(Node node, ModelGraph graph, int opset, Func<string, OnnxException> fail)
    {
        if (node.OpType != "Softmax" || opset >= 13) return node;
        long axis = node.GetInt("axis", -1);
        if (axis == -1) return node.With("axis", new AttributeValue.Int(-1));
        if (!graph.ValueShapes.TryGetValue(node.Inputs[0], out var shape) || (axis < 0 ? axis + shape.Length : axis) != shape.Length - 1)
            throw fail($"node '{node.Name}' (Softmax) normalizes over axis {axis}, which opset {opset} can express only for the last axis of a known shape; set the graph's opset to 13 or later");
        return node;
    }

    private static NodeProto ConstantNode(TensorProto value)
    {
        var node = new NodeProto { OpType = "Constant" };
        node.Output.Add(value.Name);
        node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeType.Tensor, T = value });
        return node;
    }

    private static NodeProto ToProto(Node node)
    {
        var proto = new NodeProto { Name = node.Name, OpType = node.OpType, Domain = "" };
        proto.Input.AddRange(node.Inputs);
        proto.Output.AddRange(node.Outputs);
        proto.Attribute.AddRange(node.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => ToProto(a.Key, a.Value)));
        return proto;
    }

    private static AttributeProto ToProto(string name, AttributeValue value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case AttributeValue.Int i: a.Type = AttributeType.Int; a.I = i.Value; break;
            case AttributeValue.Float f: a.Type = AttributeType.Float; a.F = f.Value; break;
            case AttributeValue.Text s: a.Type = AttributeType.String; a.S = ByteString.CopyFromUtf8(s.Value); break;
            case AttributeValue.Ints v: a.Type = AttributeType.Ints; a.Ints.AddRange(v.Value); break;
            case AttributeValue.Floats v: a.Type = AttributeType.Floats; a.Floats.AddRange(v.Value); break;
            default: throw new ArgumentOutOfRangeException(nameof(value), value, "unknown attribute kind");
        }
        return a;
    }

    /// <summary>
    /// A float tensor value. Dimension 0 is the batch when <paramref name="batchFirst"/> (inputs
    /// always have it there) or when it is dynamic; other dynamic dimensions are left unnamed.
    /// </summary>
    private static ValueInfoProto ValueInfo(string name, long[]? shape, bool batchFirst)
    {
        var type = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float };
        if (shape is not null)
        {
            type.Shape = new TensorShapeProto();
            type.Shape.Dim.AddRange(shape.Select((d, k) =>
                k == 0 && (batchFirst || d < 0) ? new Dimension { DimParam = BatchDimension }
                : d >= 0 ? new Dimension { DimValue = d }
                : new Dimension()));
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = type } };
    }
}
