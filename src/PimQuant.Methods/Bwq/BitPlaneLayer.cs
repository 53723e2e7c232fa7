using PimQuant.Quant.Granularity;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PimQuant.Methods.Bwq;

/// <summary>
/// One layer's weight as BWQ-A trains it (docs/methods/bwq.md): W = sign(W) · s/(2^n − 1) · Σ_b W_s(b) · 2^b · m(b), with
/// n magnitude bit planes W_s(b) ≥ 0 (continuous while training, rounded straight-through in the forward pass), the sign
/// and the scale s fixed from the trained weight, and a bit mask m(b) per weight block (one OU of the lowered matrix,
/// <see cref="WeightGroupLayout"/>'s OU-block order, the order of Hardware's <c>BlockPrecision</c>).
/// Re-quantization rounds the planes to exact bits and clears, per block, every leading bit that is zero for all its
/// weights, so a block's mask is always its low p bits: p is the block precision. Masks only ever turn off.
/// </summary>
public sealed class BitPlaneLayer : IDisposable
{
    /// <summary>Largest value a plane may take while training (BSQ's range [0, 2]: a plane above 1 carries into the next bit at
    /// re-quantization).</summary>
    public const double PlaneCeiling = 2;

    private readonly long[] _shape;
    private readonly Tensor _sign, _blockOf, _powers;

    /// <summary>Splits <paramref name="weight"/> into bit planes.</summary>
    /// <param name="name">The layer's name (the quantizable layer's).</param>
    /// <param name="weightName">The graph initializer the planes replace.</param>
    /// <param name="weight">The trained weight in its own layout.</param>
    /// <param name="lowering">How the weight lowers to the crossbar matrix.</param>
    /// <param name="block">The block size: one OU of the lowered matrix (BWQ: 9 rows × 8 columns).</param>
    /// <param name="magnitudeBits">n: magnitude bits of a weight (BWQ: 8).</param>
    /// <exception cref="ArgumentException">Fewer than 1 or more than 15 magnitude bits, or a weight that does not fit the lowering.</exception>
    public BitPlaneLayer(string name, string weightName, Tensor weight, WeightLowering lowering, ScaleGranularity.PerOuBlock block, int magnitudeBits)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(lowering);
        if (magnitudeBits is < 1 or > 15)
            throw new ArgumentException($"{magnitudeBits} magnitude bits: a BWQ weight has 1 to 15 (a signed code of at most 16 bits)", nameof(magnitudeBits));
        if (!weight.shape.SequenceEqual(lowering.WeightShape))
            throw new ArgumentException($"layer {name}: weight [{string.Join(",", weight.shape)}] does not fit the lowering [{string.Join(",", lowering.WeightShape)}]", nameof(weight));
        Name = name;
        WeightName = weightName;
        Lowering = lowering;
        Block = block;
        MagnitudeBits = magnitudeBits;
        _shape = weight.shape;
        using var layout = WeightGroupLayout.Create(lowering, block);
        Blocks = layout.Groups.Count;
        BlockSizes = [.. layout.Groups.Select(g => g.Count)];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var w = weight.detach().to_type(ScalarType.Float32).flatten();
        double max = w.abs().max().item<float>();
        // An all-zero weight keeps a unit scale: every plane is 0 and stays so.
        Scale = max > 0 ? max : 1;
        _sign = (1 - 2 * w.lt(0).to_type(ScalarType.Float32)).MoveToOuterDisposeScope();
        _blockOf = layout.GroupIndex.flatten().to_type(ScalarType.Int64).clone().MoveToOuterDisposeScope();
        _powers = tensor(Enumerable.Range(0, magnitudeBits).Select(b => (float)(1 << b)).ToArray()).reshape(magnitudeBits, 1).MoveToOuterDisposeScope();
        var levels = (w.abs() / Scale * MaxLevel).round().clamp(0, MaxLevel);
        Planes = new Parameter(BitsOf(levels), requires_grad: true);
        Planes.DetachFromDisposeScope();
        Masks = ones([magnitudeBits, Blocks], dtype: ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>The layer's name.</summary>
    public string Name { get; }

    /// <summary>The graph initializer whose value the planes give.</summary>
    public string WeightName { get; }

    /// <summary>How the weight lowers to the crossbar matrix.</summary>
    public WeightLowering Lowering { get; }

    /// <summary>The block size.</summary>
    public ScaleGranularity.PerOuBlock Block { get; }

    /// <summary>n: magnitude bits.</summary>
    public int MagnitudeBits { get; }

    /// <summary>2^n − 1: the largest magnitude level.</summary>
    public int MaxLevel => (1 << MagnitudeBits) - 1;

    /// <summary>s: the largest magnitude of the weight the planes were made from; the level step is s/(2^n − 1).</summary>
    public double Scale { get; }

    /// <summary>The step of one magnitude level, s/(2^n − 1).</summary>
    public double Step => Scale / MaxLevel;

    /// <summary>Weight blocks of the layer.</summary>
    public int Blocks { get; }

    /// <summary>Weights in each block (edge blocks are smaller).</summary>
    public IReadOnlyList<int> BlockSizes { get; }

    /// <summary>The planes W_s(b), (n, weights) in the weight's flattened order: the trained parameter.</summary>
    public Parameter Planes { get; }

    /// <summary>The masks m(b), (n, blocks) of 0 and 1: state kept across re-quantizations and checkpointed with the run.</summary>
    public Tensor Masks { get; }

    /// <summary>Parameters of the layer: its weights.</summary>
    public long Weights => Planes.shape[1];

    /// <summary>The masked sum Σ_b W_s(b) · 2^b · m(b) of each weight, (weights), unrounded.</summary>
    private Tensor MaskedSum() => (Planes * Masks.index_select(1, _blockOf) * _powers).sum(0L);

    /// <summary>The largest level each weight's block allows, 2^p − 1, (weights).</summary>
    private Tensor LevelCeiling() => (Masks.sum(0L).exp2() - 1).index_select(0, _blockOf);

    /// <summary>
    /// The weight the layer computes with, in its own shape: the masked sum rounded to the nearest level within the block's
    /// precision, straight-through (the gradient reaches every unmasked plane as if there were no rounding).
    /// </summary>
    public Tensor Weight()
    {
        var sum = MaskedSum();
        var levels = sum + (minimum(sum.detach().round(), LevelCeiling()) - sum.detach()).detach();
        return (_sign * levels * (float)Step).reshape(_shape);
    }

    /// <summary>
    /// The block group lasso B(W) = Σ_g Σ_b ‖W_s(g, b) · m(g, b)‖₂, differentiable in the planes. A norm of an all-zero group
    /// has gradient 0 (the square sum is floored before the root), as torch's norm gives.
    /// </summary>
    public Tensor GroupLasso()
    {
        var masked = Planes * Masks.index_select(1, _blockOf);
        var squares = zeros([MagnitudeBits, Blocks], dtype: ScalarType.Float32).index_add(1, _blockOf, masked * masked, 1);
        return squares.clamp_min(1e-12).sqrt().mul(Masks).sum();
    }

    /// <summary>Keeps every plane in [0, <see cref="PlaneCeiling"/>] after an optimizer step.</summary>
    public void ClampPlanes()
    {
        using var noGrad = no_grad();
        Planes.clamp_(0, PlaneCeiling);
    }

    /// <summary>
    /// Rounds the planes to exact bits of each weight's level (the masked sum rounded, within its block's precision) and clears,
    /// per block, every leading bit that is zero for all the block's weights. Masks only turn off.
    /// </summary>
    public void Requantize()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var levels = minimum(MaskedSum().round().clamp_min(0), LevelCeiling());
        // Bit b survives while some weight of the block has a level of at least 2^b.
        var reaching = (levels.unsqueeze(0) >= _powers).to_type(ScalarType.Float32);
        var keep = zeros([MagnitudeBits, Blocks], dtype: ScalarType.Float32).index_add(1, _blockOf, reaching, 1).gt(0).to_type(ScalarType.Float32);
        Masks.mul_(keep);
        Planes.copy_(BitsOf(levels) * Masks.index_select(1, _blockOf));
    }

