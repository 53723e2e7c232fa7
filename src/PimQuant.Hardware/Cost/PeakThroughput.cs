using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Cost;

/// <summary>
/// A chip's peak figures as ISAAC defines them: every array of every tile busy with a layer that
/// fills it (all rows, as many whole weights as its bitlines hold), ops = 2 · MACs, over the chip's
/// peak power and area.
/// </summary>
/// <param name="WeightBits">Signed weight bits assumed.</param>
/// <param name="ActivationBits">Activation bits assumed.</param>
/// <param name="OpsPerSecond">Peak operations per second of the whole chip.</param>
/// <param name="ChipPowerW">Peak power of the chip (<see cref="ComponentTotals.Chip"/>), W.</param>
/// <param name="ChipAreaMm2">Area of the chip, mm².</param>
public sealed record PeakThroughput(int WeightBits, int ActivationBits, double OpsPerSecond, double ChipPowerW, double ChipAreaMm2)
{
    /// <summary>Computational efficiency, GOPs/s per mm².</summary>
    public double GopsPerMm2 => OpsPerSecond / 1e9 / ChipAreaMm2;

    /// <summary>Power efficiency, GOPs/W.</summary>
    public double GopsPerWatt => OpsPerSecond / 1e9 / ChipPowerW;

    /// <summary>
    /// The peak of <paramref name="spec"/>: per array, one pass reads each OU once for one input digit,
    /// holding rows × L MACs (L = floor(cols / (slices · polarities)) whole weights; its used bitlines
    /// L · slices · polarities) and taking Σ over its OUs of <see cref="ReadTiming.Seconds"/> (divided by
    /// <see cref="ReadTiming.ConcurrentReads"/> where OUs overlap); an input
    /// takes T = ceil(activation bits / DAC bits) passes. Chip = tiles × imas_per_tile × arrays_per_ima arrays.
    /// </summary>
    public static PeakThroughput Of(HardwareSpec spec, int weightBits, int activationBits)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var o = ComponentTotals.Organisation(spec);
        int slices = (spec.Encoding.StoredBits(weightBits) + spec.Cell.Bits - 1) / spec.Cell.Bits;
        int digits = spec.Dac.Digits(activationBits);
        double ops = 0;
        foreach (var g in spec.Arrays)
        {
            int weights = g.Cols / (slices * spec.Encoding.Polarities);
            int used = weights * slices * spec.Encoding.Polarities;
            int reference = spec.Encoding.ReferenceColumn ? 1 : 0;
            double pass = 0;
            for (int c = 0; c < used; c += g.OuCols)
                pass += ReadTiming.Seconds(o, Math.Min(g.OuCols, used - c) + reference);
            pass *= g.OuRowGroups;
            pass /= ReadTiming.ConcurrentReads(o, Math.Min(g.OuCols, used) + reference, (used + g.OuCols - 1) / g.OuCols);
            if (pass == 0) continue;
            long arrays = (long)(g.Tiles ?? 0) * o.ImasPerTile * o.ArraysPerIma;
            ops += arrays * 2.0 * g.Rows * weights / (digits * pass);
        }
        var chip = ComponentTotals.Chip(spec);
        return new PeakThroughput(weightBits, activationBits, ops, chip.PowerMw / 1e3, chip.AreaMm2);
    }
}
