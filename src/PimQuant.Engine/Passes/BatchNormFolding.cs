using PimQuant.Engine.Graph;
using static TorchSharp.torch;

namespace PimQuant.Engine.Passes;

/// <summary>
/// Folds a BatchNormalization that follows a Conv into the convolution's weights and bias:
/// w' = w·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β. Computed in float64 so the
/// folded model matches the unfolded one to float32 rounding. Applies only where the Conv
/// output feeds nothing but the BatchNormalization and all operands are graph tensors.
/// </summary>
public static class BatchNormFolding
{
    /// <summary>Runs the pass; returns the number of batch norms folded.</summary>
    public static int Run(ModelGraph graph)
    {
        var producers = graph.Producers();
        var consumers = graph.Consumers();
        var removed = new HashSet<Node>();
        int folded = 0;
        for (int n = 0; n < graph.Nodes.Count; n++)
        {
            var bn = graph.Nodes[n];
            if (bn.OpType != "BatchNormalization" || bn.Outputs.Skip(1).Any(o => o.Length > 0)) continue;
            if (!producers.TryGetValue(bn.Inputs[0], out var conv) || conv.OpType != "Conv") continue;
            if (consumers[conv.Output].Count != 1 || graph.Outputs.Contains(conv.Output)) continue;
            if (!bn.Inputs.Skip(1).Take(4).All(graph.IsInitializer) || !graph.IsInitializer(conv.Inputs[1])) continue;
            string? convBias = conv.InputAt(2);
            if (convBias is not null && !graph.IsInitializer(convBias)) continue;

            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var gamma = graph.Initializers[bn.Inputs[1]].Value.to_type(ScalarType.Float64);
            var beta = graph.Initializers[bn.Inputs[2]].Value.to_type(ScalarType.Float64);
            var mean = graph.Initializers[bn.Inputs[3]].Value.to_type(ScalarType.Float64);
            var variance = graph.Initializers[bn.Inputs[4]].Value.to_type(ScalarType.Float64);
            var weight = graph.Initializers[conv.Inputs[1]].Value;
            var bias = convBias is null ? zeros_like(mean) : graph.Initializers[convBias].Value.to_type(ScalarType.Float64);
            var factor = gamma / (variance + bn.GetFloat("epsilon", 1e-5f)).sqrt();
            var shape = new long[weight.dim()];
            Array.Fill(shape, 1L);
            shape[0] = -1;
            var newWeight = (weight.to_type(ScalarType.Float64) * factor.reshape(shape)).to_type(weight.dtype);
            var newBias = ((bias - mean) * factor + beta).to_type(weight.dtype);

            string weightName = graph.UniqueName(conv.Name + ".weight_folded");
            graph.AddParameter(weightName, newWeight);
            string biasName = graph.UniqueName(conv.Name + ".bias_folded");
            graph.AddParameter(biasName, newBias);
            graph.Nodes[graph.Nodes.IndexOf(conv)] = conv with { Inputs = [conv.Inputs[0], weightName, biasName], Outputs = [bn.Output] };
            removed.Add(bn);
            folded++;
        }
        graph.Nodes.RemoveAll(removed.Contains);
        DeadNodeElimination.Run(graph);
        return folded;
    }
}
