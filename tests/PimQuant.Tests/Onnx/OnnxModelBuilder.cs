using System.Runtime.InteropServices;
using Google.Protobuf;
using PimQuant.Onnx.Proto;
using DataType = PimQuant.Onnx.Proto.TensorProto.Types.DataType;
using AttributeType = PimQuant.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace PimQuant.Tests.Onnx;

/// <summary>How <see cref="OnnxModelBuilder.Weight"/> stores float initializers.</summary>
internal enum TensorStyle
{
    /// <summary>raw_data, as PyTorch writes them.</summary>
    Raw,
    /// <summary>The typed float_data field.</summary>
    Typed,
    /// <summary>raw_data and float_data in turn.</summary>
    Alternate,
}

/// <summary>
/// Builds ONNX models in code, named and laid out the way PyTorch's exporter writes them
/// ("/Conv_0" nodes, "/Conv_0_output_0" values, weights as initializers, a symbolic batch dimension).
/// </summary>
internal sealed class OnnxModelBuilder
{
    private readonly Random _rng;
    private int _count;
    private bool _nextTyped;

    public OnnxModelBuilder(int opset, int seed = 1, TensorStyle style = TensorStyle.Raw)
    {
        Opset = opset;
        Style = style;
        _rng = new Random(seed);
        Model = new ModelProto { IrVersion = 8, ProducerName = "pytorch", ProducerVersion = "2.10.0", Graph = new GraphProto { Name = "main_graph" } };
        Model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
    }

    public int Opset { get; }
    public TensorStyle Style { get; set; }
    public ModelProto Model { get; }
    public GraphProto Graph => Model.Graph;

    public byte[] Bytes() => Model.ToByteArray();

    /// <summary>Declares a float input whose dimension 0 is the symbolic batch "N".</summary>
    public string Input(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        shape.Dim.AddRange(dims.Select(d => new TensorShapeProto.Types.Dimension { DimValue = d }));
        Graph.Input.Add(new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } },
        });
        return name;
    }

    /// <summary>Declares a graph output (type only, as exporters may leave the shape out).</summary>
    public void Output(string name) => Graph.Output.Add(new ValueInfoProto
    {
        Name = name,
        Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } },
    });

    /// <summary>A random uniform float initializer in [-scale, scale] (or [lo, lo+scale] when positive).</summary>
    public string Weight(string name, long[] dims, float scale = 0.5f, bool positive = false)
    {
        var values = new float[dims.Aggregate(1L, (a, d) => a * d)];
        for (int i = 0; i < values.Length; i++)
            values[i] = positive ? 0.5f + scale * (float)_rng.NextDouble() : scale * (2f * (float)_rng.NextDouble() - 1f);
        bool raw = Style switch { TensorStyle.Raw => true, TensorStyle.Typed => false, _ => !(_nextTyped = !_nextTyped) };
        Graph.Initializer.Add(FloatTensor(name, values, dims, raw));
        return name;
    }

    /// <summary>An INT64 initializer in int64_data.</summary>
    public string Int64s(string name, long[] values, params long[] dims)
    {
        Graph.Initializer.Add(Int64Tensor(name, values, dims));
        return name;
    }

    /// <summary>A Constant node holding <paramref name="value"/>; returns its output.</summary>
    public string Constant(TensorProto value)
    {
        var output = $"/Constant_{_count}_output_0";
        Add("Constant", [], [output], $"/Constant_{_count++}", ("value", value));
        return output;
    }

    /// <summary>Adds a node named like PyTorch's; returns its (first) output.</summary>
    public string Op(string op, string[] inputs, params (string Name, object Value)[] attributes)
    {
        var output = $"/{op}_{_count}_output_0";
        Add(op, inputs, [output], $"/{op}_{_count++}", attributes);
        return output;
    }

    public NodeProto Add(string op, string[] inputs, string[] outputs, string name, params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes.Select(a => Attribute(a.Name, a.Value)));
        Graph.Node.Add(node);
        return node;
    }

    public static AttributeProto Attribute(string name, object value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case int i: a.Type = AttributeType.Int; a.I = i; break;
            case long l: a.Type = AttributeType.Int; a.I = l; break;
            case float f: a.Type = AttributeType.Float; a.F = f; break;
            case string s: a.Type = AttributeType.String; a.S = ByteString.CopyFromUtf8(s); break;
            case long[] ls: a.Type = AttributeType.Ints; a.Ints.AddRange(ls); break;
            case float[] fs: a.Type = AttributeType.Floats; a.Floats.AddRange(fs); break;
            case TensorProto t: a.Type = AttributeType.Tensor; a.T = t; break;
            default: throw new ArgumentException($"no ONNX attribute for {value.GetType()}");
        }
        return a;
    }

    public static TensorProto FloatTensor(string name, float[] values, long[] dims, bool raw = true)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.AddRange(dims);
        if (raw) t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        else t.FloatData.AddRange(values);
        return t;
    }

    public static TensorProto Int64Tensor(string name, long[] values, long[] dims, bool raw = false)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        t.Dims.AddRange(dims);
        if (raw) t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        else t.Int64Data.AddRange(values);
        return t;
    }

    /// <summary>Conv with every attribute spelled out, as PyTorch writes it.</summary>
    public string Conv(string x, string prefix, long inC, long outC, long k, long stride = 1, long pad = 0, long group = 1, long dilation = 1, bool bias = true)
    {
        var inputs = new List<string> { x, Weight($"{prefix}.weight", [outC, inC / group, k, k]) };
        if (bias) inputs.Add(Weight($"{prefix}.bias", [outC], 0.1f));
        return Op("Conv", [.. inputs], ("dilations", new[] { dilation, dilation }), ("group", group),
            ("kernel_shape", new[] { k, k }), ("pads", new[] { pad, pad, pad, pad }), ("strides", new[] { stride, stride }));
    }

    /// <summary>A separate BatchNormalization with its four tensors.</summary>
    public string BatchNorm(string x, string prefix, long channels) =>
        Op("BatchNormalization",
            [x, Weight($"{prefix}.weight", [channels], 0.5f, positive: true), Weight($"{prefix}.bias", [channels], 0.2f),
             Weight($"{prefix}.running_mean", [channels], 0.2f), Weight($"{prefix}.running_var", [channels], 1f, positive: true)],
            ("epsilon", 1e-5f), ("momentum", 0.9f));

    /// <summary>Gemm over [in → out] with PyTorch's transB=1 layout.</summary>
    public string Linear(string x, string prefix, long inF, long outF) =>
        Op("Gemm", [x, Weight($"{prefix}.weight", [outF, inF]), Weight($"{prefix}.bias", [outF], 0.1f)],
            ("alpha", 1f), ("beta", 1f), ("transB", 1L));
}
