using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace PimQuant.Experiments.Search;

/// <summary>One named choice of a search, e.g. a layer's weight bits ("2", "4", "8") or a preset's ADC resolution.</summary>
/// <param name="Name">Unique within the space.</param>
/// <param name="Choices">The values, distinct, at least one; the caller parses them.</param>
public sealed record SearchDimension(string Name, IReadOnlyList<string> Choices);

/// <summary>What a search chooses from: every combination of one value per dimension.</summary>
public sealed class SearchSpace
{
    /// <summary>A space of <paramref name="dimensions"/>, checked: names unique and not empty, choices distinct and at least one each.</summary>
    public SearchSpace(IReadOnlyList<SearchDimension> dimensions)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        if (dimensions.Count == 0) throw new ArgumentException("a search space has at least one dimension", nameof(dimensions));
        foreach (var d in dimensions)
        {
            ArgumentException.ThrowIfNullOrEmpty(d.Name);
            if (d.Choices.Count == 0) throw new ArgumentException($"dimension '{d.Name}' has no choice", nameof(dimensions));
            if (d.Choices.Distinct().Count() != d.Choices.Count) throw new ArgumentException($"dimension '{d.Name}' repeats a choice", nameof(dimensions));
        }
        if (dimensions.Select(d => d.Name).Distinct().Count() != dimensions.Count) throw new ArgumentException("dimension names repeat", nameof(dimensions));
        Dimensions = [.. dimensions.Select(d => d with { Choices = [.. d.Choices] })];
        Size = Dimensions.Aggregate(1.0, (size, d) => size * d.Choices.Count);
    }

    /// <summary>The dimensions, in order.</summary>
    public IReadOnlyList<SearchDimension> Dimensions { get; }

    /// <summary>How many candidates the space holds (a double: spaces of per-layer choices overflow a long).</summary>
    public double Size { get; }

    /// <summary>The candidate taking choice <c>indices[d]</c> of each dimension d.</summary>
    public Candidate At(ReadOnlySpan<int> indices)
    {
        if (indices.Length != Dimensions.Count) throw new ArgumentException($"{indices.Length} indices for {Dimensions.Count} dimensions", nameof(indices));
        var choices = new KeyValuePair<string, string>[Dimensions.Count];
        for (int d = 0; d < choices.Length; d++) choices[d] = KeyValuePair.Create(Dimensions[d].Name, Dimensions[d].Choices[indices[d]]);
        return new Candidate(choices);
    }

    /// <summary>The space as JSON: <c>[{"name", "choices": [...]}]</c>, in order.</summary>
    public JsonArray ToJson() => new([.. Dimensions.Select(d => (JsonNode)new JsonObject
    {
        ["name"] = d.Name,
        ["choices"] = new JsonArray([.. d.Choices.Select(c => (JsonNode)c)]),
    })]);
}

/// <summary>
/// One point of a search space: a value per dimension, in the space's order. Identified by its content: <see cref="Key"/>
/// is the SHA-256 of its canonical JSON, so equal choices are the same candidate in any search, any run and any process.
/// </summary>
public sealed class Candidate : IEquatable<Candidate>
{
    /// <summary>The candidate with these choices, in order.</summary>
    public Candidate(IReadOnlyList<KeyValuePair<string, string>> choices)
    {
        ArgumentNullException.ThrowIfNull(choices);
        Choices = [.. choices];
        Key = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ToJson().ToJsonString())));
    }

    /// <summary>Dimension name and chosen value, in the space's order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Choices { get; }

    /// <summary>The content key: <c>sha256:</c> and the hash of the compact JSON object of the choices.</summary>
    public string Key { get; }

    /// <summary>The value chosen for dimension <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The candidate has no such dimension.</exception>
    public string this[string name] =>
        Choices.FirstOrDefault(c => c.Key == name) is { Key: not null } choice ? choice.Value : throw new KeyNotFoundException($"no dimension '{name}' in {this}");

    /// <summary>The choices as one JSON object, in order.</summary>
    public JsonObject ToJson() => new(Choices.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value)));

    public bool Equals(Candidate? other) => other is not null && other.Key == Key;

    public override bool Equals(object? obj) => Equals(obj as Candidate);

    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);

    /// <summary>The choices as <c>name=value</c> words.</summary>
    public override string ToString() => string.Join(' ', Choices.Select(c => $"{c.Key}={c.Value}"));
}
