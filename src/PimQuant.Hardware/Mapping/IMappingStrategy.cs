using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Mapping;

/// <summary>What to map: a layer onto a spec's array geometry at a weight precision.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Spec">The hardware.</param>
/// <param name="WeightBits">Signed weight bits bw (sign included).</param>
/// <param name="ArrayName">Geometry of the pool to use; null for the spec's default (the first).</param>
/// <param name="Weights">The integer weights, for data-aware strategies (the precision-aware mapping derives each block's precision
/// from them and checks they fit a given one); dense tiling ignores them.</param>
/// <param name="Precision">Bits per OU-sized weight block (BWQ), for the precision-aware mapping; dense tiling ignores it.</param>
/// <param name="WholeOuRowTiles">Dense tiling cuts row tiles of whole OU row groups (floor(rows/ou_rows)·ou_rows wordlines), so
/// OU row groups are the ou_rows-row blocks of the lowered matrix from row 0, as weight scales per OU block need (each
/// OU read takes one scale on the digital side); the precision-aware mapping always does.</param>
public sealed record MappingRequest(LayerShape Layer, HardwareSpec Spec, int WeightBits, string? ArrayName = null, LoweredWeights? Weights = null,
    BlockPrecision? Precision = null, bool WholeOuRowTiles = false);

/// <summary>
/// Places a lowered layer's weight bits on crossbar arrays and OUs: <see cref="DenseTiling"/> and BWQ's
/// <see cref="PrecisionAwareMapping"/> (per-block bit counts, all-zero blocks never mapped). What the
/// result can carry is wider than these two use: every physical column says which power of two its levels
/// stand for (<see cref="CellColumn.Bit"/>, so IVQ's magnitude-aligned columns of non-integer formats need no
/// new type) and every array its own geometry (<see cref="MappedArray.Geometry"/>, for placement over a
/// heterogeneous pool as RaQu's); blocks that are never read are simply absent.
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
        MappingNames.PrecisionAware => PrecisionAwareMapping.Instance,
        MappingNames.MagnitudeAligned => throw HardwareSpecException.Invalid(origin, "mapping", name,
            $"this strategy arrives with its method (IVQ); ask for '{MappingNames.Dense}' explicitly meanwhile"),
        _ => throw HardwareSpecException.Invalid(origin, "mapping", name, "must be one of " + string.Join(", ", MappingNames.All)),
    };

    /// <summary>The strategy the spec names.</summary>
    public static IMappingStrategy For(HardwareSpec spec) => Get(spec.Mapping, spec.Origin);
}
