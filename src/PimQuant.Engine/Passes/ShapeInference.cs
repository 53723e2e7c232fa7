using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using static TorchSharp.torch;

namespace PimQuant.Engine.Passes;

/// <summary>
/// Fills <see cref="ModelGraph.ValueShapes"/> by running the graph, in inference mode, on zero
/// inputs at batch sizes 1 and 2: a dimension that follows the batch is recorded as -1. Running
/// the real kernels means the shapes can never disagree with execution.
/// </summary>
public static class ShapeInference
{
    /// <summary>Runs the pass.</summary>
    public static void Run(ModelGraph graph)
    {
        var (one, two) = Probe(graph, graph.Nodes.SelectMany(n => n.Outputs).Where(o => o.Length > 0).ToArray());
        graph.ValueShapes.Clear();
        foreach (var input in graph.Inputs) graph.ValueShapes[input.Name] = input.Shape;
        foreach (var (name, s1) in one)
        {
            var s2 = two[name];
            graph.ValueShapes[name] = s1.Length == s2.Length
                ? s1.Zip(s2, (a, b) => a == b ? a : -1).ToArray()
                : throw new GraphException($"value '{name}' changes rank with the batch size");
        }
    }

    /// <summary>Shapes of <paramref name="names"/> at batch sizes 1 and 2.</summary>
    internal static (Dictionary<string, long[]> one, Dictionary<string, long[]> two) Probe(ModelGraph graph, IReadOnlyList<string> names)
    {
        var executor = new GraphExecutor(graph);
        return (ShapesAt(executor, 1, names), ShapesAt(executor, 2, names));
    }

    private static Dictionary<string, long[]> ShapesAt(GraphExecutor executor, long batch, IReadOnlyList<string> names)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var values = executor.RunCapturing(ProbeInputs(executor.Graph, batch), names);
        return values.ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
    }

    /// <summary>Zero inputs with every dynamic dimension set to <paramref name="batch"/>.</summary>
    internal static Tensor[] ProbeInputs(ModelGraph graph, long batch) =>
        graph.Inputs.Select(i => zeros(i.Shape.Select(d => d < 0 ? batch : d).ToArray())).ToArray();
}
