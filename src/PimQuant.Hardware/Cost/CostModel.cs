using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Cost;

/// <summary>One layer's input to the cost model: its mapping and its counted events for one image.</summary>
/// <param name="Mapping">Where the layer lives.</param>
/// <param name="Counts">Its events (from <see cref="DenseEventCounts"/> or the simulator).</param>
/// <param name="AdcBits">The ADC resolution the layer's conversions are priced at; null for the spec's <c>adc.bits</c> (CIMQ lowers it per layer).</param>
public sealed record LayerWork(LayerMapping Mapping, EventCounts Counts, int? AdcBits = null);

/// <summary>
/// Energy, latency, area and the derived figures of merit from event counts (docs/hardware.md §0
/// §7; exact definitions in docs/hardware.md):
/// <list type="bullet">
/// <item>Latency of a layer on one copy of its weights = critical-path OU reads × the time of one of its
/// busiest array's reads (<see cref="ReadTiming"/>). Pipeline <c>layer</c> with replication <c>balanced</c>:
/// earlier layers get copies (<see cref="PipelineBalance"/>), a layer's latency is its share of pixels;
/// one image per period = the longest layer latency (the bottleneck layer); <c>none</c>: period = sum of
/// latencies. Image latency is the sum either way. FPS = 1 / period.</item>
/// <item>Allocation: a layer gets ceil(arrays · copies / arrays_per_ima) IMAs of its own; layers share
/// tiles, so tile-level parts are charged pro rata (IMAs / imas_per_tile) per layer.</item>
/// <item>Energy = Σ events × per-event energy (<see cref="EnergyTable"/>) + leakage of the layer's
/// IMAs and tile share × period (chip-level leakage in the total only).</item>
/// <item>Area of a layer = its IMAs and tile share; the total is whole tiles used. A precision-aware layer's per-block
/// precision table is reported as storage bits (<see cref="LayerCost.IndexBits"/>) and its reads priced as
/// <c>index_read</c>; its area is not modelled (no spec gives a storage density).</item>
/// <item>Operations = 2 · MACs; TOPS/W = ops / energy; TOPS = ops / period (a layer: ops /
/// its latency); TOPS/mm² = TOPS / area.</item>
/// </list>
/// Pure: the same inputs always give the same report.
/// </summary>
public sealed class CostModel
{
    /// <summary>Prepares the model; refuses a spec without organisation or component table.</summary>
    public CostModel(HardwareSpec spec)
    {
        Spec = spec;
        Organisation = ComponentTotals.Organisation(spec);
        Energy = EnergyTable.From(spec);
    }

    /// <summary>The hardware.</summary>
    public HardwareSpec Spec { get; }

    /// <summary>Its organisation.</summary>
    public OrganisationSpec Organisation { get; }

    /// <summary>Its per-event energies.</summary>
    public EnergyTable Energy { get; }

