using PimQuant.Quant.Formats;
using PimQuant.Quant.Observers;
using TorchSharp;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Quant.Quantizers;

/// <summary>
/// The one function that turns observed ranges into quantization parameters, and the one that
/// applies them. In code units (levels L of the format, <see cref="NumberFormat"/>):
/// <list type="bullet">
/// <item>symmetric: s = a / L_max with a = max(−min, max) for signed formats and a = max(max, 0)
/// for unsigned ones; zero point z = 0;</item>
/// <item>affine (integers): s = (max' − min')/(qmax − qmin) with min' = min(min, 0), max' = max(max, 0),
/// z = clamp(round(qmin − min'/s), qmin, qmax);</item>
/// <item>a group whose range is all zero gets s = 1 (its values quantize to 0 whatever s is);</item>
/// <item>power-of-two restriction: s ← 2^ceil(log2 s) or 2^round(log2 s); the zero point is computed
/// after the restriction.</item>
/// </list>
/// Fake quantization is then q(x) = s·(R(clamp(x/s, L_min − z, L_max − z)) ) with R the rounding to a
/// level (integers: R = round, ties to even), i.e. for integers q(x) = s·(clamp(round(x/s) + z, qmin, qmax) − z),
/// exactly ONNX QuantizeLinear followed by DequantizeLinear.
/// </summary>
public static class QuantParameters
{
    /// <summary>Scale and zero point per group from per-group ranges (tensors of equal shape).</summary>
    /// <returns>Scale (float32) and zero point (float32 holding integers; null when symmetric), shaped like <paramref name="min"/>.</returns>
    public static (Tensor Scale, Tensor? ZeroPoint) FromRange(Tensor min, Tensor max, NumberFormat format, bool affine, ScaleRestriction restriction)
    {
        using var scope = NewDisposeScope();
        if (!affine)
        {
            var amax = format.Signed ? maximum(-min, max) : max.clamp_min(0);
            var symmetric = Restrict(Positive(amax / format.MaxLevel), restriction);
            return (symmetric.MoveToOuterDisposeScope(), null);
        }
        if (format is not IntegerFormat integer)
            throw new ArgumentException($"a zero point needs an integer format, not {format.Name}", nameof(format));
        var lo = min.clamp_max(0);
        var hi = max.clamp_min(0);
        var scale = Restrict(Positive((hi - lo) / (double)(integer.QMax - integer.QMin)), restriction);
        var zero = (integer.QMin - lo / scale).round().clamp(integer.QMin, integer.QMax);
        return (scale.MoveToOuterDisposeScope(), zero.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Scale and zero point per group from what <paramref name="observer"/> saw, for a quantizer of
    /// <paramref name="spec"/>: the MSE observer compares clipping candidates by the squared error of
    /// quantizing with the spec's own format, so weights and activations share this criterion.
    /// </summary>
    internal static (Tensor Scale, Tensor? ZeroPoint) FromObserver(Observer observer, QuantizerSpec spec, LevelGrid grid)
    {
        Tensor SquaredError(Tensor values, Tensor? mask, Tensor min, Tensor max)
        {
            var (scale, zero) = FromRange(min, max, spec.Format, spec.Affine, spec.Scale);
            var q = FakeQuantization.Apply(values, scale.unsqueeze(1), zero?.unsqueeze(1), grid, RoundingMode.Nearest);
            var error = (q - values).square();
            return (mask is null ? error : error * mask).sum(1);
        }
        var (min, max) = observer.Range(SquaredError);
        return FromRange(min, max, spec.Format, spec.Affine, spec.Scale);
    }

    /// <summary>
    /// Stores a detached copy of <paramref name="value"/> in <paramref name="field"/>, outside any dispose
    /// scope (a quantizer's parameters outlive the calibration call), disposing the previous tensor.
    /// </summary>
    internal static void Replace(ref Tensor? field, Tensor? value)
    {
        field?.Dispose();
        field = value?.detach().clone().DetachFromDisposeScope();
    }

    /// <summary>Checks parameters given directly (<see cref="WeightQuantizer.SetParameters"/>): <paramref name="groups"/>
    /// positive finite scales, and integer zero points in the format's range exactly when the spec is affine.</summary>
    internal static void CheckGiven(Tensor scale, Tensor? zeroPoint, long groups, QuantizerSpec spec)
    {
        using var scope = NewDisposeScope();
        if (scale.numel() != groups) throw new ArgumentException($"{scale.numel()} scales for {groups} groups", nameof(scale));
        var s = scale.to_type(ScalarType.Float32);
        if (!(s > 0).logical_and(s.isfinite()).all().item<bool>()) throw new ArgumentException("every scale must be positive and finite", nameof(scale));
        if (zeroPoint is null)
        {
            if (spec.Affine) throw new ArgumentException("an affine quantizer needs zero points", nameof(zeroPoint));
            return;
        }
        if (!spec.Affine) throw new ArgumentException("a symmetric quantizer has no zero points", nameof(zeroPoint));
        if (zeroPoint.numel() != groups) throw new ArgumentException($"{zeroPoint.numel()} zero points for {groups} groups", nameof(zeroPoint));
        var z = zeroPoint.to_type(ScalarType.Float64);
        if (!z.eq(z.round()).all().item<bool>() || z.min().item<double>() < spec.Format.MinLevel || z.max().item<double>() > spec.Format.MaxLevel)
            throw new ArgumentException($"zero points must be integers in {spec.Format.Name}'s range", nameof(zeroPoint));
    }

    /// <summary>s where it is positive and finite, 1 elsewhere (an all-zero group).</summary>
    private static Tensor Positive(Tensor scale) => where((scale > 0) & scale.isfinite(), scale, ones_like(scale));

    /// <summary>
    /// Applies a scale restriction. Power-of-two rounding of log2 s passes gradients straight through,
    /// so a learned (LSQ) scale keeps learning under the restriction.
    /// </summary>
    public static Tensor Restrict(Tensor scale, ScaleRestriction restriction)
    {
        if (restriction is not ScaleRestriction.PowerOfTwo p) return scale;
        var log = scale.log2();
        var rounded = p.RoundUp ? log.ceil() : log.round();
        return (log + (rounded - log).detach()).exp2();
    }
}

/// <summary>
/// Fake quantization in the autograd engine: the forward pass computes q(x) exactly (see
/// <see cref="QuantParameters"/>), the backward pass uses the straight-through estimator inside the
/// range: ∂q/∂x = 1 where L_min − z ≤ x/s ≤ L_max − z and 0 outside; and ∂q/∂s = R(u) − x/s inside,
/// the clamped level outside (LSQ's step gradient) whenever s requires a gradient.
/// </summary>
public static class FakeQuantization
{
    /// <summary>x/s clamped to the levels' range (minus the zero point): the value rounding acts on.</summary>
    public static Tensor Clamped(Tensor x, Tensor scale, Tensor? zeroPoint, NumberFormat format)
    {
        var u = x / scale;
        if (zeroPoint is null) return u.clamp(format.MinLevel, format.MaxLevel);
        return u.clamp(format.MinLevel - zeroPoint, format.MaxLevel - zeroPoint);
    }

    /// <summary>q(x) with nearest or stochastic rounding and straight-through gradients.</summary>
    /// <param name="x">The values.</param>
    /// <param name="scale">The scale, broadcastable to <paramref name="x"/>.</param>
    /// <param name="zeroPoint">Zero point broadcastable to <paramref name="x"/>, or null (symmetric).</param>
    /// <param name="grid">The format's levels.</param>
    /// <param name="rounding">Nearest or stochastic.</param>
    /// <param name="generator">Source of stochastic rounding.</param>
    public static Tensor Apply(Tensor x, Tensor scale, Tensor? zeroPoint, LevelGrid grid, RoundingMode rounding, Generator? generator = null)
    {
        var u = Clamped(x, scale, zeroPoint, grid.Format);
        var level = grid.Round(u.detach(), rounding, generator);
        return StraightThrough(u, level) * scale;
    }

    /// <summary>
    /// <paramref name="level"/> in the forward pass, u in the backward pass: level + (u − u.detach()).
    /// Written this way round the forward value is the level exactly (u + (level − u) can be off by
    /// one unit in the last place when level − u is not representable).
    /// </summary>
    public static Tensor StraightThrough(Tensor u, Tensor level) => level.detach() + (u - u.detach());

    /// <summary>
    /// LSQ's gradient scaling: the value of <paramref name="scale"/> with its gradient multiplied by
    /// <paramref name="factor"/> (g = 1/√(N·Qp), Esser et al.): (s − s·g).detach() + s·g.
    /// </summary>
    public static Tensor ScaleGradient(Tensor scale, double factor) => (scale - scale * factor).detach() + scale * factor;
}
