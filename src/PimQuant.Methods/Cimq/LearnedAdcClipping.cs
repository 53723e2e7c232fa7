using PimQuant.Accelerator;
using PimQuant.Sim;
using TorchSharp;
using static TorchSharp.torch;

namespace PimQuant.Methods.Cimq;

/// <summary>How CIMQ's clipping is learned (docs/methods/cimq.md).</summary>
/// <param name="Pixels">Input vectors of the calibration sample (evenly spaced) that the partial sums are computed from; fewer
/// on a layer whose reads of that many would exceed <see cref="LearnedAdcClipping.ReadBudget"/> partial sums.</param>
/// <param name="Iterations">Adam steps on the clip parameters.</param>
/// <param name="LearningRate">Adam's learning rate on θ.</param>
/// <param name="StepMantissaBits">A learned step is rounded to this many significant bits, as the reference ladder of an ADC
/// would be set by a DAC of that resolution; it also makes the step a short dyadic number, so the partial-sum model's codes
/// are exactly the simulator's.</param>
public sealed record ClipLearning(int Pixels = 512, int Iterations = 80, double LearningRate = 0.1, int StepMantissaBits = 10)
{
    /// <summary>This record, checked.</summary>
    /// <exception cref="ArgumentException">A value out of range, named.</exception>
    public ClipLearning Validated()
    {
        if (Pixels < 1) throw new ArgumentException($"clip learning pixels must be at least 1, got {Pixels}");
        if (Iterations < 0) throw new ArgumentException($"clip learning iterations must be >= 0, got {Iterations}");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new ArgumentException($"clip learning rate must be > 0, got {LearningRate}");
        if (StepMantissaBits is < 2 or > 20) throw new ArgumentException($"step mantissa bits must lie in 2..20, got {StepMantissaBits}");
        return this;
    }
}

/// <summary>
/// CIMQ's partial-sum quantization with a learned clipping value (docs/methods/cimq.md): per layer or per array, the
/// clip of the ADC range is clip = softplus(θ)·peak / softplus(θ₀) (θ₀ chosen so training starts at the conventional
/// peak calibration), the step is clip / (2^A − 1), and θ is trained by Adam to minimise the mean squared error the
/// conversions add to the layer's output on the calibration vectors, through a fake-quantized partial-sum model in
/// libtorch: the ideal partial sums of every read (from the programmed conductances, <see cref="PartialSumLayout"/>), the
/// ADC rounding with a straight-through estimator (LSQ's step gradient: round(v) − v inside the range, 2^A − 1 above), and
/// each code's weight in its column's output. The learned steps are handed to the simulator as the layer's ADC steps.
/// </summary>
public sealed class LearnedAdcClipping(ClipLearning learning) : IAdcStepCalibration
{
    private readonly ClipLearning _learning = learning.Validated();

    /// <summary>Partial sums the model of one layer holds at most (a float64 and a float32 copy: about 200 MB): vgg8's widest
    /// layers on isaac read 36 row groups × 8 digits × 2,048 bitlines per pixel, so they learn from fewer pixels.</summary>
    public const long ReadBudget = 1L << 24;

    /// <summary>With the default <see cref="ClipLearning"/>.</summary>
    public LearnedAdcClipping() : this(new ClipLearning()) { }

    /// <summary>How the clips are learned.</summary>
    public ClipLearning Learning => _learning;

    /// <inheritdoc/>
    public double[] Steps(ProgrammedLayer layer, ReadOnlyMemory<byte> vectors, int pixels, bool signed, bool perArray, SimConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var peaks = layer.PeakPartialSums(vectors, pixels, configuration);
        var initial = PeakAdcCalibration.FromPeaks(peaks, layer.Config.AdcCodeMax, perArray);
        if (layer.Config.IsAdcIdeal || _learning.Iterations == 0) return initial;
        var geometry = layer.Geometry;
        long readsPerPixel = (long)geometry.RowGroupCount * geometry.Digits * geometry.PhysicalColumns;
        int wanted = (int)Math.Clamp(ReadBudget / readsPerPixel, 16, _learning.Pixels);
        var (sample, count) = Sample(vectors.Span, pixels, geometry.K, wanted);
        using var scope = NewDisposeScope();
        using var model = new PartialSumModel(layer.Layout(), sample, count, signed, perArray);
        var learned = model.Learn(initial, _learning);
        return learned.Select((s, i) => initial[i] == 1.0 && (perArray ? peaks[i] : peaks.Max()) == 0 ? 1.0 : Snap(s, _learning.StepMantissaBits)).ToArray();
    }