    /// <summary>Costs one image through <paramref name="layers"/> (in execution order).</summary>
    public CostReport Evaluate(IReadOnlyList<LayerWork> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var stages = layers.Select(l => new Stage(l.Counts.CriticalPathOuReads * ReadTiming.CriticalReadSeconds(l.Mapping),
            l.Mapping.Arrays.Count, l.Mapping.Layer.OutputPixels, l.Mapping.Geometry.Name)).ToArray();
        var replication = PipelineBalance.Replicate(Spec, stages);
        var latencies = stages.Select((s, i) => PipelineBalance.Seconds(s, replication[i])).ToArray();
        double latency = latencies.Sum();
        double period = Organisation.Pipeline == PipelineMode.Layer ? (latencies.Length == 0 ? 0 : latencies.Max()) : latency;
        int bottleneck = latencies.Length == 0 ? -1 : Array.IndexOf(latencies, latencies.Max());
        var tileLevel = ComponentTotals.TileLevel(Spec);

        var result = new List<LayerCost>(layers.Count);
        var imasByGeometry = new Dictionary<string, int>();
        for (int i = 0; i < layers.Count; i++)
        {
            var (mapping, counts) = (layers[i].Mapping, layers[i].Counts);
            if (!ReferenceEquals(mapping.Spec, Spec) && mapping.Spec.Origin != Spec.Origin)
                throw new ArgumentException($"layer '{mapping.Layer.Name}' is mapped on {mapping.Spec.Origin}, not {Spec.Origin}");
            if (mapping.Table is not null && Energy.Unpriced.Contains(EventKind.IndexRead))
                throw HardwareSpecException.Missing(Spec.Origin, "components[].events",
                    $"layer '{mapping.Layer.Name}' is mapped with a per-block precision table ({mapping.Strategy}); a component must price 'index_read' (energy_pj per bits read)");
            int adcBits = layers[i].AdcBits ?? Spec.Adc.Bits;
            var byComponent = new Dictionary<string, double>();
            double dynamicPj = Energy.Charge(counts, adcBits, byComponent);

            int imas = PipelineBalance.Imas(Organisation, mapping.Arrays.Count, replication[i]);
            imasByGeometry[mapping.Geometry.Name] = imasByGeometry.GetValueOrDefault(mapping.Geometry.Name) + imas;
            double tileShare = (double)imas / Organisation.ImasPerTile;
            var ima = ComponentTotals.Ima(Spec, mapping.Geometry);
            double staticPj = 0;
            foreach (var c in Spec.Components)
            {
                if (c.LeakageMw == 0 || c.Level == ComponentLevel.Chip) continue;
                double units = c.Level == ComponentLevel.Ima ? imas : tileShare;
                double pj = units * ComponentTotals.Row(Spec, c, mapping.Geometry).LeakageMw / c.SharedBy * 1e-3 * period * 1e12;
                byComponent[c.Name] = byComponent.GetValueOrDefault(c.Name) + pj;
                staticPj += pj;
            }
            double area = imas * ima.AreaMm2 + tileShare * tileLevel.AreaMm2;
            result.Add(new LayerCost(mapping.Layer.Name, mapping.Geometry.Name, counts, adcBits, mapping.Arrays.Count, replication[i], imas,
                mapping.ProgrammedCells, mapping.AllocatedCells, mapping.IndexBits, latencies[i], dynamicPj * 1e-12, staticPj * 1e-12,
                ToJoules(byComponent), area));
        }

        // Totals: whole tiles per geometry, chip-level leakage over the period.
        int tilesUsed = 0;
        bool fits = true;
        double tilesArea = 0;
        foreach (var g in Spec.Arrays)
        {
            int tiles = (imasByGeometry.GetValueOrDefault(g.Name) + Organisation.ImasPerTile - 1) / Organisation.ImasPerTile;
            tilesUsed += tiles;
            fits &= tiles <= (g.Tiles ?? 0);
            tilesArea += tiles * ComponentTotals.Tile(Spec, g).AreaMm2;
        }
        var totalByComponent = new Dictionary<string, double>();
        foreach (var l in result)
            foreach (var (name, j) in l.EnergyByComponentJ)
                totalByComponent[name] = totalByComponent.GetValueOrDefault(name) + j;
        double chipStaticJ = 0;
        foreach (var c in Spec.Components.Where(c => c.Level == ComponentLevel.Chip && c.LeakageMw > 0))
        {
            double j = c.LeakageMw / c.SharedBy * 1e-3 * period;
            totalByComponent[c.Name] = totalByComponent.GetValueOrDefault(c.Name) + j;
            chipStaticJ += j;
        }
        var total = new CostTotal(
            result.Aggregate(EventCounts.Zero, (sum, l) => sum + l.Counts),
            result.Sum(l => l.Arrays), result.Sum(l => l.Imas), tilesUsed, fits,
            result.Sum(l => l.ProgrammedCells), result.Sum(l => l.AllocatedCells), result.Sum(l => l.IndexBits),
            latency, period, bottleneck < 0 ? null : result[bottleneck].Name,
            result.Sum(l => l.DynamicEnergyJ), result.Sum(l => l.StaticEnergyJ) + chipStaticJ,
            Order(totalByComponent), tilesArea, ComponentTotals.Chip(Spec).AreaMm2);
        return new CostReport(Spec.Name, Organisation.Pipeline, result, total);
    }

    private IReadOnlyDictionary<string, double> ToJoules(Dictionary<string, double> pj) =>
        Order(pj.ToDictionary(kv => kv.Key, kv => kv.Value * 1e-12));

    /// <summary>The components in the spec's order.</summary>
    private IReadOnlyDictionary<string, double> Order(Dictionary<string, double> byName)
    {
        var ordered = new Dictionary<string, double>();
        foreach (var c in Spec.Components)
            if (byName.TryGetValue(c.Name, out double v)) ordered[c.Name] = v;
        return ordered;
    }
}