    /// <summary>The magnitude bits of <paramref name="levels"/>, (n, weights) of 0 and 1.</summary>
    private Tensor BitsOf(Tensor levels)
    {
        var integers = levels.to_type(ScalarType.Int64);
        var shifts = arange(0, MagnitudeBits, 1, dtype: ScalarType.Int64).reshape(MagnitudeBits, 1);
        return integers.unsqueeze(0).bitwise_right_shift(shifts).bitwise_and(1).to_type(ScalarType.Float32);
    }

    /// <summary>The precision p of every block (its mask's bits; 0 for a pruned block).</summary>
    public int[] BlockPrecision()
    {
        using var scope = NewDisposeScope();
        return Masks.sum(0L).to_type(ScalarType.Int32).data<int>().ToArray();
    }

    /// <summary>The mean magnitude bits per weight, Σ_g size_g · p_g / weights (the sign bit aside).</summary>
    public double MeanBits()
    {
        var p = BlockPrecision();
        double sum = 0;
        for (int g = 0; g < p.Length; g++) sum += (double)BlockSizes[g] * p[g];
        return sum / Weights;
    }

    /// <summary>The signed integer level of every weight, in the weight's flattened order: sign · Σ_b round(W_s(b)) · 2^b within the
    /// block's precision, as <see cref="Weight"/> computes it.</summary>
    public int[] Levels()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var levels = minimum(MaskedSum().round().clamp_min(0), LevelCeiling());
        return (_sign * levels).to_type(ScalarType.Int32).data<int>().ToArray();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Planes.Dispose();
        Masks.Dispose();
        _sign.Dispose();
        _blockOf.Dispose();
        _powers.Dispose();
    }
}
