using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace PimQuant.Sim.Kernels;

/// <summary>The ADC of docs/hardware.md §0: code = clamp(⌊p/step + ½⌋, 0, 2^A − 1), rounding half up,
/// evaluated exactly (as with real numbers) for a partial sum p = P·2^−F held as an integer P.
/// A multiplication by the reciprocal gives an estimate within one code; two fused multiply-adds, whose
/// single rounding keeps the sign of (k ∓ ½)·step·2^F − P, then settle the exact code. Every
/// implementation of the rule therefore gives the same code, whatever its vector width.</summary>
internal readonly struct AdcQuantizer
{
    private readonly double _scaledStep; // step·2^F, exact (a power-of-two scaling)
    private readonly double _reciprocal;
    private readonly double _maxCode;

    public AdcQuantizer(double step, int fractionBits, int maxCode)
    {
        _scaledStep = Math.ScaleB(step, fractionBits);
        _reciprocal = 1.0 / _scaledStep;
        _maxCode = maxCode;
    }

    /// <summary>The code of one partial sum (|P| below 2^53).</summary>
    public long Code(long partialSum) => Code(partialSum, _scaledStep, _reciprocal, _maxCode);

    /// <summary>The code of one partial sum for a step given as step·2^F and (approximately) its inverse.</summary>
    public static long Code(long partialSum, double scaledStep, double reciprocal, double maxCode)
    {
        double p = partialSum;
        double est = Math.Floor(p * reciprocal + 0.5);
        est = Math.Min(Math.Max(est, 0.0), maxCode);
        // code ≥ k ⇔ P ≥ (k − ½)·step·2^F; the fused product-sum is rounded once, so its sign is exact.
        if (est > 0 && Math.FusedMultiplyAdd(est - 0.5, scaledStep, -p) > 0) est -= 1;
        else if (est < maxCode && Math.FusedMultiplyAdd(est + 0.5, scaledStep, -p) <= 0) est += 1;
        return (long)est;
    }

    /// <summary>Codes of eight partial sums given as exact doubles, each lane with its own step
    /// (<paramref name="scaledStep"/> = step·2^F, <paramref name="reciprocal"/> ≈ its inverse).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Code(Vector512<double> p, Vector512<double> scaledStep, Vector512<double> reciprocal, Vector512<double> max)
    {
        var half = Vector512.Create(0.5);
        var one = Vector512.Create(1.0);
        var est = Vector512.Floor(p * reciprocal + half);
        est = Vector512.Min(Vector512.Max(est, Vector512<double>.Zero), max);
        var tooHigh = Vector512.GreaterThan(Vector512.FusedMultiplyAdd(est - half, scaledStep, -p), Vector512<double>.Zero)
                      & Vector512.GreaterThan(est, Vector512<double>.Zero);
        est -= tooHigh & one;
        var tooLow = Vector512.LessThanOrEqual(Vector512.FusedMultiplyAdd(est + half, scaledStep, -p), Vector512<double>.Zero)
                     & Vector512.LessThan(est, max);
        return est + (tooLow & one);
    }
}
