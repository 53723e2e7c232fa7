using TorchSharp;
using static TorchSharp.torch;

namespace PimQuant.Quant.Formats;

/// <summary>How a value between two neighbouring levels becomes one of them.</summary>
public enum RoundingMode
{
    /// <summary>The nearest level. Integers: ties to even (as ONNX QuantizeLinear and torch.round);
    /// other formats: ties to the level of smaller magnitude.</summary>
    Nearest,
    /// <summary>The upper neighbour with probability equal to the distance from the lower one over the gap (unbiased), from a seeded generator.</summary>
    Stochastic,
    /// <summary>Learned per weight (AdaRound) by block reconstruction: lower neighbour plus a learned h(V) in [0, 1] of the gap; hard rounding takes the upper neighbour where V ≥ 0. Until learned it rounds to nearest. Weights only.</summary>
    Learned,
}

/// <summary>
/// A format's levels as torch operations on values already divided by the scale (<c>u = x/s</c>,
/// shifted by the zero point for affine integers). Integer formats use closed forms (floor, round);
/// the others search a sorted table of their levels. All results are levels, in float32.
/// </summary>
public sealed class LevelGrid : IDisposable
{
    private readonly Tensor? _table;
    private readonly Tensor? _codes;

    /// <summary>Builds the grid of <paramref name="format"/> (validated).</summary>
    public LevelGrid(NumberFormat format)
    {
        Format = format.Validated();
        if (!format.IsUniform)
        {
            double[] levels = format.Levels();
            _table = tensor(levels.Select(v => (float)v).ToArray()).DetachFromDisposeScope();
            _codes = tensor(levels.Select(v => (int)format.CodeOf(v)).ToArray()).DetachFromDisposeScope();
        }
    }

    /// <summary>The format.</summary>
    public NumberFormat Format { get; }

    /// <summary>
    /// The lower neighbour floor_L(u) = max{level ≤ u} and the upper neighbour ceil_L(u) = min{level ≥ u}
    /// of each element of <paramref name="u"/>, which must lie within the levels' range (clamp first).
    /// Both equal u where u is a level. Integer levels are all integers, so an affine quantizer's
    /// range qmin−z..qmax−z needs no table: the caller's clamp bounds it.
    /// </summary>
    public (Tensor Lower, Tensor Upper) Neighbours(Tensor u)
    {
        if (_table is null) return (u.floor(), u.ceil());
        var index = searchsorted(_table, u.contiguous(), right: true) - 1;
        index = index.clamp(0, _table.shape[0] - 1);
        var lower = _table.index_select(0, index.flatten()).reshape(u.shape);
        var upperIndex = (index + 1).clamp_max(_table.shape[0] - 1);
        var upper = _table.index_select(0, upperIndex.flatten()).reshape(u.shape);
        return (lower, where(lower == u, lower, upper));
    }

    /// <summary>Rounds <paramref name="u"/> (within range) to a level with <paramref name="mode"/>.</summary>
    /// <param name="u">Values in code units, already clamped to the levels' range.</param>
    /// <param name="mode">Nearest or stochastic; learned rounding needs its logits, see <see cref="Soft"/> and <see cref="Hard"/>.</param>
    /// <param name="generator">Source of the stochastic choices (seeded by the caller).</param>
    public Tensor Round(Tensor u, RoundingMode mode, Generator? generator = null)
    {
        switch (mode)
        {
            case RoundingMode.Nearest when _table is null:
                return u.round();
            case RoundingMode.Nearest:
            {
                var (lower, upper) = Neighbours(u);
                var below = u - lower;
                var above = upper - u;
                var takeUpper = (above < below) | ((above == below) & (upper.abs() < lower.abs()));
                return where(takeUpper, upper, lower);
            }
            case RoundingMode.Stochastic:
            {
                var (lower, upper) = Neighbours(u);
                var gap = upper - lower;
                var p = where(gap > 0, (u - lower) / where(gap > 0, gap, ones_like(gap)), zeros_like(gap));
                var draw = rand(u.shape, generator: generator);
                return where(draw < p, upper, lower);
            }
            default:
                throw new ArgumentException("learned rounding needs the rounding logits: use Soft or Hard", nameof(mode));
        }
    }

    /// <summary>
    /// AdaRound's rectified sigmoid h(V) = clip(sigmoid(V)·(ζ − γ) + γ, 0, 1), ζ = 1.1, γ = −0.1,
    /// which reaches exactly 0 and 1 so the regulariser can drive every weight to a hard choice.
    /// </summary>
    public static Tensor RectifiedSigmoid(Tensor v) => (v.sigmoid() * (Zeta - Gamma) + Gamma).clamp(0, 1);

    /// <summary>AdaRound's stretch parameters ζ and γ.</summary>
    public const double Zeta = 1.1, Gamma = -0.1;

    /// <summary>
    /// Soft learned rounding: floor_L(u) + h(V)·(ceil_L(u) − floor_L(u)); differentiable in V only.
    /// </summary>
    public Tensor Soft(Tensor u, Tensor logits)
    {
        var (lower, upper) = Neighbours(u.detach());
        return lower + RectifiedSigmoid(logits) * (upper - lower);
    }

    /// <summary>Hard learned rounding: ceil_L(u) where V ≥ 0, else floor_L(u).</summary>
    public Tensor Hard(Tensor u, Tensor logits)
    {
        var (lower, upper) = Neighbours(u.detach());
        return where(logits >= 0, upper, lower);
    }

    /// <summary>
    /// The logits V for which the soft rounding of <paramref name="u"/> starts at u itself:
    /// h(V) = (u − floor_L)/(ceil_L − floor_L), inverted through the rectified sigmoid.
    /// </summary>
    public Tensor InitialLogits(Tensor u)
    {
        var (lower, upper) = Neighbours(u.detach());
        var gap = upper - lower;
        var rest = where(gap > 0, (u.detach() - lower) / where(gap > 0, gap, ones_like(gap)), zeros_like(gap));
        // Solve sigmoid(V) = (rest − γ)/(ζ − γ); rest is in [0, 1), so the ratio stays inside (0, 1).
        var p = (rest - Gamma) / (Zeta - Gamma);
        return (p / (1 - p)).log();
    }

    /// <summary>Int32 codes of <paramref name="levels"/> (exact levels): the integers themselves for integer formats, bit patterns otherwise.</summary>
    public Tensor CodesOf(Tensor levels)
    {
        if (_table is null) return levels.to_type(ScalarType.Int32);
        var index = searchsorted(_table, levels.contiguous()).clamp_max(_table.shape[0] - 1);
        return _codes!.index_select(0, index.flatten()).reshape(levels.shape);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _table?.Dispose();
        _codes?.Dispose();
    }
}
