using PimQuant.Engine.Graph;
using static TorchSharp.torch;

namespace PimQuant.Onnx;

/// <summary>
/// Rewrites every Split node into one Slice per output, because the engine computes one output per node.
/// Given split sizes (attribute before opset 13, constant input from 13) become constant bounds; an even
/// split (by its outputs, or opset 18's num_outputs) slices at multiples of ceil(d / n), computed from
/// Shape, which constant folding turns into constants (Slice clamps the last part to the axis' end).
/// </summary>
internal static class SplitAsSlices
{
    /// <summary>Rewrites the Split nodes of <paramref name="graph"/> in place, keeping node order.</summary>
    public static void Run(ModelGraph graph, Func<string, OnnxException> fail)
    {
        for (int k = 0; k < graph.Nodes.Count; k++)
        {
            var split = graph.Nodes[k];
            if (split.OpType != "Split") continue;
            // Rewritten while the Split is still in the graph, so no new name takes one of its outputs.
            var slices = Rewrite(graph, split, fail);
            graph.Nodes.RemoveAt(k);
            graph.Nodes.InsertRange(k, slices);
            k += slices.Count - 1;
        }
    }

    private static List<Node> Rewrite(ModelGraph graph, Node split, Func<string, OnnxException> fail)
    {
        // UniqueName sees the graph (earlier rewrites included) but not this rewrite's nodes: the stems below differ
        // and none ends in "_<number>", so its suffixes cannot make two of them equal.
        var nodes = new List<Node>();
        string Constant(string stem, long[] values)
        {
            string name = graph.UniqueName($"{split.Name}.{stem}");
            graph.AddInitializer(name, tensor(values, ScalarType.Int64), InitializerKind.Constant);
            return name;
        }
        string Op(string op, string stem, params string[] inputs)
        {
            string name = graph.UniqueName($"{split.Name}.{stem}");
            nodes.Add(Node.Create(name, op, inputs, [name]));
            return name;
        }

        long axis = split.GetInt("axis", 0);
        int parts = split.Outputs.Length;
        long[]? sizes = split.GetInts("split");
        if (split.InputAt(1) is { } sizesInput)
            sizes = graph.Initializers.TryGetValue(sizesInput, out var init) ? init.Value.to_type(ScalarType.Int64).data<long>().ToArray()
                : throw fail($"node '{split.Name}' (Split) takes its sizes from '{sizesInput}', which is not a constant; PimQuant needs constant split sizes");
        if (split.Attributes.ContainsKey("num_outputs"))
        {
            long count = split.GetInt("num_outputs", 0);
            if (count != parts || sizes is not null)
                throw fail($"node '{split.Name}' (Split) has num_outputs {count}, {parts} outputs{(sizes is not null ? " and split sizes" : "")}; ONNX requires num_outputs to equal the outputs, without sizes");
        }
        if (sizes is not null && (sizes.Length != parts || sizes.Any(s => s < 0)))
            throw fail($"node '{split.Name}' (Split): split sizes [{string.Join(",", sizes)}] must be {parts} non-negative values, one per output");

        string axes = Constant("axes", [axis]);
        string? chunk = null;
        if (sizes is null)
        {
            // ceil(d / n) = (d + n - 1) / n in integer arithmetic.
            string d = Op("Gather", "dim", Op("Shape", "shape", split.Inputs[0]), Constant("axis_index", [axis]));
            chunk = Op("Div", "chunk", Op("Add", "dim_plus", d, Constant("n_minus_1", [parts - 1])), Constant("n", [parts]));
        }
        var multiples = new Dictionary<long, string>();
        string Multiple(long m) => multiples.TryGetValue(m, out var name) ? name : multiples[m] = Constant($"k{m}", [m]);
        long offset = 0;
        for (int p = 0; p < parts; p++)
        {
            string start, end;
            if (sizes is not null)
            {
                (start, end) = (Constant($"start{p}", [offset]), Constant($"end{p}", [offset + sizes[p]]));
                offset += sizes[p];
            }
            else
                (start, end) = (Op("Mul", $"start{p}", chunk!, Multiple(p)), Op("Mul", $"end{p}", chunk!, Multiple(p + 1)));
            string output = split.Outputs[p];
            // An output nobody reads (emptied on import) still gets a name, and dead-node elimination removes its Slice.
            if (output.Length == 0) output = graph.UniqueName($"{split.Name}.unused{p}");
            nodes.Add(Node.Create(graph.UniqueName($"{split.Name}.slice{p}"), "Slice", [split.Inputs[0], start, end, axes], [output]));
        }
        return nodes;
    }
}
