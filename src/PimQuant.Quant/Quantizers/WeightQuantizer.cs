using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Qat;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Quant.Quantizers;

/// <summary>
/// Quantizes one layer's weight: its scale groups (<see cref="WeightGroupLayout"/>), quantization
/// parameters from the observer, and optionally a learned step (LSQ) or learned rounding
/// (AdaRound logits V, one per weight). Fake quantization keeps the weight's own layout; the integer
/// view (<see cref="ToIntegers"/>) gives the lowered matrix's codes for the crossbar simulator.
/// </summary>
public sealed class WeightQuantizer : IDisposable
{
    private readonly PrecisionGrids _grids;
    private readonly long _seed;
    private readonly Generator _trainingGenerator;
    private Tensor? _scale, _zeroPoint;
    private Parameter? _learnedScale, _logits;

    /// <summary>Creates an uncalibrated quantizer for a weight lowered as <paramref name="lowering"/>.</summary>
    /// <param name="spec">The quantizer; validated for the weight role.</param>
    /// <param name="lowering">The weight's geometry.</param>
    /// <param name="seed">Seed of stochastic rounding.</param>
    /// <exception cref="ArgumentException">The spec is not valid for weights, or its precision map does not fit the weight's groups.</exception>
    public WeightQuantizer(QuantizerSpec spec, WeightLowering lowering, long seed = 0)
    {
        Spec = spec.Validated(QuantizerRole.Weight);
        if (spec.Precision?.LayoutProblem(lowering) is { } problem)
            throw new ArgumentException($"weight quantizer {spec}: precision: {problem}", nameof(spec));
        Layout = WeightGroupLayout.Create(lowering, spec.Granularity);
        _grids = new PrecisionGrids(spec, Layout);
        _seed = seed;
        _trainingGenerator = new Generator(unchecked((ulong)seed));
    }

    /// <summary>The quantizer's spec.</summary>
    public QuantizerSpec Spec { get; }

    /// <summary>The scale groups.</summary>
    public WeightGroupLayout Layout { get; }

    /// <summary>Whether parameters exist (after <see cref="Calibrate"/>).</summary>
    public bool IsCalibrated => _scale is not null;

    /// <summary>Whether learned rounding logits exist (<see cref="BeginLearnedRounding"/>).</summary>
    public bool HasLearnedRounding => _logits is not null;

    /// <summary>While true, learned rounding is soft (h(V), differentiable); false gives the hard choice V ≥ 0.</summary>
    public bool SoftRounding { get; set; }

    /// <summary>The LSQ step parameter, when LSQ is on (<see cref="EnableLearnedScale"/>).</summary>
    public Parameter? LearnedScale => _learnedScale;

    /// <summary>The AdaRound logits V (the weight's shape), when learned rounding is on.</summary>
    public Parameter? RoundingLogits => _logits;

