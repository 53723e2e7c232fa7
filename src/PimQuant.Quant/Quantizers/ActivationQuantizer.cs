using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Observers;
using PimQuant.Quant.Qat;
using PimQuant.Quant.Statistics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;
using F = TorchSharp.torch.nn.functional;

namespace PimQuant.Quant.Quantizers;

/// <summary>
/// Quantizes one layer's input activation (what the crossbar rows see). Static granularity (tensor,
/// or channel along dimension 1) takes its parameters from an observer fed during calibration, and
/// can learn them (LSQ step or PACT clip β). Dynamic groups compute a scale per group of each
/// im2col vector at run time (<see cref="QuantizeColumns"/>).
/// </summary>
public sealed class ActivationQuantizer : IDisposable
{
    private readonly LevelGrid _grid;
    private readonly long _seed;
    private readonly Generator _generator;
    private Observer? _observer;
    private Tensor? _scale, _zeroPoint;
    private Parameter? _learnedScale, _clip;

    /// <summary>Creates an uncalibrated quantizer.</summary>
    /// <param name="spec">The quantizer; validated for the activation role.</param>
    /// <param name="seed">Seed of stochastic rounding.</param>
    /// <param name="sampleLimit">Values kept by sampling observers (percentile, MSE) over all groups.</param>
    /// <exception cref="ArgumentException">The spec is not valid for activations.</exception>
    public ActivationQuantizer(QuantizerSpec spec, long seed = 0, long sampleLimit = 1 << 21)
    {
        Spec = spec.Validated(QuantizerRole.Activation);
        _grid = new LevelGrid(spec.Format);
        _seed = seed;
        _generator = new Generator(unchecked((ulong)seed));
        SampleLimit = sampleLimit;
    }

    /// <summary>The quantizer's spec.</summary>
    public QuantizerSpec Spec { get; }

    /// <summary>Values kept by sampling observers.</summary>
    public long SampleLimit { get; }

    /// <summary>True for run-time (dynamic) groups, which need no calibration.</summary>
    public bool IsDynamic => Spec.Granularity is ScaleGranularity.DynamicGroup;

    /// <summary>Whether parameters exist (static granularity) — always true for dynamic groups.</summary>
    public bool IsCalibrated => IsDynamic || _scale is not null;

    /// <summary>The LSQ step, when learned.</summary>
    public Parameter? LearnedScale => _learnedScale;

    /// <summary>PACT's clip β, when learned.</summary>
    public Parameter? Clip => _clip;

    /// <summary>When set, every quantized batch adds its codes to these statistics (evaluation only).</summary>
    public ActivationStatistics? Statistics { get; set; }

    /// <summary>Feeds one batch to the observer (static granularity; calibration).</summary>
    public void Observe(Tensor x)
    {
        if (IsDynamic) return;
        _observer ??= Spec.Observer.Create(SampleLimit);
        using var scope = NewDisposeScope();
        _observer.Observe(Grouped(x.detach()), null);
    }

    /// <summary>Whether the observer has seen data since the last <see cref="FinishCalibration"/>.</summary>
    public bool HasObservations => _observer is { Batches: > 0 };

    /// <summary>
    /// Sets scale and zero point from what the observer saw, then drops the observer. A learned
    /// step or clip is reset to the new parameters.
    /// </summary>
    /// <exception cref="InvalidOperationException">Nothing was observed.</exception>
    public void FinishCalibration()
    {
        if (IsDynamic) return;
        if (_observer is null) throw new InvalidOperationException("the activation quantizer observed no data");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (scale, zero) = QuantParameters.FromObserver(_observer, Spec, _grid);
        QuantParameters.Replace(ref _scale, scale);
        QuantParameters.Replace(ref _zeroPoint, zero);
        _observer.Dispose();
        _observer = null;
        _learnedScale?.copy_(scale);
        _clip?.copy_(scale[0] * Spec.Format.MaxLevel);
    }

    /// <summary>
    /// Sets the scale and zero point to given values instead of calibrating (static granularity): a quantized
    /// model read from a file keeps the file's parameters. Drops any observer; a learned step or clip is reset.
    /// </summary>
    /// <param name="scale">One positive scale (per tensor) or one per channel (per channel).</param>
    /// <param name="zeroPoint">Integer zero points of the same shape (affine specs), or null (symmetric).</param>
    /// <exception cref="ArgumentException">Dynamic groups, or parameters that do not fit the spec.</exception>
    public void SetParameters(Tensor scale, Tensor? zeroPoint)
    {
        if (IsDynamic) throw new ArgumentException("dynamic groups compute their scales at run time", nameof(scale));
        QuantParameters.CheckGiven(scale, zeroPoint, Spec.Granularity is ScaleGranularity.PerChannel ? scale.numel() : 1, Spec);
        using var noGrad = no_grad();
        QuantParameters.Replace(ref _scale, scale.to_type(ScalarType.Float32).reshape(-1));
        QuantParameters.Replace(ref _zeroPoint, zeroPoint?.to_type(ScalarType.Float32).reshape(-1));
        _observer?.Dispose();
        _observer = null;
        _learnedScale?.copy_(_scale!);
        _clip?.copy_(_scale![0] * Spec.Format.MaxLevel);
    }

