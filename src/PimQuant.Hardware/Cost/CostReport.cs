using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Cost;

/// <summary>The cost of one image: per layer and total.</summary>
/// <param name="Spec">Name of the hardware.</param>
/// <param name="Pipeline">The pipeline the period assumes.</param>
/// <param name="Layers">Per layer, in execution order.</param>
/// <param name="Total">Whole network.</param>
public sealed record CostReport(string Spec, PipelineMode Pipeline, IReadOnlyList<LayerCost> Layers, CostTotal Total);

/// <summary>One layer's cost for one image.</summary>
/// <param name="Name">Layer name.</param>
/// <param name="Geometry">Array geometry used.</param>
/// <param name="Counts">Its events.</param>
/// <param name="AdcBits">ADC resolution its conversions were priced at.</param>
/// <param name="Arrays">Arrays one copy of its weights takes.</param>
/// <param name="Replication">Copies of its weights (pipeline balancing; 1 without).</param>
/// <param name="Imas">IMAs allocated: ceil(arrays · copies / arrays_per_ima).</param>
/// <param name="ProgrammedCells">Cells holding a weight bit (one copy).</param>
/// <param name="AllocatedCells">Cells of its arrays (one copy).</param>
/// <param name="IndexBits">Bits of its per-block precision table (precision-aware mappings; one copy; 0 without a table).</param>
/// <param name="LatencySeconds">One image through the layer: critical-path OU reads × read time, over its copies.</param>
/// <param name="DynamicEnergyJ">Σ events × per-event energy.</param>
/// <param name="StaticEnergyJ">Leakage of its IMAs and tile share over the period.</param>
/// <param name="EnergyByComponentJ">Dynamic + static energy by component, in the spec's order.</param>
/// <param name="AreaMm2">Its IMAs plus its share of tile-level parts.</param>
public sealed record LayerCost(
    string Name, string Geometry, EventCounts Counts, int AdcBits, int Arrays, int Replication, int Imas,
    long ProgrammedCells, long AllocatedCells, long IndexBits, double LatencySeconds, double DynamicEnergyJ, double StaticEnergyJ,
    IReadOnlyDictionary<string, double> EnergyByComponentJ, double AreaMm2)
{
    /// <summary>Programmed / allocated cells.</summary>
    public double Utilisation => AllocatedCells == 0 ? 0 : (double)ProgrammedCells / AllocatedCells;

    /// <summary>Dynamic + static.</summary>
    public double EnergyJ => DynamicEnergyJ + StaticEnergyJ;

    /// <summary>Operations: 2 · MACs.</summary>
    public long Ops => 2 * Counts.Macs;

    /// <summary>Tera-operations per joule.</summary>
    public double TopsPerWatt => EnergyJ == 0 ? 0 : Ops / EnergyJ / 1e12;

    /// <summary>Tera-operations per second while the layer runs.</summary>
    public double Tops => LatencySeconds == 0 ? 0 : Ops / LatencySeconds / 1e12;

    /// <summary>Images per second the layer alone sustains: 1 / latency.</summary>
    public double Fps => LatencySeconds == 0 ? 0 : 1 / LatencySeconds;

    /// <summary>TOPS per mm² of its area.</summary>
    public double TopsPerMm2 => AreaMm2 == 0 ? 0 : Tops / AreaMm2;
}

/// <summary>The whole network's cost for one image.</summary>
/// <param name="Counts">Summed events.</param>
/// <param name="Arrays">Arrays allocated.</param>
/// <param name="Imas">IMAs allocated.</param>
/// <param name="TilesUsed">Whole tiles: per geometry ceil(IMAs / imas_per_tile), summed.</param>
/// <param name="Fits">True when no geometry needs more tiles than the chip has.</param>
/// <param name="ProgrammedCells">Cells holding a weight bit.</param>
/// <param name="AllocatedCells">Cells of all allocated arrays.</param>
/// <param name="IndexBits">Bits of the layers' per-block precision tables.</param>
/// <param name="LatencySeconds">One image through all layers (single-image latency): Σ layer latencies.</param>
/// <param name="PeriodSeconds">Time per image in steady state (longest layer with the layer pipeline).</param>
/// <param name="BottleneckLayer">The layer whose latency sets the period with the layer pipeline (the longest); null without layers.</param>
/// <param name="DynamicEnergyJ">Σ events × energies.</param>
/// <param name="StaticEnergyJ">Leakage over the period.</param>
/// <param name="EnergyByComponentJ">Energy by component, in the spec's order.</param>
/// <param name="AreaMm2">Area of the tiles used.</param>
/// <param name="ChipAreaMm2">Area of the whole chip the spec describes.</param>
public sealed record CostTotal(
    EventCounts Counts, int Arrays, int Imas, int TilesUsed, bool Fits, long ProgrammedCells, long AllocatedCells, long IndexBits,
    double LatencySeconds, double PeriodSeconds, string? BottleneckLayer, double DynamicEnergyJ, double StaticEnergyJ,
    IReadOnlyDictionary<string, double> EnergyByComponentJ, double AreaMm2, double ChipAreaMm2)
{
    /// <summary>Programmed / allocated cells.</summary>
    public double Utilisation => AllocatedCells == 0 ? 0 : (double)ProgrammedCells / AllocatedCells;

    /// <summary>Energy per image.</summary>
    public double EnergyJ => DynamicEnergyJ + StaticEnergyJ;

    /// <summary>Operations per image: 2 · MACs.</summary>
    public long Ops => 2 * Counts.Macs;

    /// <summary>Tera-operations per joule.</summary>
    public double TopsPerWatt => EnergyJ == 0 ? 0 : Ops / EnergyJ / 1e12;

    /// <summary>Tera-operations per second at one image per period.</summary>
    public double Tops => PeriodSeconds == 0 ? 0 : Ops / PeriodSeconds / 1e12;

    /// <summary>Images per second: 1 / period.</summary>
    public double Fps => PeriodSeconds == 0 ? 0 : 1 / PeriodSeconds;

    /// <summary>TOPS per mm² of the tiles used.</summary>
    public double TopsPerMm2 => AreaMm2 == 0 ? 0 : Tops / AreaMm2;
}
