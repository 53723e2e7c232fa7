using PimQuant.Engine.Graph;
using static TorchSharp.torch;

namespace PimQuant.Tests.Models;

/// <summary>Makes a freshly built zoo graph look trained where it matters to a test.</summary>
internal static class TrainedLike
{
    /// <summary>Gives every batch norm non-trivial scale, shift and running statistics (seeded).</summary>
    public static void RandomizeBatchNorms(ModelGraph graph, long seed)
    {
        using var gen = new Generator((ulong)seed);
        using var scope = NewDisposeScope();
        foreach (var name in graph.Initializers.Keys.Where(k => k.StartsWith("bn", StringComparison.Ordinal)).Order().ToList())
        {
            var shape = graph.Initializers[name].Value.shape;
            var value = name.EndsWith("running_var") || name.EndsWith("weight")
                ? rand(shape, generator: gen) + 0.5
                : randn(shape, generator: gen) * 0.2;
            graph.ReplaceInitializer(name, value);
        }
    }
}