    /// <summary><paramref name="count"/> vectors evenly spaced over the <paramref name="pixels"/> given (all when fewer).</summary>
    internal static (byte[] Sample, int Count) Sample(ReadOnlySpan<byte> vectors, int pixels, int k, int count)
    {
        count = Math.Min(count, pixels);
        var sample = new byte[(long)count * k];
        for (int i = 0; i < count; i++)
            vectors.Slice((int)((long)i * pixels / count * k), k).CopyTo(sample.AsSpan(i * k, k));
        return (sample, count);
    }

    /// <summary><paramref name="step"/> rounded to <paramref name="bits"/> significant bits.</summary>
    internal static double Snap(double step, int bits)
    {
        int exponent = Math.ILogB(step) - (bits - 1);
        return Math.ScaleB(Math.Round(Math.ScaleB(step, -exponent)), exponent);
    }
}

/// <summary>
/// The fake-quantized partial-sum model of one programmed layer on a sample of input vectors: the ideal partial sum of
/// every read (row group g, digit t, physical column pc), in levels, computed once (they do not depend on the step), and
/// the error e[p, n] = Σ_(g,t,pc of n) Scale[g,n]·2^(d·t)·Weight[g,pc]·(step·code − p) that the conversions add to the
/// layer's output (the exact digital terms cancel).
/// </summary>
internal sealed class PartialSumModel : IDisposable
{
    private readonly Tensor _exactSums;   // [G, T, P, C] float64, levels
    private readonly Tensor _sums;        // the same in float32, which training needs no more than
    private readonly Tensor _coefficient; // [G, T, 1, C] float32: 2^(d·t)·Weight[g,pc]
    private readonly Tensor _scale;       // [G, 1, N, 1]
    private readonly Tensor _arrayIndex;  // [G, C] int64: the step each bitline uses (0 with one step)
    private readonly int _codeMax, _n, _perWeight, _steps;

    public PartialSumModel(PartialSumLayout layout, byte[] vectors, int pixels, bool signed, bool perArray)
    {
        var geometry = layout.Geometry;
        int k = geometry.K, c = geometry.PhysicalColumns, groups = geometry.RowGroupCount, digits = geometry.Digits, d = geometry.DigitBits;
        _codeMax = layout.AdcCodeMax;
        _n = geometry.N;
        _perWeight = geometry.Slices * geometry.Polarities;
        _steps = perArray ? geometry.RowTileCount * geometry.ColumnTileCount : 1;
        using var scope = NewDisposeScope();
        // Partial sums are integers in units of 2^-F below 2^31: float64 products and sums of them are exact.
        var codes = tensor(vectors.Select(v => (double)v).ToArray(), [pixels, k], ScalarType.Float64);
        var conductance = tensor(layout.Conductance.Select(v => (double)v).ToArray(), [k, c], ScalarType.Float64);
        var digitsOf = stack(Enumerable.Range(0, digits).Select(t => (codes / Math.ScaleB(1.0, d * t)).floor().remainder(1 << d)).ToArray()); // [T, P, K]
        var perGroup = new Tensor[groups];
        for (int g = 0; g < groups; g++)
        {
            long start = geometry.GroupStart[g], rows = geometry.GroupRows[g];
            perGroup[g] = matmul(digitsOf.narrow(2, start, rows), conductance.narrow(0, start, rows)); // [T, P, C]
        }
        var weight = tensor(layout.Weight.Select(v => (double)v).ToArray(), [groups, 1, 1, c], ScalarType.Float64);
        var enabled = (weight != 0).to_type(ScalarType.Float64);
        _exactSums = (stack(perGroup) * enabled * Math.ScaleB(1.0, -layout.FractionBits)).MoveToOuterDisposeScope();
        _sums = _exactSums.to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        var digitWeight = tensor(Enumerable.Range(0, digits).Select(t => (signed && t == digits - 1 ? -1 : 1) * Math.ScaleB(1.0, d * t)).ToArray(), [1, digits, 1, 1], ScalarType.Float64);
        _coefficient = (weight * digitWeight).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        _scale = tensor(layout.Scale, [groups, 1, _n, 1], ScalarType.Float64).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        _arrayIndex = (perArray
            ? tensor(layout.ArrayOf.Select(a => (long)a).ToArray(), [groups, c], ScalarType.Int64)
            : zeros([groups, c], ScalarType.Int64)).MoveToOuterDisposeScope();
    }

    /// <summary>Steps per bitline, [G, 1, 1, C], from one step per array (or one for the layer).</summary>
    private Tensor Spread(Tensor steps) => steps.index_select(0, _arrayIndex.reshape(-1)).reshape(_arrayIndex.shape[0], 1, 1, _arrayIndex.shape[1]);

