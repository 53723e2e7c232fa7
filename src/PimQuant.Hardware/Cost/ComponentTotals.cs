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
/// sums of the component table by level. A row shared by n units counts 1/n per unit; an IMA of
/// another geometry than the pool's first scales rows by their <see cref="ScaleBasis"/>.
/// </summary>
public static class ComponentTotals
{
    /// <summary>The components of one <paramref name="level"/> unit (for IMAs: holding <paramref name="geometry"/> arrays).</summary>
    public static PowerArea Of(HardwareSpec spec, ComponentLevel level, ArrayGeometry? geometry = null)
    {
        var g = geometry ?? spec.DefaultArray;
        var total = new PowerArea();
        foreach (var c in spec.Components)
        {
            if (c.Level != level) continue;
            double k = (level == ComponentLevel.Ima ? c.Scale(g, spec.DefaultArray) : 1.0) / c.SharedBy;
            total += k * new PowerArea(c.PowerMw, c.AreaMm2, c.LeakageMw);
        }
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
            "the cost model needs the organisation (imas_per_tile, arrays_per_ima, adcs_per_ima, read_cycle_ns); this spec gives none (see its source)");
}
