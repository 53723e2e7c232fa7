using System.Globalization;
using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Cost;

/// <summary>One component's price for one event.</summary>
/// <param name="Component">Component name.</param>
/// <param name="ComponentIndex">Its position in the spec's component list (names it in errors).</param>
/// <param name="Event">The event and its energy.</param>
public sealed record PricedEvent(string Component, int ComponentIndex, ComponentEvent Event);

/// <summary>
/// Per-event energies built from a spec's component table (Accelergy style: energy = action
/// counts × per-action energy). A bit event (buffer, router) priced at E pJ per B bits costs
/// bits / B · E (fractional accesses count pro rata). An ADC conversion priced by resolution
/// (<c>energy_pj_by_bits</c>) costs <see cref="AdcEnergyLaw"/> at the layer's ADC bits, so any
/// resolution from 1 to 16 bits is priced; one priced by <c>energy_pj</c> (a sample-and-hold)
/// costs the same at every resolution.
/// </summary>
public sealed class EnergyTable
{
    /// <summary>Events the cost model cannot do without: a spec must price each.</summary>
    public static IReadOnlyList<EventKind> Required { get; } =
        [EventKind.CellRead, EventKind.DacDrive, EventKind.AdcConversion, EventKind.ShiftAdd];

    private EnergyTable(HardwareSpec spec, IReadOnlyList<PricedEvent> entries)
    {
        Spec = spec;
        Entries = entries;
        Unpriced = System.Enum.GetValues<EventKind>().Where(e => entries.All(x => x.Event.Event != e)).ToArray();
    }

    /// <summary>The spec it was built from.</summary>
    public HardwareSpec Spec { get; }

    /// <summary>Every (component, event, energy), in the spec's order.</summary>
    public IReadOnlyList<PricedEvent> Entries { get; }

    /// <summary>Events no component prices: counted, but free (isaac: ou_read, whose cost is in its cell reads, drives and conversions).</summary>
    public IReadOnlyList<EventKind> Unpriced { get; }

    /// <summary>
    /// Builds the table; a spec without components, or without a price for a
    /// <see cref="Required"/> event, is refused with an error naming what is missing.
    /// </summary>
    public static EnergyTable From(HardwareSpec spec)
    {
        if (spec.Components.Count == 0)
            throw HardwareSpecException.Missing(spec.Origin, "components",
                "the cost model needs a component table (power, area, per-event energy); this spec gives none (see its source)");
        var entries = new List<PricedEvent>();
        for (int i = 0; i < spec.Components.Count; i++)
            foreach (var e in spec.Components[i].Events)
                entries.Add(new PricedEvent(spec.Components[i].Name, i, e));
        foreach (var required in Required)
            if (entries.All(e => e.Event.Event != required))
                throw HardwareSpecException.Missing(spec.Origin, "components[].events",
                    $"no component prices '{Snake(required)}'; the cost model needs a price for each of {string.Join(", ", Required.Select(Snake))}");
        if (entries.All(e => e.Event.EnergyPjByBits is null))
            throw HardwareSpecException.Missing(spec.Origin, "components[].events",
                "no component prices 'adc_conversion' by resolution (energy_pj_by_bits); the cost model needs it to price every ADC resolution");
        return new EnergyTable(spec, entries);
    }

    /// <summary>Energy in pJ of one event (one bit for bit events), summed over the components pricing it.</summary>
    public double PerEventPj(EventKind kind, int? adcBits = null) =>
        Entries.Where(e => e.Event.Event == kind).Sum(e => PricePj(e, adcBits ?? Spec.Adc.Bits) / e.Event.Bits);

    /// <summary>Adds the energy (pJ) of <paramref name="counts"/> per component to <paramref name="byComponent"/>; returns the total.</summary>
    public double Charge(EventCounts counts, int adcBits, IDictionary<string, double> byComponent)
    {
        double total = 0;
        foreach (var e in Entries)
        {
            long n = counts.Of(e.Event.Event);
            if (n == 0) continue;
            double pj = n * PricePj(e, adcBits) / e.Event.Bits;
            byComponent[e.Component] = byComponent.TryGetValue(e.Component, out double sum) ? sum + pj : pj;
            total += pj;
        }
        return total;
    }

    /// <summary>The energy of one priced event (per <see cref="ComponentEvent.Bits"/> bits).</summary>
    private double PricePj(PricedEvent e, int adcBits)
    {
        if (e.Event.EnergyPjByBits is { } byBits)
        {
            if (adcBits == 0)
                throw HardwareSpecException.Invalid(Spec.Origin, "adc.bits", "ideal",
                    "the cost model prices ADC conversions by resolution: give adc.bits, or the layer's ADC bits");
            if (adcBits is < AdcEnergyLaw.MinBits or > AdcEnergyLaw.MaxBits)
                throw HardwareSpecException.Invalid(Spec.Origin, "adc.bits", adcBits.ToString(CultureInfo.InvariantCulture),
                    $"the cost model prices ADC resolutions from {AdcEnergyLaw.MinBits} to {AdcEnergyLaw.MaxBits} bits");
            return AdcEnergyLaw.EnergyPj(byBits, adcBits);
        }
        return e.Event.EnergyPj!.Value;
    }

    /// <summary>The YAML name of an event (<c>adc_conversion</c>).</summary>
    public static string Snake(EventKind kind) => kind switch
    {
        EventKind.OuRead => "ou_read",
        EventKind.CellRead => "cell_read",
        EventKind.DacDrive => "dac_drive",
        EventKind.AdcConversion => "adc_conversion",
        EventKind.ShiftAdd => "shift_add",
        EventKind.DigitSum => "digit_sum",
        EventKind.BufferRead => "buffer_read",
        EventKind.BufferWrite => "buffer_write",
        EventKind.RouterTransfer => "router_transfer",
        EventKind.DigitSelection => "digit_selection",
        EventKind.IndexRead => "index_read",
        _ => kind.ToString(),
    };
}
