using PimQuant.Engine.Graph;
using PimQuant.Quant.Quantizers;

namespace PimQuant.Quant.Config;

/// <summary>A quantization configuration that cannot be used; the message names the file, the YAML path, the value and what is allowed.</summary>
public sealed class QuantConfigException(string message) : Exception(message);

/// <summary>One section of rules: <c>default</c>, an entry of <c>op_types</c> or of <c>layers</c>.</summary>
/// <param name="Path">The section's YAML path.</param>
/// <param name="Level">How specific the section is.</param>
/// <param name="Skip">Keep the layer in float32 (both operands), when set.</param>
/// <param name="Weight">Weight quantizer fields, when set.</param>
/// <param name="Activation">Input-activation quantizer fields, when set.</param>
public sealed record RuleSettings(string Path, SettingLevel Level, Setting<bool>? Skip, QuantizerSettings? Weight, QuantizerSettings? Activation);

/// <summary>
/// A per-layer quantization configuration (the YAML file's content, validated field by field on
/// load). <see cref="Resolve"/> gives each quantizable layer of a graph its quantizers: every field
/// comes from the layer's own section if it sets it, else from its op type's, else from the
/// default, else from PimQuant's built-in default (<see cref="QuantizerSettings.BuiltIn"/>).
/// </summary>
/// <param name="Source">How messages name the configuration (its file name).</param>
/// <param name="Default">The <c>default:</c> section, if any.</param>
/// <param name="OpTypes">Sections by operator type (Conv, Gemm, MatMul).</param>
/// <param name="Layers">Sections by layer (node) name.</param>
public sealed record QuantConfig(string Source, RuleSettings? Default, IReadOnlyDictionary<string, RuleSettings> OpTypes, IReadOnlyDictionary<string, RuleSettings> Layers)
{
    /// <summary>The configuration format version this code reads.</summary>
    public const int Version = 1;

    /// <summary>Operator types a section may name.</summary>
    public static IReadOnlyList<string> QuantizableOperators { get; } = ["Conv", "Gemm", "MatMul"];

    /// <summary>
    /// The plan for <paramref name="graph"/>: every quantizable layer with its resolved quantizers.
    /// </summary>
    /// <exception cref="QuantConfigException">A layer section names no quantizable layer, or a resolved
    /// quantizer is invalid; the message names the file, the YAML path and the layer.</exception>
    public QuantizationPlan Resolve(ModelGraph graph)
    {
        var layers = QuantizableLayer.Find(graph);
        var names = layers.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
        var errors = new List<string>();
        foreach (var (name, rule) in Layers)
            if (!names.Contains(name))
                errors.Add($"{rule.Path}: the model has no quantizable layer '{name}' (its Conv/Gemm/MatMul layers: {Abbreviate(layers.Select(l => l.Name))})");
        var plans = new List<LayerPlan>();
        foreach (var layer in layers)
        {
            var rules = new List<RuleSettings>();
            if (Default is not null) rules.Add(Default);
            if (OpTypes.TryGetValue(layer.OpType, out var byOp)) rules.Add(byOp);
            if (Layers.TryGetValue(layer.Name, out var byName)) rules.Add(byName);
            bool skip = rules.LastOrDefault(r => r.Skip is not null)?.Skip?.Value ?? false;
            if (skip)
            {
                plans.Add(new LayerPlan(layer, null, null));
                continue;
            }
            var layerErrors = new List<string>();
            var weight = Merge(QuantizerRole.Weight, rules).Resolve(QuantizerRole.Weight, layer, layerErrors, layer.Lowering(graph));
            var activation = Merge(QuantizerRole.Activation, rules).Resolve(QuantizerRole.Activation, layer, layerErrors);
            errors.AddRange(layerErrors.Distinct().Select(e => $"{e} (layer {layer.Name})"));
            plans.Add(new LayerPlan(layer, weight, activation));
        }
        if (errors.Count > 0)
            throw new QuantConfigException($"{Source}: {errors[0]}{(errors.Count > 1 ? $" (and {errors.Count - 1} more problem{(errors.Count > 2 ? "s" : "")})" : "")}");
        return new QuantizationPlan(plans);
    }

    private static QuantizerSettings Merge(QuantizerRole role, List<RuleSettings> rules)
    {
        var sections = new List<QuantizerSettings> { QuantizerSettings.BuiltIn(role) };
        sections.AddRange(rules.Select(r => role == QuantizerRole.Weight ? r.Weight : r.Activation).OfType<QuantizerSettings>());
        return QuantizerSettings.Merge(sections);
    }

    private static string Abbreviate(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count <= 12 ? string.Join(", ", list) : $"{string.Join(", ", list.Take(12))}, … ({list.Count} in all)";
    }
}
