using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Cost;

/// <summary>
/// How long reads take (docs/hardware.md §0): one read (an OU, or a whole array) takes
/// max(settle_ns, ceil(conversions / ADCs of its array) / ADC rate): its bitlines settle, are
/// sampled, and the array's ADCs convert them in turn. ISAAC: 128 bitlines, one ADC per array at
/// 1.28 GS/s → 100 ns; a 9 × 8 OU → 8 conversions → 6.25 ns. An array's OUs are read one after
/// another (they share its ADCs); arrays read in parallel.
/// </summary>
public static class ReadTiming
{
    /// <summary>Seconds of one read converting <paramref name="conversions"/> bitlines.</summary>
    public static double Seconds(OrganisationSpec organisation, int conversions)
    {
        ArgumentNullException.ThrowIfNull(organisation);
        ArgumentOutOfRangeException.ThrowIfNegative(conversions);
        // Fewer ADCs than arrays (adcs_per_array < 1): arrays take turns, so each conversion takes 1 / adcs_per_array slots.
        double slots = Math.Ceiling(conversions / organisation.AdcsPerArray - 1e-9);
        return Math.Max(organisation.SettleNs * 1e-9, slots / (organisation.AdcRateGsps * 1e9));
    }

    /// <summary>Bitlines one read of <paramref name="block"/> converts: its columns, plus the reference column when the spec has one.</summary>
    public static int Conversions(HardwareSpec spec, OuBlock block) => block.Cols + (spec.Encoding.ReferenceColumn ? 1 : 0);

    /// <summary>
    /// Mean seconds per read of the layer's busiest array (the one with the most OU blocks, which
    /// the critical-path count follows; of those, the slowest): its blocks' read times summed over
    /// its block count. Latency = critical-path OU reads × this, exact for dense reads.
    /// </summary>
    public static double CriticalReadSeconds(LayerMapping mapping)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        var organisation = ComponentTotals.Organisation(mapping.Spec);
        int blocks = 0;
        double seconds = 0;
        foreach (var array in mapping.Arrays)
        {
            double s = array.Blocks.Sum(b => Seconds(organisation, Conversions(mapping.Spec, b)));
            if (array.Blocks.Count > blocks || (array.Blocks.Count == blocks && s > seconds)) (blocks, seconds) = (array.Blocks.Count, s);
        }
        return blocks == 0 ? 0 : seconds / blocks;
    }
}
