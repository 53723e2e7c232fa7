using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Mapping;

/// <summary>What to map: a layer onto a spec's array geometry at a weight precision.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Spec">The hardware.</param>
/// <param name="WeightBits">Signed weight bits bw (sign included).</param>
/// <param name="ArrayName">Geometry of the pool to use; null for the spec's default (the first).</param>
/// <param name="Weights">The integer weights, for data-aware strategies (skipping all-zero OUs); dense tiling ignores them.</param>
public sealed record MappingRequest(LayerShape Layer, HardwareSpec Spec, int WeightBits, string? ArrayName = null, LoweredWeights? Weights = null);

/// <summary>
/// Places a lowered layer's weight bits on crossbar arrays and OUs. The extension point for
/// BWQ's precision-aware mapping (per-block bit counts, all-zero blocks skipped) and IVQ's
/// magnitude-aligned mapping: they return a <see cref="LayerMapping"/> whose OU blocks carry
/// their own <see cref="CellColumn.Bit"/>/<see cref="CellColumn.Bits"/> and omit skipped OUs.
/// </summary>
public interface IMappingStrategy
{
    /// <summary>The name a spec's <c>mapping:</c> field uses.</summary>
    string Name { get; }

    /// <summary>Maps one layer.</summary>
    LayerMapping Map(MappingRequest request);
}

/// <summary>The strategies by name.</summary>
public static class MappingStrategies
{
    /// <summary>The strategy called <paramref name="name"/>; a valid spec name whose strategy is not implemented yet is reported, never replaced silently.</summary>
    public static IMappingStrategy Get(string name, string origin = "mapping") => name switch
    {
        MappingNames.Dense => DenseTiling.Instance,
        MappingNames.PrecisionAware or MappingNames.MagnitudeAligned => throw HardwareSpecException.Invalid(origin, "mapping", name,
            $"this strategy arrives with its method ({(name == MappingNames.PrecisionAware ? "BWQ" : "IVQ")}); ask for '{MappingNames.Dense}' explicitly meanwhile"),
        _ => throw HardwareSpecException.Invalid(origin, "mapping", name, "must be one of " + string.Join(", ", MappingNames.All)),
    };

    /// <summary>The strategy the spec names.</summary>
    public static IMappingStrategy For(HardwareSpec spec) => Get(spec.Mapping, spec.Origin);
}
