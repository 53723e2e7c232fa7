using TorchSharp;
using static TorchSharp.torch;

namespace PimQuant.Quant.Observers;

/// <summary>
/// The squared quantization error, per group, of <paramref name="values"/> (groups × n) quantized
/// with the ranges [<paramref name="min"/>, <paramref name="max"/>] (one per group); entries where
/// <paramref name="mask"/> is false do not count. Supplied by the quantizer, which knows the format,
/// so the MSE observer can compare clipping candidates.
/// </summary>
public delegate Tensor RangeError(Tensor values, Tensor? mask, Tensor min, Tensor max);

/// <summary>
/// Collects statistics of grouped values (groups × n, optionally masked) and yields a range per
/// group. Observers hold their own tensors (outside any dispose scope); dispose them when done.
/// </summary>
public abstract class Observer : IDisposable
{
    /// <summary>Batches observed so far.</summary>
    public int Batches { get; private set; }

    /// <summary>Takes in one batch of values, (groups, n); <paramref name="mask"/> (same shape) marks real entries.</summary>
    public void Observe(Tensor grouped, Tensor? mask)
    {
        if (grouped.dim() != 2) throw new ArgumentException($"grouped values must be (groups, n), got rank {grouped.dim()}", nameof(grouped));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var values = grouped.detach().to_type(ScalarType.Float32);
        if (Batches > 0 && values.shape[0] != Groups)
            throw new ArgumentException($"observed {values.shape[0]} groups after {Groups}", nameof(grouped));
        Groups = values.shape[0];
        Accumulate(values, mask, Batches);
        Batches++;
    }

    /// <summary>Number of groups (known after the first batch).</summary>
    public long Groups { get; private set; }

    /// <summary>The range per group, (min, max), each of shape (groups); new tensors in the caller's scope.</summary>
    /// <exception cref="InvalidOperationException">Nothing was observed.</exception>
    public (Tensor Min, Tensor Max) Range(RangeError error)
    {
        if (Batches == 0) throw new InvalidOperationException("the observer has seen no values");
        using var noGrad = no_grad();
        return Compute(error);
    }

    /// <summary>Adds batch number <paramref name="batch"/>; runs in a dispose scope, keep what must survive.</summary>
    private protected abstract void Accumulate(Tensor values, Tensor? mask, int batch);

    private protected abstract (Tensor Min, Tensor Max) Compute(RangeError error);

    /// <summary>Per-group minimum and maximum of one batch, ignoring masked-out entries.</summary>
    private protected static (Tensor Min, Tensor Max) BatchRange(Tensor values, Tensor? mask)
    {
        if (mask is null) return (values.amin(1), values.amax(1));
        return (values.masked_fill(mask.logical_not(), double.PositiveInfinity).amin(1),
                values.masked_fill(mask.logical_not(), double.NegativeInfinity).amax(1));
    }

    /// <summary>Replaces <paramref name="field"/> by a copy of <paramref name="value"/> kept outside any scope.</summary>
    private protected static void Keep(ref Tensor? field, Tensor value)
    {
        field?.Dispose();
        field = value.detach().clone().DetachFromDisposeScope();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    /// <summary>Disposes the observer's tensors.</summary>
    private protected abstract void Release();
}

/// <summary>The running minimum and maximum per group.</summary>
public sealed class MinMaxObserver : Observer
{
    private Tensor? _min, _max;

    private protected override void Accumulate(Tensor values, Tensor? mask, int batch)
    {
        var (min, max) = BatchRange(values, mask);
        Keep(ref _min, _min is null ? min : minimum(_min, min));
        Keep(ref _max, _max is null ? max : maximum(_max, max));
    }

    private protected override (Tensor Min, Tensor Max) Compute(RangeError error) => (_min!.clone(), _max!.clone());

    private protected override void Release()
    {
        _min?.Dispose();
        _max?.Dispose();
    }
}

/// <summary>Moving averages of each batch's minimum and maximum, m ← m + c·(batch − m), first batch as start.</summary>
public sealed class MovingAverageObserver(double momentum) : Observer
{
    private Tensor? _min, _max;

    private protected override void Accumulate(Tensor values, Tensor? mask, int batch)
    {
        var (min, max) = BatchRange(values, mask);
        Keep(ref _min, _min is null ? min : _min + momentum * (min - _min));
        Keep(ref _max, _max is null ? max : _max + momentum * (max - _max));
    }

    private protected override (Tensor Min, Tensor Max) Compute(RangeError error) => (_min!.clone(), _max!.clone());

    private protected override void Release()
    {
        _min?.Dispose();
        _max?.Dispose();
    }
}

/// <summary>
/// Base of observers that need the values themselves: keeps a deterministic subsample of at most
/// a fixed number of columns per group (every s-th column of each batch, starting at batch mod s;
/// when full, every second kept column is dropped and s doubles, so all batches stay equally
/// represented), plus the exact running minimum and maximum.
/// </summary>
public abstract class SamplingObserver : Observer
{
    private readonly long _sampleLimit;
    private readonly List<(Tensor Values, Tensor? Mask)> _samples = [];
    private long _stored;
    private long _stride = 1;
    private Tensor? _min, _max;

    private protected SamplingObserver(long sampleLimit)
    {
        if (sampleLimit < 1) throw new ArgumentOutOfRangeException(nameof(sampleLimit), sampleLimit, "at least 1");
        _sampleLimit = sampleLimit;
    }

