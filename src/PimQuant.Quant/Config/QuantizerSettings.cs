using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Observers;
using PimQuant.Quant.Quantizers;

namespace PimQuant.Quant.Config;

/// <summary>How specific a configuration section is: a layer's own section overrides its op type's, which overrides the default, which overrides the built-in default.</summary>
public enum SettingLevel
{
    /// <summary>PimQuant's built-in default.</summary>
    BuiltIn,
    /// <summary>The file's <c>default:</c> section.</summary>
    Default,
    /// <summary>The file's <c>op_types:</c> section for the layer's operator.</summary>
    OpType,
    /// <summary>The file's <c>layers:</c> section for the layer.</summary>
    Layer,
}

/// <summary>A configured value, where it was written (YAML path, e.g. <c>layers.conv3.weight.bits</c>) and at which level.</summary>
public readonly record struct Setting<T>(T Value, string Path, SettingLevel Level);

/// <summary>A layer's precision map as written: the groups (null: the weight's scale granularity) and one bit-width per group, 0 for a pruned group.</summary>
/// <param name="Granularity">How the groups are cut; null for the weight quantizer's granularity.</param>
/// <param name="Bits">Bits of each group, in the groups' order.</param>
public sealed record PrecisionSetting(ScaleGranularity? Granularity, IReadOnlyList<int> Bits);

/// <summary>
/// The quantizer fields one section sets; null where the section is silent. Sections merge field by
/// field, the most specific section that sets a field winning (<see cref="Merge"/>).
/// </summary>
public sealed record QuantizerSettings
{
    /// <summary>The section's YAML path, e.g. <c>op_types.Gemm.weight</c>.</summary>
    public required string Path { get; init; }
    /// <summary>The section's level.</summary>
    public required SettingLevel Level { get; init; }
    /// <summary>False for <c>none</c> (leave the operand in float32); true for any mapping.</summary>
    public Setting<bool>? Enabled { get; init; }
    public Setting<FormatKind>? Format { get; init; }
    public Setting<int>? Bits { get; init; }
    /// <summary>The sign; a null value means <c>auto</c> (activations: signed unless the input is provably non-negative).</summary>
    public Setting<bool?>? Signed { get; init; }
    public Setting<bool>? NarrowRange { get; init; }
    public Setting<bool>? Affine { get; init; }
    /// <summary>APoT: number of additive terms.</summary>
    public Setting<int>? Terms { get; init; }
    public Setting<int>? ExponentBits { get; init; }
    public Setting<int>? MantissaBits { get; init; }
    public Setting<int>? Bias { get; init; }
    public Setting<ScaleGranularity>? Granularity { get; init; }
    public Setting<ObserverSpec>? Observer { get; init; }
    public Setting<ScaleRestriction>? Scale { get; init; }
    public Setting<RoundingMode>? Rounding { get; init; }
    public Setting<LearningMode>? Learn { get; init; }
    /// <summary>A weight's precision map (a layer's own section only).</summary>
    public Setting<PrecisionSetting>? Precision { get; init; }

    /// <summary>PimQuant's defaults: W8 signed narrow-range per-channel, A8 per-tensor with the sign from the graph; min/max observers, float scales, nearest rounding.</summary>
    public static QuantizerSettings BuiltIn(QuantizerRole role)
    {
        string path = $"built-in default {(role == QuantizerRole.Weight ? "weight" : "activation")}";
        Setting<T> S<T>(T value, string field) => new(value, $"{path}.{field}", SettingLevel.BuiltIn);
        bool weight = role == QuantizerRole.Weight;
        return new QuantizerSettings
        {
            Path = path,
            Level = SettingLevel.BuiltIn,
            Enabled = S(true, "enabled"),
            Format = S(FormatKind.Integer, "format"),
            Bits = S(8, "bits"),
            Signed = S<bool?>(weight ? true : null, "signed"),
            NarrowRange = S(weight, "narrow_range"),
            Affine = S(false, "affine"),
            Granularity = S<ScaleGranularity>(weight ? ScaleGranularity.Channel : ScaleGranularity.Tensor, "granularity"),
            Observer = S<ObserverSpec>(ObserverSpec.MinMaxObserver, "observer"),
            Scale = S<ScaleRestriction>(ScaleRestriction.Float, "scale"),
            Rounding = S(RoundingMode.Nearest, "rounding"),
            Learn = S(LearningMode.None, "learn"),
        };
    }

    /// <summary>Field-by-field merge, later (more specific) sections overriding earlier ones; the result has the last section's path and level.</summary>
    public static QuantizerSettings Merge(IReadOnlyList<QuantizerSettings> generalFirst)
    {
        var merged = generalFirst[0];
        foreach (var s in generalFirst.Skip(1))
            merged = new QuantizerSettings
            {
                Path = s.Path,
                Level = s.Level,
                Enabled = s.Enabled ?? merged.Enabled,
                Format = s.Format ?? merged.Format,
                Bits = s.Bits ?? merged.Bits,
                Signed = s.Signed ?? merged.Signed,
                NarrowRange = s.NarrowRange ?? merged.NarrowRange,
                Affine = s.Affine ?? merged.Affine,
                Terms = s.Terms ?? merged.Terms,
                ExponentBits = s.ExponentBits ?? merged.ExponentBits,
                MantissaBits = s.MantissaBits ?? merged.MantissaBits,
                Bias = s.Bias ?? merged.Bias,
                Granularity = s.Granularity ?? merged.Granularity,
                Observer = s.Observer ?? merged.Observer,
                Scale = s.Scale ?? merged.Scale,
                Rounding = s.Rounding ?? merged.Rounding,
                Learn = s.Learn ?? merged.Learn,
                Precision = s.Precision ?? merged.Precision,
            };
        return merged;
    }