    /// <summary>
    /// Observes <paramref name="weight"/> and sets the scale (and zero point) of every group from the
    /// observer's range. A learned step, if any, is reset to the new scale.
    /// </summary>
    public void Calibrate(Tensor weight)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var observer = Spec.Observer.Create((long)Layout.Groups.Count * Layout.MaxGroupSize);
        var w = weight.detach().to_type(ScalarType.Float32);
        observer.Observe(Layout.Grouped(w), Layout.GatherMask);
        var (scale, zero) = _grids.Parameters(observer, Spec);
        QuantParameters.Replace(ref _scale, scale);
        QuantParameters.Replace(ref _zeroPoint, zero);
        if (_learnedScale is not null) _learnedScale.copy_(scale);
    }

    /// <summary>
    /// Sets the scale and zero point of every group to given values instead of observing a weight: a quantized
    /// model read from a file keeps the file's parameters. A learned step, if any, is reset to the scale.
    /// </summary>
    /// <param name="scale">One positive scale per group, in <see cref="Layout"/>'s order.</param>
    /// <param name="zeroPoint">One integer zero point per group (affine specs), or null (symmetric).</param>
    /// <exception cref="ArgumentException">A shape that does not match the groups, or a zero point the spec does not have.</exception>
    public void SetParameters(Tensor scale, Tensor? zeroPoint)
    {
        QuantParameters.CheckGiven(scale, zeroPoint, Layout.Groups.Count, Spec);
        QuantParameters.Replace(ref _scale, scale.to_type(ScalarType.Float32).reshape(-1));
        QuantParameters.Replace(ref _zeroPoint, zeroPoint?.to_type(ScalarType.Float32).reshape(-1));
        if (_learnedScale is not null) using (no_grad()) _learnedScale.copy_(_scale!);
    }

    private void RequireCalibrated()
    {
        if (_scale is null) throw new InvalidOperationException("the weight quantizer is not calibrated: call Calibrate first");
    }

    /// <summary>
    /// The scale of every group, (groups): the LSQ step (restricted, with LSQ's gradient scale) when
    /// learned, else the calibrated scale.
    /// </summary>
    public Tensor Scale()
    {
        RequireCalibrated();
        if (_learnedScale is null) return _scale!.alias();
        return Lsq.Step(_learnedScale, (double)Layout.GroupIndex.numel() / Layout.Groups.Count, _grids.Widest, Spec.Scale);
    }

    /// <summary>The zero point of every group, (groups), float32 holding integers; null when symmetric.</summary>
    public Tensor? ZeroPoint => _zeroPoint;

    /// <summary>Makes the step a trained parameter (LSQ), starting from the calibrated scale.</summary>
    public Parameter EnableLearnedScale()
    {
        RequireCalibrated();
        if (_learnedScale is null)
        {
            using var scope = NewDisposeScope();
            _learnedScale = new Parameter(_scale!.clone(), requires_grad: true);
            _learnedScale.DetachFromDisposeScope();
        }
        return _learnedScale;
    }

    /// <summary>
    /// Starts learned rounding: logits V with h(V) = (w/s − floor_L)/(ceil_L − floor_L), so the soft
    /// rounding starts at the unrounded weight; <see cref="SoftRounding"/> is switched on.
    /// </summary>
    public Parameter BeginLearnedRounding(Tensor weight)
    {
        RequireCalibrated();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var u = _grids.Clamped(weight.detach(), Layout.Spread(_scale!), _zeroPoint is null ? null : Layout.Spread(_zeroPoint));
        _logits?.Dispose();
        _logits = new Parameter(_grids.InitialLogits(u), requires_grad: true);
        _logits.DetachFromDisposeScope();
        SoftRounding = true;
        return _logits;
    }

    /// <summary>AdaRound's regulariser Σ (1 − |2h(V) − 1|^β), pushing every h(V) to 0 or 1 as β anneals.</summary>
    public Tensor RoundingRegularizer(double beta)
    {
        if (_logits is null) throw new InvalidOperationException("learned rounding has not begun");
        return (1 - (2 * LevelGrid.RectifiedSigmoid(_logits) - 1).abs().pow(beta)).sum();
    }

    /// <summary>
    /// The fake-quantized weight, same shape, differentiable (straight-through in the weight, LSQ
    /// in the step, h(V) in the logits while rounding is soft).
    /// </summary>
    /// <param name="weight">The weight.</param>
    /// <param name="training">Training: a quantizer without a learned step or learned rounding follows the live
    /// weight (re-observed on every call), and stochastic rounding draws fresh choices; otherwise stochastic
    /// rounding replays the same seeded choices, so evaluation and the integer view agree.</param>
    public Tensor Quantize(Tensor weight, bool training)
    {
        if (training && _learnedScale is null && _logits is null) Calibrate(weight);
        var scale = Layout.Spread(Scale());
        var zero = _zeroPoint is null ? null : Layout.Spread(_zeroPoint);
        var u = _grids.Clamped(weight, scale, zero);
        return Level(u, training) * scale;
    }

    /// <summary>The level of each weight: learned (soft or hard), nearest or stochastic; straight-through in u.</summary>
    private Tensor Level(Tensor u, bool training)
    {
        if (_logits is not null)
            return SoftRounding ? _grids.Soft(u, _logits) : FakeQuantization.StraightThrough(u, _grids.Hard(u, _logits));
        if (Spec.Rounding != RoundingMode.Stochastic)
            return FakeQuantization.StraightThrough(u, _grids.Round(u.detach(), RoundingMode.Nearest));
        if (training) return FakeQuantization.StraightThrough(u, _grids.Round(u.detach(), RoundingMode.Stochastic, _trainingGenerator));
        using var replay = new Generator(unchecked((ulong)_seed));
        return FakeQuantization.StraightThrough(u, _grids.Round(u.detach(), RoundingMode.Stochastic, replay));
    }

    /// <summary>The integer view of <paramref name="weight"/> as quantized in evaluation (hard rounding).</summary>
    public IntegerWeights ToIntegers(Tensor weight)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        bool soft = SoftRounding;
        SoftRounding = false;
        try
        {
            var scale = Scale();
            var u = _grids.Clamped(weight.detach(), Layout.Spread(scale), _zeroPoint is null ? null : Layout.Spread(_zeroPoint));
            var level = Level(u, training: false).detach();
            var stored = _zeroPoint is null ? level : level + Layout.Spread(_zeroPoint);
            var lowering = Layout.Lowering;
            int[] codes = lowering.ToLowered(_grids.CodesOf(stored)).contiguous().data<int>().ToArray();
            float[] levels = lowering.ToLowered(level).contiguous().data<float>().ToArray();
            float[] scales = scale.contiguous().data<float>().ToArray();
            int[] zeros = _zeroPoint is null ? new int[scales.Length] : _zeroPoint.to_type(ScalarType.Int32).data<int>().ToArray();
            return new IntegerWeights(Spec.Format, Spec.Precision, lowering, Layout, codes, levels, scales, zeros);
        }
        finally
        {
            SoftRounding = soft;
        }
    }

    /// <summary>The trained parameters this quantizer currently has, named <c>step</c> (LSQ) and <c>rounding</c> (logits V).</summary>
    public IEnumerable<(string Name, Parameter Value)> Parameters()
    {
        if (_learnedScale is not null) yield return ("step", _learnedScale);
        if (_logits is not null) yield return ("rounding", _logits);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _grids.Dispose();
        Layout.Dispose();
        _trainingGenerator.Dispose();
        _scale?.Dispose();
        _zeroPoint?.Dispose();
        _learnedScale?.Dispose();
        _logits?.Dispose();
    }
}
