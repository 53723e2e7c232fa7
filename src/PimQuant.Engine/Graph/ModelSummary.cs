namespace PimQuant.Engine.Graph;

/// <summary>One node's line in a model summary.</summary>
/// <param name="Name">The node's name.</param>
/// <param name="OpType">The node's operator.</param>
/// <param name="OutputShape">Output shape, batch dimension as -1.</param>
/// <param name="Parameters">Trainable scalars the node reads.</param>
/// <param name="Macs">Multiply-accumulates per image (Conv, Gemm, MatMul; 0 otherwise).</param>
public sealed record LayerSummary(string Name, string OpType, long[] OutputShape, long Parameters, long Macs);

/// <summary>Layers, parameters and MACs of a graph; needs <see cref="ModelGraph.ValueShapes"/> (run shape inference first).</summary>
public sealed record ModelSummary(IReadOnlyList<LayerSummary> Layers, long Parameters, long Macs)
{
    /// <summary>Summarises <paramref name="graph"/>.</summary>
    public static ModelSummary Of(ModelGraph graph)
    {
        var layers = new List<LayerSummary>();
        var counted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            long parameters = 0;
            foreach (var input in node.Inputs)
                if (graph.Initializers.TryGetValue(input, out var init) && init.Kind == InitializerKind.Parameter && counted.Add(input))
                    parameters += init.Value.numel();
            long[] shape = graph.ValueShapes.TryGetValue(node.Output, out var s) ? s : [];
            layers.Add(new LayerSummary(node.Name, node.OpType, shape, parameters, MacsOf(graph, node, shape)));
        }
        return new ModelSummary(layers, graph.ParameterCount(), layers.Sum(l => l.Macs));
    }

    private static long PerImage(long[] shape) => shape.Skip(1).Aggregate(1L, (a, d) => a * Math.Max(d, 1));

    private static long MacsOf(ModelGraph graph, Node node, long[] outShape)
    {
        if (outShape.Length == 0) return 0;
        switch (node.OpType)
        {
            case "Conv":
                {
                    var w = graph.Initializers.TryGetValue(node.Inputs[1], out var init) ? init.Value.shape : null;
                    if (w is null) return 0;
                    long perOutput = w.Skip(1).Aggregate(1L, (a, d) => a * d); // (Cin/groups)·kh·kw
                    return PerImage(outShape) * perOutput;
                }
            case "Gemm":
            case "MatMul":
                {
                    if (!graph.ValueShapes.TryGetValue(node.Inputs[0], out var a) || a.Length == 0) return 0;
                    bool transA = node.OpType == "Gemm" && node.GetInt("transA", 0) != 0;
                    long k = transA ? a[^2] : a[^1];
                    return PerImage(outShape) * k;
                }
            default:
                return 0;
        }
    }
}
