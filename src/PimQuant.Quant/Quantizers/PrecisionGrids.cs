using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Observers;
using TorchSharp;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Quant.Quantizers;

/// <summary>
/// The levels of every element of one weight, for a quantizer with or without a precision map
/// (<see cref="QuantizerSpec.Precision"/>). Without a map every call is the one format's
/// <see cref="LevelGrid"/>, unchanged; with one, each distinct format rounds the whole weight and
/// its result is kept where that format applies (a handful of formats, so a few passes), and
/// pruned elements are 0. Tensors are over the weight's own shape.
/// </summary>
internal sealed class PrecisionGrids : IDisposable
{
    private readonly NumberFormat _format;
    private readonly Dictionary<NumberFormat, LevelGrid> _grids = [];
    private readonly List<(LevelGrid Grid, Tensor Mask)> _parts = [];
    private readonly Tensor? _min, _max, _live;
    private readonly int[]? _referenceOfScaleGroup;
    private readonly NumberFormat[] _references = [];

    public PrecisionGrids(QuantizerSpec spec, WeightGroupLayout scaleLayout)
    {
        _format = spec.Format;
        Widest = spec.Format;
        Grid(spec.Format);
        if (spec.Precision is not { } precision) return;
        var lowering = scaleLayout.Lowering;
        var groups = WeightGroupLayout.Rectangles(lowering, precision.Granularity);
        var groupOf = WeightGroupLayout.GroupOfElements(lowering, groups);
        int n = groupOf.Length;
        var min = new float[n];
        var max = new float[n];
        var masks = new Dictionary<NumberFormat, bool[]>();
        // The widest format present in each scale group sets its scale (see QuantizerSpec.Precision).
        var widest = new NumberFormat?[scaleLayout.Groups.Count];
        for (int r = 0; r < lowering.Rows; r++)
            for (int c = 0; c < lowering.Columns; c++)
            {
                int i = r * lowering.Columns + c;
                if (precision.Formats[groupOf[i]] is not { } f) continue;
                long w = lowering.WeightIndex(r, c);
                min[w] = (float)f.MinLevel;
                max[w] = (float)f.MaxLevel;
                if (!masks.TryGetValue(f, out var mask)) masks[f] = mask = new bool[n];
                mask[w] = true;
                int s = scaleLayout.GroupOfElement[i];
                if (widest[s] is not { } current || f.MaxLevel > current.MaxLevel) widest[s] = f;
            }
        using (var scope = NewDisposeScope())
        {
            var shape = lowering.WeightShape.ToArray();
            foreach (var (f, mask) in masks)
                _parts.Add((Grid(f), tensor(mask).reshape(shape).DetachFromDisposeScope()));
            _min = tensor(min).reshape(shape).DetachFromDisposeScope();
            _max = tensor(max).reshape(shape).DetachFromDisposeScope();
            if (precision.HasPrunedGroups)
                _live = masks.Values.Aggregate(zeros(shape, ScalarType.Bool), (live, mask) => live | tensor(mask).reshape(shape)).DetachFromDisposeScope();
        }
        _references = [.. widest.Select(f => f ?? spec.Format).Distinct()];
        _referenceOfScaleGroup = [.. widest.Select(f => Array.IndexOf(_references, f ?? spec.Format))];
        Widest = masks.Keys.DefaultIfEmpty(spec.Format).MaxBy(f => f.MaxLevel)!;
    }

    /// <summary>The format with the largest level (LSQ's Qp).</summary>
    public NumberFormat Widest { get; }

    private LevelGrid Grid(NumberFormat format)
    {
        if (!_grids.TryGetValue(format, out var grid)) _grids[format] = grid = new LevelGrid(format);
        return grid;
    }

    /// <summary>
    /// Scale and zero point per scale group from <paramref name="observer"/>: with a map, each
    /// scale group's from its widest format (<see cref="QuantParameters.FromObserver"/> once per
    /// distinct widest format, each group keeping its own).
    /// </summary>
    public (Tensor Scale, Tensor? ZeroPoint) Parameters(Observer observer, QuantizerSpec spec)
    {
        if (_referenceOfScaleGroup is null || _references.Length == 1)
        {
            var format = _references.Length == 1 ? _references[0] : _format;
            return QuantParameters.FromObserver(observer, spec with { Format = format, Precision = null }, Grid(format));
        }
        using var scope = NewDisposeScope();
        var which = tensor(_referenceOfScaleGroup);
        Tensor? scale = null;
        for (int i = 0; i < _references.Length; i++)
        {
            var (s, _) = QuantParameters.FromObserver(observer, spec with { Format = _references[i], Precision = null }, Grid(_references[i]));
            scale = scale is null ? s : where(which == i, s, scale);
        }
        return (scale!.MoveToOuterDisposeScope(), null);
    }

    /// <summary>x/s clamped to each element's levels (minus the zero point): the value rounding acts on.</summary>
    public Tensor Clamped(Tensor x, Tensor scale, Tensor? zeroPoint)
    {
        if (_min is null) return FakeQuantization.Clamped(x, scale, zeroPoint, _format);
        // A precision map is symmetric (QuantizerSpec.Problems), so there is no zero point here.
        var u = (x / scale).clamp(_min, _max!);
        // A pruned weight stays 0 and learns nothing (clamp to [0, 0] would pass the gradient of an exact 0).
        return _live is null ? u : where(_live, u, zeros_like(u));
    }

    /// <summary>Each element rounded to a level of its own format.</summary>
    public Tensor Round(Tensor u, RoundingMode mode, Generator? generator = null) => Combine(g => g.Round(u, mode, generator));

    /// <summary>Soft learned rounding, element by element in its own format (<see cref="LevelGrid.Soft"/>).</summary>
    public Tensor Soft(Tensor u, Tensor logits) => Combine(g => g.Soft(u, logits));

    /// <summary>Hard learned rounding (<see cref="LevelGrid.Hard"/>).</summary>
    public Tensor Hard(Tensor u, Tensor logits) => Combine(g => g.Hard(u, logits));

    /// <summary>Initial AdaRound logits (<see cref="LevelGrid.InitialLogits"/>).</summary>
    public Tensor InitialLogits(Tensor u) => Combine(g => g.InitialLogits(u));

    /// <summary>Int32 codes of exact levels, each in its own format (pruned elements: 0).</summary>
    public Tensor CodesOf(Tensor levels) => Combine(g => g.CodesOf(levels));

    /// <summary>f of the one grid, or each format's f kept where that format applies, 0 where pruned.</summary>
    private Tensor Combine(Func<LevelGrid, Tensor> f)
    {
        if (_min is null) return f(_grids[_format]);
        Tensor? result = null;
        foreach (var (grid, mask) in _parts)
        {
            var part = f(grid);
            result = where(mask, part, result ?? zeros_like(part));
        }
        // Every group pruned: zeros of the type f gives (codes are int32).
        return result ?? zeros_like(f(_grids[_format]));
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var grid in _grids.Values) grid.Dispose();
        foreach (var (_, mask) in _parts) mask.Dispose();
        _min?.Dispose();
        _max?.Dispose();
        _live?.Dispose();
    }
}