    /// <summary>(groups, n): the whole tensor as one row, or one row per channel (dimension 1).</summary>
    private Tensor Grouped(Tensor x) => Spec.Granularity is ScaleGranularity.PerChannel
        ? x.transpose(0, 1).reshape(x.shape[1], -1)
        : x.reshape(1, -1);

    /// <summary>A per-group vector shaped to broadcast over <paramref name="x"/>.</summary>
    private Tensor Spread(Tensor perGroup, Tensor x)
    {
        if (Spec.Granularity is not ScaleGranularity.PerChannel) return perGroup.reshape([]);
        var shape = Enumerable.Repeat(1L, (int)x.dim()).ToArray();
        shape[1] = perGroup.shape[0];
        return perGroup.reshape(shape);
    }

    private void RequireCalibrated()
    {
        if (!IsCalibrated) throw new InvalidOperationException("the activation quantizer is not calibrated: observe data and call FinishCalibration first");
    }

    /// <summary>The scale per group (static granularity): the learned step or clip when learned, else the calibrated scale.</summary>
    /// <param name="elements">Elements of the tensor being quantized, for LSQ's gradient scale (N in 1/√(N·Qp)).</param>
    public Tensor Scale(long elements = 1)
    {
        RequireCalibrated();
        if (IsDynamic) throw new InvalidOperationException("dynamic groups have no static scale");
        if (_clip is not null) return (_clip / Spec.Format.MaxLevel).reshape(1);
        if (_learnedScale is null) return _scale!.alias();
        return Lsq.Step(_learnedScale, (double)elements / _learnedScale.shape[0], Spec.Format, Spec.Scale);
    }

    /// <summary>The zero point per group (float32 holding integers), null when symmetric.</summary>
    public Tensor? ZeroPoint => _zeroPoint;

    /// <summary>Makes the step a trained parameter (LSQ), starting from the calibrated scale.</summary>
    public Parameter EnableLearnedScale()
    {
        RequireCalibrated();
        if (IsDynamic) throw new InvalidOperationException("dynamic scales cannot be learned");
        if (_learnedScale is null)
        {
            _learnedScale = new Parameter(_scale!.clone(), requires_grad: true);
            _learnedScale.DetachFromDisposeScope();
        }
        return _learnedScale;
    }

    /// <summary>Makes the clip β a trained parameter (PACT), starting from the calibrated range (scale·Qp).</summary>
    /// <exception cref="InvalidOperationException">The spec is not an unsigned, symmetric, per-tensor quantizer.</exception>
    public Parameter EnablePact()
    {
        RequireCalibrated();
        var problems = (Spec with { Learning = LearningMode.Pact }).Problems(QuantizerRole.Activation).ToList();
        if (problems.Count > 0) throw new InvalidOperationException($"PACT: {problems[0].Problem}");
        if (_clip is null)
        {
            using var scope = NewDisposeScope();
            _clip = new Parameter((_scale![0] * Spec.Format.MaxLevel).reshape([]), requires_grad: true);
            _clip.DetachFromDisposeScope();
        }
        return _clip;
    }

    /// <summary>
    /// The fake-quantized activation, differentiable (straight-through inside the range; LSQ or PACT
    /// gradients for learned parameters).
    /// </summary>
    /// <param name="x">The activation.</param>
    /// <param name="training">Training: stochastic rounding draws fresh choices; otherwise it replays seeded ones.</param>
    /// <param name="drop">QDrop: each element is left unquantized with this probability (0: all quantized).</param>
    /// <param name="dropGenerator">Source of the drop choices (needed when <paramref name="drop"/> &gt; 0).</param>
    /// <param name="dropValue">What a dropped element becomes; null means x itself. Reconstruction passes the
    /// full-precision model's value here for a block's input, as QDrop does.</param>
    public Tensor Quantize(Tensor x, bool training, double drop = 0, Generator? dropGenerator = null, Tensor? dropValue = null)
    {
        if (IsDynamic) throw new InvalidOperationException("dynamic groups quantize im2col vectors: use QuantizeColumns");
        RequireCalibrated();
        Tensor quantized;
        if (_clip is not null)
        {
            // The quantizer passes the clipped value's gradient straight through (PACT's estimator).
            var y = Pact.Clip(x, _clip);
            var scale = _clip.detach() / Spec.Format.MaxLevel;
            var level = Round(FakeQuantization.Clamped(y.detach(), scale, null, Spec.Format), training);
            Statistics?.Add(_grid.CodesOf(level));
            quantized = (level * scale).detach() + (y - y.detach());
        }
        else
        {
            var scale = Spread(Scale(x.numel()), x);
            var zero = _zeroPoint is null ? null : Spread(_zeroPoint, x);
            var u = FakeQuantization.Clamped(x, scale, zero, Spec.Format);
            var level = Round(u.detach(), training);
            Statistics?.Add(_grid.CodesOf(zero is null ? level : level + zero));
            quantized = FakeQuantization.StraightThrough(u, level) * scale;
        }
        if (drop <= 0) return quantized;
        var keep = rand(x.shape, generator: dropGenerator) >= drop;
        return where(keep, quantized, dropValue ?? x);
    }

