using static TorchSharp.torch;

namespace PimQuant.Engine.Graph;

/// <summary>
/// Builds a <see cref="ModelGraph"/> layer by layer with PyTorch's default initialisations
/// (Kaiming-normal convolutions, uniform linear layers, unit batch norm), drawn from an explicit
/// seeded generator so the same seed builds the same weights.
/// </summary>
public sealed class GraphBuilder
{
    private readonly ModelGraph _graph;
    private readonly Generator _generator;
    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);

    /// <summary>Starts a graph with one NCHW float input of dynamic batch.</summary>
    public GraphBuilder(string name, int channels, int height, int width, long seed, int opset = 17)
    {
        _graph = new ModelGraph(name, opset);
        _graph.Inputs.Add(new GraphInput("input", [-1, channels, height, width]));
        _generator = new Generator(unchecked((ulong)seed));
        Input = "input";
    }

    /// <summary>The graph input's value name.</summary>
    public string Input { get; }

    /// <summary>Marks <paramref name="value"/> as the graph output and returns the finished graph.</summary>
    public ModelGraph Finish(string value)
    {
        _graph.Nodes[^1] = _graph.Nodes[^1].Output == value
            ? _graph.Nodes[^1] with { Outputs = ["logits"] }
            : throw new InvalidOperationException("the output must be the last node's output");
        _graph.Outputs.Add("logits");
        _generator.Dispose();
        return _graph;
    }

    private string Fresh(string op)
    {
        _counters[op] = _counters.GetValueOrDefault(op) + 1;
        return $"{op.ToLowerInvariant()}{_counters[op]}";
    }

    private string Add(string op, string[] inputs, params (string name, AttributeValue value)[] attributes)
    {
        string name = Fresh(op);
        _graph.Nodes.Add(Node.Create(name, op, inputs, [name + "_out"],
            attributes.Select(a => KeyValuePair.Create(a.name, a.value))));
        return name + "_out";
    }

    /// <summary>A 2-D convolution (weights Kaiming-normal, fan-out mode, as torchvision's ResNets).</summary>
    public string Conv(string x, int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, int groups = 1, bool bias = false)
    {
        string name = $"conv{_counters.GetValueOrDefault("Conv") + 1}";
        using var scope = NewDisposeScope();
        double std = Math.Sqrt(2.0 / (outChannels / groups * kernel * kernel));
        _graph.AddParameter(name + ".weight", randn([outChannels, inChannels / groups, kernel, kernel], generator: _generator) * std);
        var inputs = new List<string> { x, name + ".weight" };
        if (bias)
        {
            _graph.AddParameter(name + ".bias", zeros(outChannels));
            inputs.Add(name + ".bias");
        }
        return Add("Conv", [.. inputs],
            ("kernel_shape", new AttributeValue.Ints([kernel, kernel])),
            ("strides", new AttributeValue.Ints([stride, stride])),
            ("pads", new AttributeValue.Ints([padding, padding, padding, padding])),
            ("dilations", new AttributeValue.Ints([1, 1])),
            ("group", new AttributeValue.Int(groups)));
    }

    /// <summary>Batch normalisation with unit scale, zero shift and fresh running statistics.</summary>
    public string BatchNorm(string x, int channels)
    {
        string name = $"bn{_counters.GetValueOrDefault("BatchNormalization") + 1}";
        using var scope = NewDisposeScope();
        _graph.AddParameter(name + ".weight", ones(channels));
        _graph.AddParameter(name + ".bias", zeros(channels));
        _graph.AddInitializer(name + ".running_mean", zeros(channels), InitializerKind.Buffer);
        _graph.AddInitializer(name + ".running_var", ones(channels), InitializerKind.Buffer);
        return Add("BatchNormalization", [x, name + ".weight", name + ".bias", name + ".running_mean", name + ".running_var"],
            ("epsilon", new AttributeValue.Float(1e-5f)), ("momentum", new AttributeValue.Float(0.9f)));
    }

    /// <summary>A fully connected layer (ONNX Gemm with transB), PyTorch's uniform initialisation.</summary>
    public string Linear(string x, int inFeatures, int outFeatures)
    {
        string name = $"fc{_counters.GetValueOrDefault("Gemm") + 1}";
        using var scope = NewDisposeScope();
        double bound = 1.0 / Math.Sqrt(inFeatures);
        _graph.AddParameter(name + ".weight", (rand([outFeatures, inFeatures], generator: _generator) * 2 - 1) * bound);
        _graph.AddParameter(name + ".bias", (rand([outFeatures], generator: _generator) * 2 - 1) * bound);
        return Add("Gemm", [x, name + ".weight", name + ".bias"], ("transB", new AttributeValue.Int(1)));
    }

    public string Relu(string x) => Add("Relu", [x]);

    /// <summary>ReLU6 as ONNX Clip with constant bounds.</summary>
    public string Relu6(string x)
    {
        if (!_graph.IsInitializer("relu6.min"))
        {
            using var scope = NewDisposeScope();
            _graph.AddInitializer("relu6.min", tensor(0f), InitializerKind.Constant);
            _graph.AddInitializer("relu6.max", tensor(6f), InitializerKind.Constant);
        }
        return Add("Clip", [x, "relu6.min", "relu6.max"]);
    }

    public string MaxPool(string x, int kernel, int stride) =>
        Add("MaxPool", [x], ("kernel_shape", new AttributeValue.Ints([kernel, kernel])), ("strides", new AttributeValue.Ints([stride, stride])));

    public string GlobalAveragePool(string x) => Add("GlobalAveragePool", [x]);

    public string Flatten(string x) => Add("Flatten", [x], ("axis", new AttributeValue.Int(1)));

    public string Sum(string a, string b) => Add("Add", [a, b]);
}
