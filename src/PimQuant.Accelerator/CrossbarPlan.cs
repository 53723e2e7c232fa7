using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Model;

namespace PimQuant.Accelerator;

/// <summary>
/// How one layer goes on crossbars: its integer widths, the array geometry of the spec's pool it is mapped on, the ADC
/// it is converted with, and how its rows are tiled. Its weight scales, precision map and integer codes come from the
/// layer's quantizers; the mapping strategy from the spec. Immutable; built by an <see cref="ICrossbarPlanner"/>.
/// </summary>
public sealed record CrossbarPlan
{
    /// <summary>Signed weight bits (sign included), 2..16.</summary>
    public required int WeightBits { get; init; }

    /// <summary>Activation bits, 1..8.</summary>
    public required int ActivationBits { get; init; }

    /// <summary>The geometry of the spec's array pool the layer is mapped on (its <c>name</c>); null for the spec's default (the first).</summary>
    public string? Array { get; init; }

    /// <summary>ADC bits for this layer (0 = ideal); null for the spec's.</summary>
    public int? AdcBits { get; init; }

    /// <summary>
    /// ADC steps given from outside (e.g. learned by CIMQ), one for the layer or one per array (row tile × column tile of each
    /// convolution group's crossbars, row-major), in levels; null for the spec's step mode (unit, full range, or calibrated
    /// on data by <see cref="CrossbarModel.CalibrateAdc"/>).
    /// </summary>
    public IReadOnlyList<double>? AdcSteps { get; init; }

    /// <summary>Row tiles hold whole OU row groups (floor(rows / ou_rows)·ou_rows wordlines), so OU row groups are the
    /// ou_rows-row blocks of the lowered matrix counted from row 0: what weight scales per OU block need.</summary>
    public bool WholeOuRowTiles { get; init; }
}

/// <summary>Chooses each layer's <see cref="CrossbarPlan"/>: the hook where a method decides per-layer widths, array
/// geometries (RaQu's heterogeneous pool) or ADC steps (CIMQ).</summary>
public interface ICrossbarPlanner
{
    /// <summary>The plan of <paramref name="layer"/> on <paramref name="spec"/>.</summary>
    /// <exception cref="SimulationException">The layer cannot go on this spec's crossbars, with the reason.</exception>
    CrossbarPlan Plan(QuantizedLayer layer, LayerShape shape, HardwareSpec spec);
}

/// <summary>
/// The default planner: each layer at its own quantizers' widths, on the spec's ADC with the spec's step mode, with whole-OU
/// row tiles where its weight scales change every OU row group (scale blocks whose rows are a multiple of ou_rows but not of
/// the array's rows). With one array geometry every layer takes it; with a heterogeneous pool each layer takes the geometry
/// on which its arrays take the least chip area (arrays × the area of an IMA of that geometry / arrays per IMA: small arrays
/// waste fewer cells but pay an IMA's ADCs and registers for fewer of them); a spec without a component table ranks by
/// utilisation (programmed / allocated cells) instead. Ties go to the higher utilisation, then to pool order.
/// </summary>
public sealed class DefaultPlanner : ICrossbarPlanner
{
    /// <summary>The one instance (stateless).</summary>
    public static DefaultPlanner Instance { get; } = new();

    /// <inheritdoc/>
    public CrossbarPlan Plan(QuantizedLayer layer, LayerShape shape, HardwareSpec spec)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(spec);
        var (weightBits, activationBits) = Widths(layer);
        var plans = spec.Arrays.Select(geometry => new CrossbarPlan
        {
            WeightBits = weightBits, ActivationBits = activationBits, Array = geometry.Name,
            WholeOuRowTiles = NeedsWholeOuRowTiles(layer.Weight!.Spec.Granularity, geometry),
        }).ToArray();
        if (plans.Length == 1) return plans[0];
        // A heterogeneous pool, ranked on a dense map of the layer's shape (the precision-aware mapping allocates at most as
        // much on every geometry).
        var area = ArrayArea(spec);
        return plans.Select((plan, i) => (plan, i, mapping: TryMap(shape, spec, plan)))
            .Where(c => c.mapping is not null)
            .OrderBy(c => area is null ? 0 : c.mapping!.Arrays.Count * area[c.mapping.Geometry.Name])
            .ThenByDescending(c => c.mapping!.Utilisation).ThenBy(c => c.i)
            .Select(c => c.plan).FirstOrDefault()
            ?? throw new SimulationException($"layer {layer.Name}: no array geometry of {spec.Name} holds one of its {weightBits}-bit weights");
    }

    /// <summary>The chip area one array of each geometry takes (its IMA's area over arrays per IMA), or null when the spec has no
    /// component table to price it.</summary>
    private static Dictionary<string, double>? ArrayArea(HardwareSpec spec)
    {
        if (spec.Organisation is not { } organisation || spec.ComponentBasis is null || spec.Components.Count == 0) return null;
        return spec.Arrays.ToDictionary(g => g.Name, g => ComponentTotals.Ima(spec, g).AreaMm2 / organisation.ArraysPerIma);
    }

    private static LayerMapping? TryMap(LayerShape shape, HardwareSpec spec, CrossbarPlan plan)
    {
        try { return DenseTiling.Instance.Map(new MappingRequest(shape, spec, plan.WeightBits, plan.Array, WholeOuRowTiles: plan.WholeOuRowTiles)); }
        catch (ArgumentException) { return null; }
    }

    /// <summary>Whether weight scale groups of this granularity need row tiles of whole OU row groups on <paramref name="geometry"/>: their
    /// rows are whole OU row groups but do not fill whole arrays, so a full-height tile would end inside a block.</summary>
    internal static bool NeedsWholeOuRowTiles(ScaleGranularity granularity, ArrayGeometry geometry) => granularity switch
    {
        ScaleGranularity.PerOuBlock b => b.Rows % geometry.OuRows == 0 && b.Rows % geometry.Rows != 0,
        ScaleGranularity.PerArray a => a.Rows % geometry.OuRows == 0 && a.Rows % geometry.Rows != 0,
        _ => false,
    };

    /// <summary>The layer's weight and activation bits, refusing what the crossbars cannot hold.</summary>
    internal static (int Weight, int Activation) Widths(QuantizedLayer layer)
    {
        if (layer.Weight?.Spec.Format is not IntegerFormat { Signed: true } w)
            throw new SimulationException($"layer {layer.Name}: the crossbars hold signed integer weights; configure the weight as a signed 'int' format");
        if (layer.Activation?.Spec.Format is not IntegerFormat a)
            throw new SimulationException($"layer {layer.Name}: the crossbars stream integer activations; configure the activation as an 'int' format");
        if (layer.Activation.IsDynamic || layer.Activation.Spec.Granularity is not ScaleGranularity.PerTensor)
            throw new SimulationException($"layer {layer.Name}: the simulator streams activations with one scale per tensor (dynamic groups come with ReDy)");
        return (w.Bits, a.Bits);
    }
}