    /// <summary>Mean squared output error of the conversions with these steps (one per array, or one), differentiable in
    /// the steps through the straight-through rounding.</summary>
    public Tensor Loss(Tensor steps) => Loss(steps, steps.detach());

    /// <summary>The straight-through surrogate of <see cref="Loss(Tensor)"/>: codes, and their offsets from the clamped
    /// quotients, taken at <paramref name="frozen"/> steps and held constant, the clamped quotient at <paramref name="steps"/>.
    /// It equals the loss where the steps equal the frozen ones, and its derivative there is the straight-through gradient
    /// (LSQ's: round(v) − v inside the range, 2^A − 1 above it), which finite differences of it can check.</summary>
    public Tensor Loss(Tensor steps, Tensor frozen) => Error(steps, frozen).square().mean();

    /// <summary>The error the conversions add to each output, pixels × logical columns (in the layer's output units when
    /// it has digital scales, else integer units), with the surrogate of <see cref="Loss(Tensor, Tensor)"/>.</summary>
    public Tensor Error(Tensor steps, Tensor frozen)
    {
        var step = Spread(steps);
        var at = _sums / Spread(frozen);
        var code = (at + 0.5).floor().clamp(0, _codeMax);
        var offset = code - at.clamp(0, _codeMax);
        var quantized = ((_sums / step).clamp(0, _codeMax) + offset) * step;
        var error = ((quantized - _sums) * _coefficient).sum(dim: 1); // [G, P, C]
        var perColumn = error.reshape(error.shape[0], error.shape[1], _n, _perWeight).sum(dim: 3, keepdim: true) * _scale; // [G, P, N, 1]
        return perColumn.sum(dim: 0).squeeze(-1);
    }

    /// <summary>The steps of clip parameters θ: softplus(θ)·<paramref name="initial"/>, so θ₀ = ln(e − 1) starts at the initial steps.</summary>
    public static Tensor Steps(Tensor theta, Tensor initial) => nn.functional.softplus(theta) * initial;

    /// <summary>θ₀ = softplus⁻¹(1).</summary>
    public static readonly double InitialTheta = Math.Log(Math.E - 1);

    /// <summary>Trains θ from <paramref name="initial"/> steps (clip = softplus(θ)·initial clip / softplus(θ₀)); returns the
    /// steps of the iteration with the lowest loss (the initial ones included).</summary>
    public double[] Learn(IReadOnlyList<double> initial, ClipLearning learning)
    {
        if (initial.Count != _steps) throw new ArgumentException($"expected {_steps} initial steps, got {initial.Count}");
        // Calibration runs inside the model's inference, where gradients are off.
        using var gradients = enable_grad();
        var baseSteps = tensor(initial.Select(s => (float)s).ToArray(), [_steps]);
        var theta = new TorchSharp.Modules.Parameter(full([_steps], InitialTheta, ScalarType.Float32));
        using var optimizer = optim.Adam([theta], learning.LearningRate);
        double best = double.PositiveInfinity;
        var bestSteps = initial.ToArray();
        for (int i = 0; i <= learning.Iterations; i++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var steps = Steps(theta, baseSteps);
            var loss = Loss(steps);
            double value = loss.item<float>();
            if (value < best)
            {
                best = value;
                bestSteps = steps.detach().to_type(ScalarType.Float64).data<double>().ToArray();
            }
            if (i == learning.Iterations) break;
            loss.backward();
            optimizer.step();
        }
        return bestSteps;
    }

    /// <summary>The ADC code of every read under <paramref name="steps"/> (one per array, or one): pixels × row groups × digits ×
    /// physical columns, the layout of <see cref="ProgrammedLayer.AdcCodes"/>, 0 where the OU is not read; exact for steps of a few significant bits (<see cref="LearnedAdcClipping.Snap"/>), whose quotients
    /// never fall within float64 rounding of a half code.</summary>
    public long[] Codes(IReadOnlyList<double> steps)
    {
        using var scope = NewDisposeScope();
        var step = Spread(tensor(steps.ToArray(), [steps.Count], ScalarType.Float64));
        var codes = (_exactSums / step + 0.5).floor().clamp(0, _codeMax) * (_coefficient != 0);
        return codes.permute(2, 0, 1, 3).contiguous().to_type(ScalarType.Int64).data<long>().ToArray();
    }

    public void Dispose()
    {
        _exactSums.Dispose(); _sums.Dispose(); _coefficient.Dispose(); _scale.Dispose(); _arrayIndex.Dispose();
    }
}
