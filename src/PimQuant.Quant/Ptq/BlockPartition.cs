using PimQuant.Engine.Graph;

namespace PimQuant.Quant.Ptq;

/// <summary>
/// A reconstruction block: a run of consecutive nodes that reads exactly one value from before it
/// (<see cref="Input"/>) and hands exactly one value on (<see cref="Output"/>): a residual basic
/// block (both branches and the addition, with the ReLU after it) or a single layer with the
/// operators that follow it up to the next layer.
/// </summary>
/// <param name="Index">Position among the blocks, from 0.</param>
/// <param name="Input">The one value the block reads from earlier nodes (or the graph input).</param>
/// <param name="Output">The one value later nodes read from the block (or a graph output).</param>
/// <param name="Nodes">The block's nodes, in graph order.</param>
/// <param name="Layers">Names of the block's quantized layers.</param>
public sealed record QuantBlock(int Index, string Input, string Output, IReadOnlyList<Node> Nodes, IReadOnlyList<string> Layers)
{
    /// <inheritdoc/>
    public override string ToString() => Layers.Count == 1 ? Layers[0] : $"{Layers[0]}..{Layers[^1]}";
}

/// <summary>
/// Cuts a single-input graph into reconstruction blocks. A cut follows node p when exactly one value
/// produced at or before p is still read after p; the nodes between consecutive cuts form a segment,
/// and segments without quantized layers join the block before them (or after, at the start).
/// For ResNet-20 this gives the stem convolution, the nine basic blocks and the classifier.
/// </summary>
public static class BlockPartition
{
    /// <summary>The blocks of <paramref name="graph"/>, given the names of its quantized layers.</summary>
    /// <exception cref="ArgumentException">The graph has several inputs or outputs, or no quantized layer.</exception>
    public static IReadOnlyList<QuantBlock> Of(ModelGraph graph, IReadOnlySet<string> quantizedLayers)
    {
        if (graph.Inputs.Count != 1 || graph.Outputs.Count != 1)
            throw new ArgumentException($"block reconstruction needs one graph input and one output; '{graph.Name}' has {graph.Inputs.Count} and {graph.Outputs.Count}", nameof(graph));
        var nodes = graph.Nodes;
        int n = nodes.Count;
        var producedAt = new Dictionary<string, int>(StringComparer.Ordinal) { [graph.Inputs[0].Name] = -1 };
        for (int i = 0; i < n; i++)
            foreach (var o in nodes[i].Outputs.Where(o => o.Length > 0)) producedAt[o] = i;
        var lastUse = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
            foreach (var value in nodes[i].Inputs.Where(producedAt.ContainsKey)) lastUse[value] = i;
        foreach (var output in graph.Outputs) lastUse[output] = n;

        // Live values after each node: produced at or before it, read after it.
        var segments = new List<(int Start, int End, string Input, string Output)>();
        int start = 0;
        string input = graph.Inputs[0].Name;
        for (int p = 0; p < n; p++)
        {
            var live = lastUse.Where(kv => producedAt[kv.Key] <= p && kv.Value > p).Select(kv => kv.Key).ToList();
            if (live.Count != 1 || p == n - 1 && live[0] != graph.Outputs[0]) continue;
            segments.Add((start, p, input, live[0]));
            start = p + 1;
            input = live[0];
        }
        if (start < n) throw new ArgumentException($"graph '{graph.Name}': the nodes after '{nodes[start - 1].Name}' do not end in its output");

        bool HasLayer((int Start, int End, string, string) s) => Enumerable.Range(s.Start, s.End - s.Start + 1).Any(i => quantizedLayers.Contains(nodes[i].Name));
        var merged = new List<(int Start, int End, string Input, string Output)>();
        foreach (var segment in segments)
        {
            if (merged.Count > 0 && (!HasLayer(segment) || !HasLayer(merged[^1])))
                merged[^1] = (merged[^1].Start, segment.End, merged[^1].Input, segment.Output);
            else merged.Add(segment);
        }
        if (merged.Count == 0 || !HasLayer(merged[0]))
            throw new ArgumentException($"graph '{graph.Name}' has no quantized layer to reconstruct", nameof(quantizedLayers));
        return merged.Select((s, k) =>
        {
            var blockNodes = nodes.Skip(s.Start).Take(s.End - s.Start + 1).ToList();
            return new QuantBlock(k, s.Input, s.Output, blockNodes, blockNodes.Where(b => quantizedLayers.Contains(b.Name)).Select(b => b.Name).ToList());
        }).ToList();
    }

    /// <summary>
    /// A graph of just the block's nodes, reading <see cref="QuantBlock.Input"/> and producing
    /// <see cref="QuantBlock.Output"/>. It shares the parent's tensors (the same <see cref="Initializer"/>
    /// objects), so it must not be disposed; discard it instead.
    /// </summary>
    public static ModelGraph Subgraph(ModelGraph parent, QuantBlock block)
    {
        var graph = new ModelGraph($"{parent.Name}[{block}]", parent.Opset);
        graph.Inputs.Add(new GraphInput(block.Input, parent.ValueShapes.GetValueOrDefault(block.Input) ?? [-1]));
        graph.Nodes.AddRange(block.Nodes);
        graph.Outputs.Add(block.Output);
        foreach (var name in block.Nodes.SelectMany(node => node.Inputs).Where(parent.Initializers.ContainsKey))
            graph.Initializers[name] = parent.Initializers[name];
        return graph;
    }
}