    private long ColumnsPerGroup => Math.Max(1024, _sampleLimit / Math.Max(1, Groups));

    private protected override void Accumulate(Tensor values, Tensor? mask, int batch)
    {
        var (min, max) = BatchRange(values, mask);
        Keep(ref _min, _min is null ? min : minimum(_min, min));
        Keep(ref _max, _max is null ? max : maximum(_max, max));

        long n = values.shape[1];
        long stride = Math.Max(_stride, (n + ColumnsPerGroup - 1) / ColumnsPerGroup);
        _stride = stride;
        var columns = arange(batch % stride, n, stride);
        if (columns.shape[0] == 0) columns = arange(0, 1);
        _samples.Add((values.index_select(1, columns).DetachFromDisposeScope(), mask?.index_select(1, columns).DetachFromDisposeScope()));
        _stored += columns.shape[0];
        while (_stored > ColumnsPerGroup)
        {
            var (all, allMask) = Concatenated();
            var every2 = arange(0, all.shape[1], 2);
            Clear();
            _samples.Add((all.index_select(1, every2).DetachFromDisposeScope(), allMask?.index_select(1, every2).DetachFromDisposeScope()));
            _stored = every2.shape[0];
            _stride *= 2;
        }
    }

    /// <summary>The kept samples, (groups, m), and their mask (null when nothing was masked).</summary>
    private protected (Tensor Values, Tensor? Mask) Concatenated()
    {
        var values = cat(_samples.Select(s => s.Values).ToArray(), 1);
        if (_samples.All(s => s.Mask is null)) return (values, null);
        var masks = _samples.Select(s => s.Mask ?? ones_like(s.Values, dtype: ScalarType.Bool)).ToArray();
        return (values, cat(masks, 1));
    }

    /// <summary>The exact running minimum and maximum per group.</summary>
    private protected (Tensor Min, Tensor Max) ExactRange => (_min!, _max!);

    private void Clear()
    {
        foreach (var (v, m) in _samples) { v.Dispose(); m?.Dispose(); }
        _samples.Clear();
    }

    private protected override void Release()
    {
        Clear();
        _min?.Dispose();
        _max?.Dispose();
    }
}

/// <summary>Percentile range over the subsample: the p-th percentile as max, the (100 − p)-th as min.</summary>
public sealed class PercentileObserver(double percent, long sampleLimit) : SamplingObserver(sampleLimit)
{
    private protected override (Tensor Min, Tensor Max) Compute(RangeError error)
    {
        // The sort's copies of every sample die here; only the two quantiles per group leave.
        using var scope = NewDisposeScope();
        var (values, mask) = Concatenated();
        // Masked entries sort last as +inf; only the first `count` sorted entries of a group are real.
        var sorted = (mask is null ? values : values.masked_fill(mask.logical_not(), double.PositiveInfinity)).sort(1).Values;
        var count = mask is null ? full(values.shape[0], values.shape[1], ScalarType.Int64) : mask.sum(1, type: ScalarType.Int64);
        return (Quantile(sorted, count, 1 - percent / 100).MoveToOuterDisposeScope(), Quantile(sorted, count, percent / 100).MoveToOuterDisposeScope());
    }

    /// <summary>Linear interpolation between the order statistics at q·(count − 1), per group.</summary>
    private static Tensor Quantile(Tensor sorted, Tensor count, double q)
    {
        var position = (count - 1).to_type(ScalarType.Float64) * q;
        var below = position.floor().to_type(ScalarType.Int64);
        var above = minimum(below + 1, count - 1);
        var fraction = (position - below.to_type(ScalarType.Float64)).to_type(ScalarType.Float32);
        var low = sorted.gather(1, below.unsqueeze(1)).squeeze(1);
        var high = sorted.gather(1, above.unsqueeze(1)).squeeze(1);
        return low + fraction * (high - low);
    }
}

/// <summary>The candidate clipping range r·[min, max], r = i/C, with the least squared error per group (ties keep the wider range).</summary>
public sealed class MseObserver(int candidates, long sampleLimit) : SamplingObserver(sampleLimit)
{
    private protected override (Tensor Min, Tensor Max) Compute(RangeError error)
    {
        using var scope = NewDisposeScope();
        var (values, mask) = Concatenated();
        var (min, max) = ExactRange;
        Tensor? best = null, bestMin = null, bestMax = null;
        for (int i = candidates; i >= 1; i--)
        {
            // Each candidate quantizes every sample (up to 2^21 per group): in one scope, 100 candidates'
            // temporaries took gigabytes per layer. Only the running best (one value per group) leaves it.
            using var candidate = NewDisposeScope();
            double r = (double)i / candidates;
            var lo = min * r; var hi = max * r;
            var e = error(values, mask, lo, hi);
            if (best is not null)
            {
                var better = e < best;
                (e, lo, hi) = (where(better, e, best), where(better, lo, bestMin!), where(better, hi, bestMax!));
                best.Dispose(); bestMin!.Dispose(); bestMax!.Dispose();
            }
            (best, bestMin, bestMax) = (e.MoveToOuterDisposeScope(), lo.MoveToOuterDisposeScope(), hi.MoveToOuterDisposeScope());
        }
        return (bestMin!.MoveToOuterDisposeScope(), bestMax!.MoveToOuterDisposeScope());
    }
}
