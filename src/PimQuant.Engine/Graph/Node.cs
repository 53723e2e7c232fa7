using System.Collections.Immutable;

namespace PimQuant.Engine.Graph;

/// <summary>
/// One operator of a model graph. Operators follow ONNX semantics (names, inputs, attributes),
/// so import and export are one-to-one. An empty input name marks an omitted optional input.
/// </summary>
public sealed record Node(
    string Name,
    string OpType,
    ImmutableArray<string> Inputs,
    ImmutableArray<string> Outputs,
    ImmutableDictionary<string, AttributeValue> Attributes)
{
    /// <summary>Creates a node from plain arrays.</summary>
    public static Node Create(string name, string opType, IEnumerable<string> inputs, IEnumerable<string> outputs,
        IEnumerable<KeyValuePair<string, AttributeValue>>? attributes = null) =>
        new(name, opType, [.. inputs], [.. outputs],
            attributes is null ? ImmutableDictionary<string, AttributeValue>.Empty : attributes.ToImmutableDictionary());

    /// <summary>The single output most operators have.</summary>
    public string Output => Outputs[0];

    /// <summary>Input <paramref name="i"/>, or null when absent or omitted.</summary>
    public string? InputAt(int i) => i < Inputs.Length && Inputs[i].Length > 0 ? Inputs[i] : null;

    public long GetInt(string name, long fallback) =>
        Attributes.TryGetValue(name, out var a) ? a is AttributeValue.Int i ? i.Value : throw BadAttribute(name, "an integer") : fallback;

    public float GetFloat(string name, float fallback) =>
        Attributes.TryGetValue(name, out var a) ? a is AttributeValue.Float f ? f.Value : throw BadAttribute(name, "a float") : fallback;

    public string GetString(string name, string fallback) =>
        Attributes.TryGetValue(name, out var a) ? a is AttributeValue.Text s ? s.Value : throw BadAttribute(name, "a string") : fallback;

    public long[]? GetInts(string name) =>
        Attributes.TryGetValue(name, out var a) ? a is AttributeValue.Ints v ? v.Value : throw BadAttribute(name, "a list of integers") : null;

    /// <summary>A copy with one attribute set.</summary>
    public Node With(string attribute, AttributeValue value) => this with { Attributes = Attributes.SetItem(attribute, value) };

    private GraphException BadAttribute(string name, string expected) =>
        new($"node '{Name}' ({OpType}): attribute '{name}' must be {expected}");
}
