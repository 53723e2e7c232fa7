using PimQuant.Engine.Graph;
using static TorchSharp.torch;

namespace PimQuant.Onnx;

/// <summary>
/// Moves operands between attributes and inputs where ONNX moved them across opset versions:
/// Clip's min/max became inputs in opset 11, Dropout's ratio in 12, Unsqueeze/Squeeze's and
/// ReduceSum's axes in 13, ReduceMean's and ReduceMax's axes in 18. The engine's kernels accept
/// both forms, so a graph may hold either; an ONNX file must use the form of its opset, or ONNX
/// Runtime rejects it. Values moved into inputs become new
/// constant tensors, collected in <see cref="NewConstants"/> for the caller to store.
/// </summary>
internal sealed class OpsetForms(ModelGraph graph, int opset, Func<string, OnnxException> fail)
{
    private readonly HashSet<string> _taken = new(StringComparer.Ordinal);

    /// <summary>Constant tensors created for operands moved from attributes into inputs, by name.</summary>
    public List<(string Name, Tensor Value)> NewConstants { get; } = [];

    /// <summary><paramref name="node"/> in the form its operator has at the opset; itself when already so.</summary>
    public Node Adapt(Node node) => node.OpType switch
    {
        "Clip" => AttributesToInputs(node, [("min", 1), ("max", 2)], a => tensor(((AttributeValue.Float)a).Value)),
        "Dropout" when opset >= 12 => AttributesToInputs(node, [("ratio", 1)], a => tensor(((AttributeValue.Float)a).Value)),
        "Dropout" => InputsToAttributes(node, [("ratio", 1)], t => new AttributeValue.Float(t.item<float>()), 12),
        "Unsqueeze" or "Squeeze" when opset >= 13 => AttributesToInputs(node, [("axes", 1)], a => tensor(((AttributeValue.Ints)a).Value)),
        "Unsqueeze" or "Squeeze" => InputsToAttributes(node, [("axes", 1)], t => new AttributeValue.Ints(t.to_type(ScalarType.Int64).data<long>().ToArray()), 13),
        "ReduceSum" when opset >= 13 => AttributesToInputs(node, [("axes", 1)], a => tensor(((AttributeValue.Ints)a).Value)),
        "ReduceSum" => InputsToAttributes(node, [("axes", 1)], t => new AttributeValue.Ints(t.to_type(ScalarType.Int64).data<long>().ToArray()), 13),
        "ReduceMean" or "ReduceMax" when opset >= 18 => AttributesToInputs(node, [("axes", 1)], a => tensor(((AttributeValue.Ints)a).Value)),
        "ReduceMean" or "ReduceMax" => InputsToAttributes(node, [("axes", 1)], t => new AttributeValue.Ints(t.to_type(ScalarType.Int64).data<long>().ToArray()), 18),
        _ => node,
    };

    private Node AttributesToInputs(Node node, (string Attribute, int Input)[] moves, Func<AttributeValue, Tensor> toTensor)
    {
        if (!moves.Any(m => node.Attributes.ContainsKey(m.Attribute))) return node;
        var inputs = node.Inputs.ToList();
        var attributes = node.Attributes;
        foreach (var (attribute, index) in moves)
        {
            if (!attributes.TryGetValue(attribute, out var value)) continue;
            if (node.InputAt(index) is not null)
                throw fail($"node '{node.Name}' ({node.OpType}) gives '{attribute}' both as an attribute and as an input");
            if (value is not (AttributeValue.Float or AttributeValue.Ints))
                throw fail($"node '{node.Name}' ({node.OpType}): attribute '{attribute}' has the wrong type");
            while (inputs.Count <= index) inputs.Add("");
            inputs[index] = Fresh($"{node.Name}.{attribute}");
            NewConstants.Add((inputs[index], toTensor(value)));
            attributes = attributes.Remove(attribute);
        }
        return node with { Inputs = [.. inputs], Attributes = attributes };
    }

    private Node InputsToAttributes(Node node, (string Attribute, int Input)[] moves, Func<Tensor, AttributeValue> toAttribute, int inputsSince)
    {
        var inputs = node.Inputs.ToList();
        var attributes = node.Attributes;
        foreach (var (attribute, index) in moves)
        {
            if (node.InputAt(index) is not { } name) continue;
            if (!graph.Initializers.TryGetValue(name, out var constant))
                throw fail($"node '{node.Name}' ({node.OpType}) takes '{attribute}' from '{name}', which is not a constant; before opset {inputsSince} it must be an attribute (the graph has opset {opset})");
            attributes = attributes.SetItem(attribute, toAttribute(constant.Value));
            inputs[index] = "";
        }
        // ONNX marks omitted optional inputs by an empty name, but only in the middle: trailing ones are dropped.
        while (inputs.Count > 1 && inputs[^1].Length == 0) inputs.RemoveAt(inputs.Count - 1);
        if (inputs.Count > moves.Max(m => m.Input))
            throw fail($"node '{node.Name}' ({node.OpType}) has inputs that operator version does not take before opset {inputsSince} (the graph has opset {opset})");
        return attributes == node.Attributes ? node : node with { Inputs = [.. inputs], Attributes = attributes };
    }

    private string Fresh(string stem)
    {
        string name = graph.UniqueName(stem);
        for (int k = 1; !_taken.Add(name); k++) name = graph.UniqueName($"{stem}_{k}");
        return name;
    }
}
