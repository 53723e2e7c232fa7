using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using static TorchSharp.torch;

namespace PimQuant.Engine.Passes;

/// <summary>
/// Folds computations that do not depend on the input data into constant tensors: nodes over
/// constants only, and the Shape → Gather → Unsqueeze → Concat chains that PyTorch's exporter
/// emits for <c>x.view(x.size(0), -1)</c>. Such chains are evaluated at batch sizes 1 and 2; a
/// result that is the same for both is a constant, and a Reshape target whose entries follow
/// the batch is rewritten with ONNX's 0 (copy the input dimension) or -1 (infer); Resize sizes
/// that follow the batch stay computed at run time. Anything else that depends on the batch size
/// does not fold and is reported.
/// </summary>
public static class ConstantFolding
{
    /// <summary>Runs the pass; returns the number of values replaced by constants.</summary>
    /// <exception cref="GraphException">A shape computation depends on the batch size in a way no constant can express.</exception>
    public static int Run(ModelGraph graph)
    {
        var foldable = FoldableValues(graph);
        if (foldable.Count == 0) return 0;

        // Values that leave the foldable region: read by a data node, or graph outputs.
        var boundary = new List<(string value, Node consumer, int index)>();
        foreach (var node in graph.Nodes.Where(n => !n.Outputs.All(foldable.Contains)))
            for (int k = 0; k < node.Inputs.Length; k++)
                if (foldable.Contains(node.Inputs[k])) boundary.Add((node.Inputs[k], node, k));
        if (boundary.Count == 0) return 0;

        var reshapeData = boundary.Where(b => b.consumer.OpType == "Reshape" && b.index == 1).Select(b => b.consumer.Inputs[0]);
        var wanted = boundary.Select(b => b.value).Concat(reshapeData).Distinct().ToArray();
        var executor = new GraphExecutor(graph);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var at1 = executor.RunCapturing(ShapeInference.ProbeInputs(graph, 1), wanted);
        var at2 = executor.RunCapturing(ShapeInference.ProbeInputs(graph, 2), wanted);

        int folded = 0;
        var replacements = new Dictionary<(string node, int index), string>();
        var batchTargets = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (value, consumer, index) in boundary)
        {
            var v1 = at1[value]; var v2 = at2[value];
            Tensor constant;
            if (v1.shape.SequenceEqual(v2.shape) && v1.eq(v2).all().item<bool>())
                constant = v1;
            else if (consumer.OpType == "Reshape" && index == 1)
            {
                constant = ResolveReshapeTarget(consumer, v1, v2, at1[consumer.Inputs[0]].shape, at2[consumer.Inputs[0]].shape);
                batchTargets.Add(consumer.Name);
            }
            else if (consumer.OpType == "Resize" && index == 3)
                continue; // Resize sizes [N, C, H, W] as PyTorch writes them for a dynamic batch: computed at run time.
            else
                throw new GraphException($"node '{consumer.Name}' ({consumer.OpType}): input '{value}' depends on the batch size (a dynamic shape that does not fold to a constant)");
            string name = graph.UniqueName(value + "_folded");
            graph.AddInitializer(name, constant, InitializerKind.Constant);
            replacements[(consumer.Name, index)] = name;
            folded++;
        }
        for (int n = 0; n < graph.Nodes.Count; n++)
        {
            var node = graph.Nodes[n];
            var inputs = node.Inputs.Select((inp, k) => replacements.TryGetValue((node.Name, k), out var r) ? r : inp).ToArray();
            if (inputs.SequenceEqual(node.Inputs)) continue;
            node = node with { Inputs = [.. inputs] };
            // A resolved target holds no 0 of its own (ResolveReshapeTarget refuses one), so the 0 it may now hold for
            // the batch must copy the input's dimension: allowzero, which would make it an empty one, no longer applies.
            if (batchTargets.Contains(node.Name)) node = node with { Attributes = node.Attributes.Remove("allowzero") };
            graph.Nodes[n] = node;
        }
        DeadNodeElimination.Run(graph);
        return folded;
    }

    /// <summary>Values computable without the input data: constants and everything derived from them or from Shape.</summary>
    private static HashSet<string> FoldableValues(ModelGraph graph)
    {
        var foldable = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            bool fromShape = node.OpType == "Shape";
            // A DequantizeLinear of constant codes stays: the integer weights are what a QDQ model is read for.
            if (node.OpType is "QuantizeLinear" or "DequantizeLinear") continue;
            bool fromConstants = node.Inputs.Length > 0 && node.Inputs.All(i =>
                i.Length == 0 || foldable.Contains(i) ||
                (graph.Initializers.TryGetValue(i, out var init) && init.Kind == InitializerKind.Constant));
            if (fromShape || fromConstants)
                foreach (var o in node.Outputs) foldable.Add(o);
        }
        return foldable;
    }

    private static Tensor ResolveReshapeTarget(Node reshape, Tensor t1, Tensor t2, long[] data1, long[] data2)
    {
        long[] s1 = t1.data<long>().ToArray(), s2 = t2.data<long>().ToArray();
        if (reshape.GetInt("allowzero", 0) != 0 && (s1.Contains(0) || s2.Contains(0)))
            throw new GraphException($"node '{reshape.Name}' (Reshape): allowzero=1 with a target that depends on the batch size and holds an empty dimension, which no constant can express");
        var target = (long[])s1.Clone();
        var unresolved = new List<int>();
        for (int d = 0; d < s1.Length; d++)
        {
            if (s1[d] == s2[d]) continue;
            // The entry follows the batch; ONNX's 0 copies the input's dimension, if that is the one it follows.
            if (d < data1.Length && data1[d] == s1[d] && data2[d] == s2[d]) target[d] = 0;
            else unresolved.Add(d);
        }
        if (unresolved.Count == 1 && !target.Contains(-1)) target[unresolved[0]] = -1;
        else if (unresolved.Count > 0)
            throw new GraphException($"node '{reshape.Name}' (Reshape): target shape depends on the batch size in {unresolved.Count} places (a dynamic shape that does not fold to a constant)");
        return tensor(target, ScalarType.Int64);
    }
}
