using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Spec;
using PimQuant.Sim;

namespace PimQuant.Accelerator;

/// <summary>The cost of a simulated run, or why the spec cannot be priced.</summary>
/// <param name="Report">Energy, latency, area and figures of merit per image; null when unavailable.</param>
/// <param name="Unavailable">Why there is no report (e.g. the spec has no component table).</param>
public sealed record SimulationCost(CostReport? Report, string? Unavailable);

/// <summary>
/// Prices what the simulator counted (docs/hardware.md §0): per layer, the crossbar events of one image —
/// OU reads, cell reads, DAC drives, ADC conversions, shift-adds, digit sums, precision-table reads, a digit policy's
/// selections and the busiest array's reads,
/// each the mean over the images run (exact for counts that do not depend on the data) — and the
/// data-independent buffer and router traffic of the mapping, through the spec's <see cref="CostModel"/>. Each layer is
/// priced on the mapping it was programmed with (<see cref="CrossbarLayer.Mapping"/>).
/// </summary>
public static class CrossbarCost
{
    /// <summary>Costs one image of the events <paramref name="model"/> has counted since its last reset.</summary>
    public static SimulationCost Evaluate(CrossbarModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Images == 0) throw new InvalidOperationException("no image has been simulated since the events were reset");
        CostModel cost;
        try { cost = new CostModel(model.Spec); }
        catch (HardwareSpecException e) { return new SimulationCost(null, e.Message); }

        var work = new List<LayerWork>(model.Layers.Count);
        foreach (var layer in model.Layers)
            work.Add(new LayerWork(layer.Mapping, PerImage(layer.Events, model.Images, layer.Mapping, layer.Config.ActivationBits)));
        return new SimulationCost(cost.Evaluate(work), null);
    }

    /// <summary>One image's counts: the simulator's crossbar events averaged over <paramref name="images"/>,
    /// with the mapping's buffer and router traffic.</summary>
    public static EventCounts PerImage(EventCounts events, long images, LayerMapping mapping, int activationBits)
    {
        var dense = DenseEventCounts.Compute(mapping, activationBits);
        long Mean(long total) => (long)Math.Round((double)total / images, MidpointRounding.ToEven);
        return dense with
        {
            OuReads = Mean(events.OuReads),
            CellReads = Mean(events.CellReads),
            DacDrives = Mean(events.DacDrives),
            AdcConversions = Mean(events.AdcConversions),
            ShiftAdds = Mean(events.ShiftAdds),
            DigitSums = Mean(events.DigitSums),
            CriticalPathOuReads = Mean(events.CriticalPathOuReads),
            ZeroInputReads = Mean(events.ZeroInputReads),
            NonzeroDacDrives = Mean(events.NonzeroDacDrives),
            DigitSkippedReads = Mean(events.DigitSkippedReads),
            OuSkippedReads = Mean(events.OuSkippedReads),
            IndexReadBits = Mean(events.IndexReadBits),
            DigitSelections = Mean(events.DigitSelections),
        };
    }
}
