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

    /// <summary>
    /// Reads one array performs at once: 1, or with <see cref="OrganisationSpec.OuOverlap"/> as many OUs of
    /// different column groups (different bitlines, so different ADCs) as its ADCs convert together,
    /// floor(ADCs per array / <paramref name="conversions"/>), at most <paramref name="columnGroups"/>.
    /// </summary>
    public static int ConcurrentReads(OrganisationSpec organisation, int conversions, int columnGroups)
    {
        ArgumentNullException.ThrowIfNull(organisation);
        if (!organisation.OuOverlap || conversions <= 0) return 1;
        return Math.Clamp((int)Math.Floor(organisation.AdcsPerArray / conversions + 1e-9), 1, Math.Max(1, columnGroups));
    }

    /// <summary>Bitlines one read of <paramref name="block"/> converts: its columns, plus the reference column when the spec has one.</summary>
    public static int Conversions(HardwareSpec spec, OuBlock block) => block.Cols + (spec.Encoding.ReferenceColumn ? 1 : 0);

    /// <summary>
    /// Mean seconds per read of the layer's busiest array (the one with the most OU blocks, which
    /// the critical-path count follows; of those, the slowest): its blocks' read times summed, divided
    /// by the reads it performs at once (<see cref="ConcurrentReads"/>), over its block count.
    /// Latency = critical-path OU reads × this, exact for dense reads.
    /// </summary>
    public static double CriticalReadSeconds(LayerMapping mapping)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        var organisation = ComponentTotals.Organisation(mapping.Spec);
        int blocks = 0;
        double seconds = 0;
        foreach (var array in mapping.Arrays)
        {
            if (array.Blocks.Count == 0) continue;
            int widest = array.Blocks.Max(b => Conversions(mapping.Spec, b));
            int concurrent = ConcurrentReads(organisation, widest, array.Blocks.Select(b => b.OuCol).Distinct().Count());
            double s = array.Blocks.Sum(b => Seconds(organisation, Conversions(mapping.Spec, b))) / concurrent;
            if (array.Blocks.Count > blocks || (array.Blocks.Count == blocks && s > seconds)) (blocks, seconds) = (array.Blocks.Count, s);
        }
        return blocks == 0 ? 0 : seconds / blocks;
    }
}