    private Tensor Round(Tensor u, bool training)
    {
        if (Spec.Rounding != RoundingMode.Stochastic) return _grid.Round(u, RoundingMode.Nearest);
        if (training) return _grid.Round(u, RoundingMode.Stochastic, _generator);
        using var replay = new Generator(unchecked((ulong)_seed));
        return _grid.Round(u, RoundingMode.Stochastic, replay);
    }

    /// <summary>
    /// Dynamic groups: quantizes im2col vectors <paramref name="columns"/> (N, convolution groups, K, L),
    /// each run of <c>size</c> consecutive elements along K (the last run may be shorter) with its own
    /// scale s = max|x| / L_max (unsigned formats: max(x, 0) / L_max), restricted as the spec says.
    /// The scale is a constant for the gradient.
    /// </summary>
    public Tensor QuantizeColumns(Tensor columns, bool training)
    {
        var (grouped, scale, k) = DynamicGroups(columns);
        var shape = columns.shape;
        var u = FakeQuantization.Clamped(grouped, scale, null, Spec.Format);
        var level = Round(u.detach(), training);
        Statistics?.Add(_grid.CodesOf(level.reshape(shape[0], shape[1], -1, shape[3]).narrow(2, 0, k)));
        var quantized = FakeQuantization.StraightThrough(u, level) * scale;
        return quantized.reshape(shape[0], shape[1], -1, shape[3]).narrow(2, 0, k);
    }

    /// <summary>The vectors padded to whole groups, (N, G, groups, size, L), and each group's scale (N, G, groups, 1, L).</summary>
    private (Tensor Grouped, Tensor Scale, long K) DynamicGroups(Tensor columns)
    {
        if (Spec.Granularity is not ScaleGranularity.DynamicGroup dynamic)
            throw new InvalidOperationException("QuantizeColumns is for dynamic groups; use Quantize");
        if (columns.dim() != 4) throw new ArgumentException($"im2col vectors are (N, groups, K, L), got rank {columns.dim()}", nameof(columns));
        long k = columns.shape[2], size = dynamic.Size, count = (k + size - 1) / size;
        var padded = count * size == k ? columns : F.pad(columns, [0, 0, 0, count * size - k]);
        var grouped = padded.reshape(columns.shape[0], columns.shape[1], count, size, columns.shape[3]);
        using var noGrad = no_grad();
        var detached = grouped.detach();
        var (scale, _) = QuantParameters.FromRange(detached.amin([3], keepdim: true), detached.amax([3], keepdim: true), Spec.Format, false, Spec.Scale);
        return (grouped, scale, k);
    }

    /// <summary>The integer view of <paramref name="x"/> (static granularity), as quantized in evaluation.</summary>
    public IntegerActivations ToIntegers(Tensor x)
    {
        RequireCalibrated();
        if (IsDynamic) throw new InvalidOperationException("dynamic groups: use ToIntegersColumns on im2col vectors");
        using var noGrad = no_grad();
        var scale = _clip is not null ? (_clip.detach() / Spec.Format.MaxLevel).reshape([]) : Spread(Scale().detach(), x);
        var zero = _zeroPoint is null ? null : Spread(_zeroPoint, x);
        var input = _clip is not null ? x.clamp(0, _clip.detach()) : x;
        var level = Round(FakeQuantization.Clamped(input, scale, zero, Spec.Format), training: false);
        var codes = _grid.CodesOf(zero is null ? level : level + zero);
        return new IntegerActivations(Spec.Format, codes, scale.clone(), zero?.to_type(ScalarType.Int32), 0);
    }

    /// <summary>The integer view of im2col vectors (N, G, K, L) under dynamic groups; the scale is (N, G, ceil(K/size), L).</summary>
    public IntegerActivations ToIntegersColumns(Tensor columns)
    {
        using var noGrad = no_grad();
        var (grouped, scale, k) = DynamicGroups(columns);
        var level = Round(FakeQuantization.Clamped(grouped, scale, null, Spec.Format), training: false);
        var shape = columns.shape;
        var codes = _grid.CodesOf(level).reshape(shape[0], shape[1], -1, shape[3]).narrow(2, 0, k);
        int size = ((ScaleGranularity.DynamicGroup)Spec.Granularity).Size;
        return new IntegerActivations(Spec.Format, codes, scale.squeeze(3), null, size);
    }

    /// <summary>The trained parameters this quantizer currently has, named <c>step</c> (LSQ) and <c>clip</c> (PACT's β).</summary>
    public IEnumerable<(string Name, Parameter Value)> Parameters()
    {
        if (_learnedScale is not null) yield return ("step", _learnedScale);
        if (_clip is not null) yield return ("clip", _clip);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _grid.Dispose();
        _generator.Dispose();
        _observer?.Dispose();
        _scale?.Dispose();
        _zeroPoint?.Dispose();
        _learnedScale?.Dispose();
        _clip?.Dispose();
    }
}
