using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Observers;

namespace PimQuant.Quant.Quantizers;

/// <summary>What a quantizer quantizes.</summary>
public enum QuantizerRole
{
    /// <summary>A layer's weight (Conv, Gemm, MatMul).</summary>
    Weight,
    /// <summary>A layer's input activation: what the crossbar's rows see.</summary>
    Activation,
}

/// <summary>How the quantization parameters are trained in quantization-aware training.</summary>
public enum LearningMode
{
    /// <summary>Parameters follow the observer (weights: recomputed from the live weight while training).</summary>
    None,
    /// <summary>Learned step size (Esser et al., ICLR 2020): the scale is a trained parameter with gradient scale 1/√(N·Qp).</summary>
    Lsq,
    /// <summary>PACT (Choi et al. 2018): activations clipped to [0, β] with β trained; scale β/Qp. Unsigned per-tensor activations only.</summary>
    Pact,
}

/// <summary>Restrictions on the value of a scale.</summary>
public abstract record ScaleRestriction
{
    private protected ScaleRestriction() { }

    /// <summary>Any positive float.</summary>
    public static FloatScale Float { get; } = new();

    /// <summary>The YAML/report name: float or power_of_two.</summary>
    public abstract string Kind { get; }

    /// <summary>Any positive float.</summary>
    public sealed record FloatScale : ScaleRestriction
    {
        /// <inheritdoc/>
        public override string Kind => "float";
        /// <inheritdoc/>
        public override string ToString() => Kind;
    }

    /// <summary>
    /// A power of two, so requantization is a shift: s = 2^ceil(log2 s) (never clips more than the
    /// observed range) or 2^round(log2 s) (nearest in the log domain).
    /// </summary>
    public sealed record PowerOfTwo(bool RoundUp = true) : ScaleRestriction
    {
        /// <inheritdoc/>
        public override string Kind => "power_of_two";
        /// <inheritdoc/>
        public override string ToString() => $"{Kind}({(RoundUp ? "ceil" : "nearest")})";
    }
}

/// <summary>
/// A quantizer, composed from orthogonal parts: number format (with its bit-width and sign),
/// granularity of the scales, observer, scale restriction, rounding, symmetric or affine (zero
/// point), and how it learns in QAT. Immutable; <see cref="Problems"/> lists invalid combinations.
/// </summary>
public sealed record QuantizerSpec
{
    /// <summary>The number format (bits, sign, range).</summary>
    public required NumberFormat Format { get; init; }

    /// <summary>Which elements share a scale.</summary>
    public ScaleGranularity Granularity { get; init; } = ScaleGranularity.Tensor;

    /// <summary>How the range is found.</summary>
    public ObserverSpec Observer { get; init; } = ObserverSpec.MinMaxObserver;

    /// <summary>Restriction on scale values.</summary>
    public ScaleRestriction Scale { get; init; } = ScaleRestriction.Float;

    /// <summary>How values round to levels.</summary>
    public RoundingMode Rounding { get; init; } = RoundingMode.Nearest;

    /// <summary>Affine quantization with an integer zero point (integer formats only); otherwise symmetric (zero point 0).</summary>
    public bool Affine { get; init; }

    /// <summary>How the parameters learn in quantization-aware training.</summary>
    public LearningMode Learning { get; init; } = LearningMode.None;

    /// <summary>
    /// Weights only: the format of every weight group (a precision map, e.g. bits per OU block), or
    /// null for <see cref="Format"/> everywhere. Each group's format must have <see cref="Format"/>'s
    /// sign; a scale group spanning several precision groups takes its scale from the widest format
    /// among them, the narrower groups clamping to their own levels (BWQ: a block of precision p keeps
    /// the layer's step and only its p low bits).
    /// </summary>
    public WeightPrecision? Precision { get; init; }

    /// <summary>Signed integer weights, one scale per output channel, symmetric, narrow range, max-calibrated.</summary>
    public static QuantizerSpec IntWeightPerChannel(int bits) =>
        new() { Format = new IntegerFormat(bits, Signed: true, NarrowRange: true), Granularity = ScaleGranularity.Channel };

