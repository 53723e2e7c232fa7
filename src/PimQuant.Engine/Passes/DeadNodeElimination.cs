using PimQuant.Engine.Graph;

namespace PimQuant.Engine.Passes;

/// <summary>Removes nodes that no graph output depends on, and tensors no node reads.</summary>
public static class DeadNodeElimination
{
    /// <summary>Runs the pass; returns the number of nodes removed.</summary>
    public static int Run(ModelGraph graph)
    {
        var live = new HashSet<string>(graph.Outputs, StringComparer.Ordinal);
        var keep = new bool[graph.Nodes.Count];
        for (int n = graph.Nodes.Count - 1; n >= 0; n--)
        {
            var node = graph.Nodes[n];
            if (!node.Outputs.Any(live.Contains)) continue;
            keep[n] = true;
            foreach (var i in node.Inputs) if (i.Length > 0) live.Add(i);
        }
        int before = graph.Nodes.Count;
        var kept = graph.Nodes.Where((_, n) => keep[n]).ToList();
        graph.Nodes.Clear();
        graph.Nodes.AddRange(kept);
        foreach (var name in graph.Initializers.Keys.Where(k => !live.Contains(k)).ToList())
            graph.RemoveInitializer(name);
        return before - graph.Nodes.Count;
    }
}
