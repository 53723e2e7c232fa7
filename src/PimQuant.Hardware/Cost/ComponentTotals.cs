using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Cost;

/// <summary>Peak power, area and leakage of a group of components.</summary>
public readonly record struct PowerArea(double PowerMw, double AreaMm2, double LeakageMw)
{
    /// <summary>Sum.</summary>
    public static PowerArea operator +(PowerArea a, PowerArea b) => new(a.PowerMw + b.PowerMw, a.AreaMm2 + b.AreaMm2, a.LeakageMw + b.LeakageMw);

    /// <summary>Scaled.</summary>
    public static PowerArea operator *(double k, PowerArea a) => new(k * a.PowerMw, k * a.AreaMm2, k * a.LeakageMw);
}

/// <summary>
/// Area = component counts × component areas, and peak power with every component active:
/// sums of the component table by level, each IMA row scaled from the spec's
/// <see cref="ComponentBasis"/> to the IMA it sits in (<see cref="Row"/>). A row shared by n
/// units counts 1/n per unit.
/// </summary>
public static class ComponentTotals
{
    /// <summary>
    /// One row as it stands in one unit of its level (for IMA rows: an IMA of <paramref name="geometry"/>
    /// arrays, the spec's organisation and ADC resolution), before sharing. An IMA row scales by its
    /// <see cref="ScaleBasis"/>: the IMA's cells (arrays_per_ima × rows × cols), wordlines
    /// (arrays_per_ima × rows), bitlines (arrays_per_ima × cols) or ADCs (adcs_per_ima) over the basis
    /// IMA's; the row pricing conversions by resolution also by E(adc.bits) / E(basis adc_bits)
    /// (<see cref="AdcEnergyLaw"/>) in power and area, and by the ADC rate over the basis rate in power.
    /// Leakage scales as power. Tile and chip rows are fixed.
    /// </summary>
    public static PowerArea Row(HardwareSpec spec, ComponentSpec component, ArrayGeometry? geometry = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(component);
        var row = new PowerArea(component.PowerMw, component.AreaMm2, component.LeakageMw);
        if (component.Level != ComponentLevel.Ima || component.ScalesWith == ScaleBasis.None) return row;
        var g = geometry ?? spec.DefaultArray;
        var o = Organisation(spec);
        var b = spec.ComponentBasis!;
        double k = component.ScalesWith switch
        {
            ScaleBasis.Cells => (double)o.ArraysPerIma * g.Cells / ((double)b.ArraysPerIma * b.Rows * b.Cols),
            ScaleBasis.Rows => (double)o.ArraysPerIma * g.Rows / ((double)b.ArraysPerIma * b.Rows),
            ScaleBasis.Cols => (double)o.ArraysPerIma * g.Cols / ((double)b.ArraysPerIma * b.Cols),
            _ => (double)o.AdcsPerIma / b.AdcsPerIma,
        };
        double power = k, area = k;
        if (component.ScalesWith == ScaleBasis.Adcs && component.Events.FirstOrDefault(e => e.EnergyPjByBits is not null)?.EnergyPjByBits is { } byBits)
        {
            int bits = spec.Adc.IsIdeal ? b.AdcBits : spec.Adc.Bits;
            double resolution = AdcEnergyLaw.EnergyPj(byBits, bits) / AdcEnergyLaw.EnergyPj(byBits, b.AdcBits);
            area *= resolution;
            power *= resolution * o.AdcRateGsps / b.AdcRateGsps;
        }
        return new PowerArea(power * row.PowerMw, area * row.AreaMm2, power * row.LeakageMw);
    }

    /// <summary>The components of one <paramref name="level"/> unit (for IMAs: holding <paramref name="geometry"/> arrays).</summary>
    public static PowerArea Of(HardwareSpec spec, ComponentLevel level, ArrayGeometry? geometry = null)
    {
        var total = new PowerArea();
        foreach (var c in spec.Components)
            if (c.Level == level) total += 1 / c.SharedBy * Row(spec, c, geometry);
        return total;
    }

    /// <summary>One IMA of <paramref name="geometry"/> arrays.</summary>
    public static PowerArea Ima(HardwareSpec spec, ArrayGeometry? geometry = null) => Of(spec, ComponentLevel.Ima, geometry);

    /// <summary>The tile-level components of one tile (router share included), without its IMAs.</summary>
    public static PowerArea TileLevel(HardwareSpec spec) => Of(spec, ComponentLevel.Tile);

    /// <summary>One whole tile: tile-level parts + imas_per_tile IMAs of <paramref name="geometry"/>.</summary>
    public static PowerArea Tile(HardwareSpec spec, ArrayGeometry? geometry = null) =>
        TileLevel(spec) + (double)Organisation(spec).ImasPerTile * Ima(spec, geometry);

    /// <summary>The whole chip: every geometry's tiles plus chip-level components.</summary>
    public static PowerArea Chip(HardwareSpec spec)
    {
        var total = Of(spec, ComponentLevel.Chip);
        foreach (var g in spec.Arrays) total += (double)(g.Tiles ?? 0) * Tile(spec, g);
        return total;
    }

    internal static OrganisationSpec Organisation(HardwareSpec spec) =>
        spec.Organisation ?? throw HardwareSpecException.Missing(spec.Origin, "organisation",
            "the cost model needs the organisation (imas_per_tile, arrays_per_ima, adcs_per_ima, adc_rate_gsps, settle_ns); this spec gives none (see its source)");
}
