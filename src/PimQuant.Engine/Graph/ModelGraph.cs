using TorchSharp;
using TorchSharp.Modules;

namespace PimQuant.Engine.Graph;

/// <summary>A graph input: its name and shape, -1 marking a dynamic (batch) dimension.</summary>
public sealed record GraphInput(string Name, long[] Shape);

/// <summary>
/// The one in-memory model representation of PimQuant: every model, imported from ONNX or built
/// by the zoo, is a <see cref="ModelGraph"/>. Nodes are kept in topological order and follow ONNX
/// operator semantics; named tensors live in <see cref="Initializers"/>; trainable ones are torch
/// parameters, so any graph can be trained or fine-tuned. The graph owns its tensors.
/// </summary>
public sealed class ModelGraph : IDisposable
{
    /// <summary>Creates an empty graph.</summary>
    public ModelGraph(string name, int opset = 17)
    {
        Name = name;
        Opset = opset;
    }

    public string Name { get; set; }

    /// <summary>The ONNX default-domain opset whose semantics the nodes follow.</summary>
    public int Opset { get; set; }

    public List<GraphInput> Inputs { get; } = [];
    public List<string> Outputs { get; } = [];
    public List<Node> Nodes { get; } = [];
    public Dictionary<string, Initializer> Initializers { get; } = new(StringComparer.Ordinal);

    /// <summary>Free-form key/value metadata (preprocessing, dataset, producing command), kept through ONNX.</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Shapes of values, filled by <see cref="Passes.ShapeInference"/> (batch dimension as -1).</summary>
    public Dictionary<string, long[]> ValueShapes { get; } = new(StringComparer.Ordinal);

    /// <summary>Stores a copy of <paramref name="value"/> as a trainable tensor; the caller keeps its own.</summary>
    public void AddParameter(string name, torch.Tensor value) => AddInitializer(name, value, InitializerKind.Parameter);

    /// <summary>Stores a copy of <paramref name="value"/> under <paramref name="name"/>; the caller keeps its own.</summary>
    public void AddInitializer(string name, torch.Tensor value, InitializerKind kind)
    {
        if (Initializers.ContainsKey(name))
            throw new GraphException($"tensor '{name}' is defined twice");
        var copy = value.detach().clone();
        torch.Tensor stored = kind == InitializerKind.Parameter ? new Parameter(copy, requires_grad: true) : copy;
        stored.DetachFromDisposeScope();
        Initializers[name] = new Initializer(stored, kind);
    }

    /// <summary>Replaces the value of an existing tensor by a copy of <paramref name="value"/>, keeping its kind.</summary>
    public void ReplaceInitializer(string name, torch.Tensor value)
    {
        var kind = Initializers[name].Kind;
        RemoveInitializer(name);
        AddInitializer(name, value, kind);
    }

    /// <summary>Removes and disposes a named tensor.</summary>
    public void RemoveInitializer(string name)
    {
        if (Initializers.Remove(name, out var init))
            init.Value.Dispose();
    }

    /// <summary>True when <paramref name="name"/> names a tensor held by the graph.</summary>
    public bool IsInitializer(string name) => Initializers.ContainsKey(name);

    /// <summary>The trainable tensors, in a stable order (sorted by name).</summary>
    public IEnumerable<Parameter> Parameters() =>
        Initializers.Where(kv => kv.Value.Kind == InitializerKind.Parameter)
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (Parameter)kv.Value.Value);

    /// <summary>The node producing each value.</summary>
    public Dictionary<string, Node> Producers()
    {
        var map = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var node in Nodes)
            foreach (var o in node.Outputs)
                if (o.Length > 0) map[o] = node;
        return map;
    }

    /// <summary>The nodes consuming each value.</summary>
    public Dictionary<string, List<Node>> Consumers()
    {
        var map = new Dictionary<string, List<Node>>(StringComparer.Ordinal);
        foreach (var node in Nodes)
            foreach (var i in node.Inputs)
                if (i.Length > 0)
                {
                    if (!map.TryGetValue(i, out var list)) map[i] = list = [];
                    list.Add(node);
                }
        return map;
    }

    /// <summary>A fresh name starting with <paramref name="stem"/> used by no node, value or tensor.</summary>
    public string UniqueName(string stem)
    {
        var used = new HashSet<string>(Initializers.Keys, StringComparer.Ordinal);
        foreach (var n in Nodes) { used.Add(n.Name); foreach (var o in n.Outputs) used.Add(o); }
        foreach (var i in Inputs) used.Add(i.Name);
        if (!used.Contains(stem)) return stem;
        for (int k = 1; ; k++)
            if (!used.Contains($"{stem}_{k}")) return $"{stem}_{k}";
    }

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount() =>
        Initializers.Values.Where(i => i.Kind == InitializerKind.Parameter).Sum(i => i.Value.numel());

    public void Dispose()
    {
        foreach (var init in Initializers.Values) init.Value.Dispose();
        Initializers.Clear();
    }
}
