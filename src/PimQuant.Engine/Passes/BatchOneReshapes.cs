using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using static TorchSharp.torch;

namespace PimQuant.Engine.Passes;

/// <summary>
/// Lets a model exported for batch 1 run at any batch. Without a dynamic batch, PyTorch's exporter
/// writes <c>x.view(x.size(0), -1)</c> as a Reshape to the constant [1, -1]; PimQuant treats
/// dimension 0 of every input as the batch, so at batch 2 that Reshape would merge the samples. A
/// Reshape whose target is the same constant at batches 1 and 2, starts with 1, and whose data's
/// dimension 0 is 1 at batch 1 and 2 at batch 2 (so it is the batch) gets the target with ONNX's 0
/// there (copy the input's dimension). The graph is then run at batch 2; if a node still fails, the
/// file fixes the batch somewhere PimQuant cannot generalise, and the pass refuses the model with a
/// message naming that node, before any other work.
/// </summary>
public static class BatchOneReshapes
{
    /// <summary>Runs the pass; returns the number of Reshape targets rewritten.</summary>
    /// <exception cref="GraphException">The graph runs at batch 1 but not at batch 2.</exception>
    public static int Run(ModelGraph graph)
    {
        var reshapes = graph.Nodes.Where(n => n.OpType == "Reshape" && n.GetInt("allowzero", 0) == 0).ToList();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var atOne = reshapes.Count == 0 ? []
            : new GraphExecutor(graph).RunCapturing(ShapeInference.ProbeInputs(graph, 1), reshapes.SelectMany(n => n.Inputs.Take(2)).Distinct());
        var generalised = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var kernel = new GeneralisingReshape(graph, atOne, generalised);
        try
        {
            // allowzero Reshapes keep the standard kernel: their 0 would mean an empty dimension, not a copied one.
            var candidates = reshapes.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
            new GraphExecutor(graph, n => candidates.Contains(n.Name) ? kernel : null).Run(ShapeInference.ProbeInputs(graph, 2));
        }
        catch (GraphException e)
        {
            // Without Reshapes the graph has not run at batch 1 yet: a node failing there too is not about the batch.
            if (reshapes.Count == 0) new GraphExecutor(graph).Run(ShapeInference.ProbeInputs(graph, 1));
            throw new GraphException($"{e.Message}; this happens at batch 2, not at batch 1: the file fixes the batch at 1 where PimQuant cannot tell that a 1 is the batch (export the model with a dynamic batch, e.g. torch.onnx.export(..., dynamic_axes={{'input': {{0: 'batch'}}}}))", e);
        }

        for (int k = 0; k < graph.Nodes.Count; k++)
        {
            var node = graph.Nodes[k];
            if (!generalised.TryGetValue(node.Name, out var target)) continue;
            string name = graph.UniqueName(node.Inputs[1] + "_any_batch");
            graph.AddInitializer(name, tensor(target, ScalarType.Int64), InitializerKind.Constant);
            graph.Nodes[k] = node with { Inputs = node.Inputs.SetItem(1, name) };
        }
        return generalised.Count;
    }

    /// <summary>The standard Reshape, run at batch 2 with a constant leading 1 that is the batch replaced by 0; records each replacement.</summary>
    private sealed class GeneralisingReshape(ModelGraph graph, Dictionary<string, Tensor> atOne, Dictionary<string, long[]> generalised) : INodeKernel
    {
        private readonly INodeKernel _reshape = StandardKernels.ByOpType["Reshape"];

        public Tensor Run(Node node, IReadOnlyList<Tensor?> inputs, Execution.ExecutionContext context)
        {
            var (data, target) = (inputs[0]!, inputs[1]!);
            long[] atTwo = target.data<long>().ToArray();
            var targetAtOne = graph.Initializers.TryGetValue(node.Inputs[1], out var init) ? init.Value : atOne[node.Inputs[1]];
            bool constant = targetAtOne.data<long>().SequenceEqual(atTwo);
            bool dataFollowsBatch = atOne.TryGetValue(node.Inputs[0], out var dataAtOne) && dataAtOne.shape is [1, ..] && data.shape is [2, ..];
            if (!(constant && atTwo is [1, ..] && dataFollowsBatch))
                return _reshape.Run(node, inputs, context);
            long[] anyBatch = [0, .. atTwo[1..]];
            generalised[node.Name] = anyBatch;
            return _reshape.Run(node, [data, tensor(anyBatch, ScalarType.Int64)], context);
        }
    }
}