    /// <summary>
    /// The quantizer these (merged) settings describe for <paramref name="layer"/>, or null when
    /// disabled; problems go to <paramref name="errors"/> as "PATH: problem" lines. Format fields that do
    /// not apply to the format (say narrow_range for a float) are an error when written at the level
    /// that chose the format or a more specific one, and ignored when inherited from a more general one.
    /// A precision map is checked against <paramref name="lowering"/> (the layer's weight) when given.
    /// </summary>
    public QuantizerSpec? Resolve(QuantizerRole role, QuantizableLayer layer, List<string> errors, WeightLowering? lowering = null)
    {
        if (Enabled is { Value: false }) return null;
        var kind = Format!.Value;
        bool signed = Signed!.Value.Value ?? (role == QuantizerRole.Weight || layer.InputCanBeNegative);
        var formatLevel = kind.Level;
        bool Applies(SettingLevel level) => level >= formatLevel;
        void Inapplicable<T>(Setting<T>? s, string what)
        {
            if (s is { } v && Applies(v.Level)) errors.Add($"{v.Path}: {what} does not apply to format {FormatName(kind.Value)} (set at {kind.Path})");
        }
        NumberFormat format;
        switch (kind.Value)
        {
            case FormatKind.Integer:
                Inapplicable(Terms, "terms"); Inapplicable(ExponentBits, "exponent_bits"); Inapplicable(MantissaBits, "mantissa_bits"); Inapplicable(Bias, "bias");
                format = new IntegerFormat(Bits!.Value.Value, signed, NarrowRange?.Value ?? false);
                break;
            case FormatKind.PowerOfTwo:
                Inapplicable(Terms, "terms"); Inapplicable(ExponentBits, "exponent_bits"); Inapplicable(MantissaBits, "mantissa_bits"); Inapplicable(Bias, "bias");
                Inapplicable(NarrowRange is { Value: true } ? NarrowRange : null, "narrow_range");
                format = new PowerOfTwoFormat(Bits!.Value.Value, signed);
                break;
            case FormatKind.AdditivePowerOfTwo:
                Inapplicable(ExponentBits, "exponent_bits"); Inapplicable(MantissaBits, "mantissa_bits"); Inapplicable(Bias, "bias");
                Inapplicable(NarrowRange is { Value: true } ? NarrowRange : null, "narrow_range");
                format = new AdditivePowerOfTwoFormat(Bits!.Value.Value, signed, Terms?.Value ?? 2);
                break;
            default:
                Inapplicable(Terms, "terms");
                Inapplicable(NarrowRange is { Value: true } ? NarrowRange : null, "narrow_range");
                var fp = new FloatFormat(ExponentBits?.Value ?? 4, MantissaBits?.Value ?? 3, signed, Bias?.Value);
                // bits is derived from sign + exponent + mantissa; a value written alongside the format must agree.
                if (Bits is { } b && Applies(b.Level) && b.Value != fp.Bits)
                    errors.Add($"{b.Path}: {b.Value} does not match {(signed ? "1 sign + " : "")}{fp.ExponentBits} exponent + {fp.MantissaBits} mantissa bits = {fp.Bits}");
                format = fp;
                break;
        }
        var spec = new QuantizerSpec
        {
            Format = format,
            Granularity = Granularity!.Value.Value,
            Observer = Observer!.Value.Value,
            Scale = Scale!.Value.Value,
            Rounding = Rounding!.Value.Value,
            Affine = Affine?.Value ?? false,
            Learning = Learn!.Value.Value,
        };
        if (Precision is { Value: var p } precision)
        {
            spec = spec with { Precision = WeightPrecision.FromBits(p.Granularity ?? spec.Granularity, p.Bits, format) };
            if (lowering is not null && spec.Precision.LayoutProblem(lowering) is { } problem)
                errors.Add($"{precision.Path}.bits: {problem}");
        }
        foreach (var (field, problem) in spec.Problems(role))
            errors.Add($"{PathOf(field)}: {problem}");
        return spec;
    }

    /// <summary>The YAML name of a format kind.</summary>
    public static string FormatName(FormatKind kind) => kind switch
    {
        FormatKind.Integer => "int",
        FormatKind.PowerOfTwo => "pot",
        FormatKind.AdditivePowerOfTwo => "apot",
        _ => "float",
    };

    /// <summary>The path of the setting a problem's field names (e.g. "observer.percentile" → where the observer was set, plus ".percentile").</summary>
    private string PathOf(string field)
    {
        string head = field.Split('.')[0], rest = field[head.Length..];
        string? path = head switch
        {
            "bits" => Bits?.Path,
            "narrow_range" => NarrowRange?.Path,
            "affine" => Affine?.Path,
            "terms" => Terms?.Path ?? Bits?.Path,
            "exponent_bits" => ExponentBits?.Path ?? Format?.Path,
            "mantissa_bits" => MantissaBits?.Path ?? Format?.Path,
            "bias" => Bias?.Path ?? Format?.Path,
            "granularity" => Granularity?.Path,
            "observer" => Observer?.Path,
            "scale" => Scale?.Path,
            "rounding" => Rounding?.Path,
            "learn" => Learn?.Path,
            "precision" => Precision?.Path,
            _ => null,
        };
        return (path ?? $"{Path}.{head}") + rest;
    }
}