    /// <summary>Integer activations, one scale per tensor, max-calibrated; unsigned (after ReLU) or signed.</summary>
    public static QuantizerSpec IntActivationPerTensor(int bits, bool signed) =>
        new() { Format = new IntegerFormat(bits, signed) };

    /// <summary>What is wrong with this spec for <paramref name="role"/>, as (field, problem) pairs; field names are the YAML keys.</summary>
    public IEnumerable<(string Field, string Problem)> Problems(QuantizerRole role)
    {
        foreach (var p in Format.Problems()) yield return p;
        foreach (var (field, problem) in Observer.Problems()) yield return ($"observer.{field}", problem);
        bool weight = role == QuantizerRole.Weight;
        switch (Granularity)
        {
            case ScaleGranularity.DynamicGroup d when weight:
                yield return ("granularity", "dynamic groups apply to activations only (tensor, channel, array, ou for weights)");
                break;
            case ScaleGranularity.DynamicGroup d when d.Size < 1:
                yield return ("granularity.group_size", $"{d.Size} is not allowed (at least 1)");
                break;
            case ScaleGranularity.PerArray or ScaleGranularity.PerOuBlock when !weight:
                yield return ("granularity", $"{Granularity.Kind} granularity applies to weights only (tensor, channel, dynamic for activations)");
                break;
            case ScaleGranularity.PerArray a when a.Rows < 1 || a.Columns < 1:
                yield return ("granularity", $"array {a.Rows}x{a.Columns}: rows and cols must be at least 1");
                break;
            case ScaleGranularity.PerOuBlock o when o.Rows < 1 || o.Columns < 1:
                yield return ("granularity", $"ou {o.Rows}x{o.Columns}: rows and cols must be at least 1");
                break;
        }
        if (Precision is { } precision)
        {
            if (!weight) yield return ("precision", "a per-group precision applies to weights only");
            if (Affine) yield return ("precision", "a per-group precision needs symmetric weights (remove affine): one zero point cannot serve several bit-widths");
            foreach (var p in precision.Problems(Format)) yield return p;
        }
        if (Affine && Format.Kind != FormatKind.Integer)
            yield return ("affine", $"a zero point needs an integer format, not {Format.Name}");
        if (Rounding == RoundingMode.Learned && !weight)
            yield return ("rounding", "learned rounding applies to weights only (nearest, stochastic for activations)");
        if (Granularity is ScaleGranularity.DynamicGroup)
        {
            if (Observer is not ObserverSpec.MinMax) yield return ("observer", "dynamic groups take their range from the group's own maximum; use minmax");
            if (Affine) yield return ("affine", "dynamic groups are symmetric");
            if (Learning != LearningMode.None) yield return ("learn", "dynamic scales are computed at run time and cannot be learned");
        }
        if (Learning == LearningMode.Pact)
        {
            if (weight) yield return ("learn", "PACT clips activations; use lsq or none for weights");
            else if (Format.Signed) yield return ("learn", $"PACT clips to [0, β]; it needs an unsigned format, not {Format.Name}");
            else if (Granularity is not ScaleGranularity.PerTensor) yield return ("learn", "PACT learns one β per tensor; use granularity tensor");
            else if (Affine) yield return ("learn", "PACT is symmetric; remove affine");
        }
    }

    /// <summary>This spec, or an <see cref="ArgumentException"/> naming the first problem for <paramref name="role"/>.</summary>
    public QuantizerSpec Validated(QuantizerRole role)
    {
        foreach (var (field, problem) in Problems(role))
            throw new ArgumentException($"{role.ToString().ToLowerInvariant()} quantizer {this}: {field}: {problem}", field);
        return this;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Format.Name} {Granularity} {Observer} scale {Scale} {Rounding.ToString().ToLowerInvariant()}{(Affine ? " affine" : "")}{(Learning == LearningMode.None ? "" : " " + Learning.ToString().ToLowerInvariant())}{(Precision is null ? "" : $" {Precision}")}";
}
