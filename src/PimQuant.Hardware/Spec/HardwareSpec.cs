using System.Text.Json.Serialization;

namespace PimQuant.Hardware.Spec;

/// <summary>
/// A validated, immutable ReRAM crossbar accelerator: everything the functional simulator and
/// the cost model read (docs/hardware.md has the binding semantics in its §0 and the YAML schema
/// field by field). Built only by
/// <see cref="HardwareSpecLoader"/>, so every instance has passed validation.
/// </summary>
/// <param name="Version">Schema version (<see cref="CurrentVersion"/>).</param>
/// <param name="Name">Short name, e.g. <c>isaac</c>.</param>
/// <param name="Description">One line.</param>
/// <param name="Source">Where the numbers come from: paper, table, and what PimQuant derived.</param>
/// <param name="Origin">The file (or <c>NAME (preset)</c>) the spec was read from; names it in errors.</param>
/// <param name="TechnologyNm">Process node in nm, when known.</param>
/// <param name="ClockGhz">Digital clock in GHz, when known.</param>
/// <param name="Arrays">The pool of crossbar geometries (at least one; a heterogeneous chip lists several). The first is the default.</param>
/// <param name="Cell">Memory cell.</param>
/// <param name="Dac">Input (wordline) DAC.</param>
/// <param name="Adc">Column ADC.</param>
/// <param name="Encoding">How signed weights sit on cells.</param>
/// <param name="Mapping">Name of the mapping strategy the hardware is designed for (<see cref="MappingNames"/>).</param>
/// <param name="Defaults">The integer bit-widths the preset was designed for.</param>
/// <param name="Organisation">Tiles, IMAs and timing; null when the source does not give them (then the cost model refuses).</param>
/// <param name="ComponentBasis">The design the component table was published for (every geometry scales from it); null without components.</param>
/// <param name="Components">Power, area, per-event energy and leakage of every component (empty when not available).</param>
/// <param name="NonIdealities">Device non-idealities, all off unless set.</param>
public sealed record HardwareSpec(
    int Version,
    string Name,
    string Description,
    string Source,
    string Origin,
    double? TechnologyNm,
    double? ClockGhz,
    IReadOnlyList<ArrayGeometry> Arrays,
    CellSpec Cell,
    DacSpec Dac,
    AdcSpec Adc,
    EncodingSpec Encoding,
    string Mapping,
    PrecisionDefaults Defaults,
    OrganisationSpec? Organisation,
    ComponentBasis? ComponentBasis,
    IReadOnlyList<ComponentSpec> Components,
    NonIdealitySpec NonIdealities)
{
    /// <summary>The schema version this PimQuant reads.</summary>
    public const int CurrentVersion = 1;

    /// <summary>The default geometry: the first of <see cref="Arrays"/>.</summary>
    [JsonIgnore]
    public ArrayGeometry DefaultArray => Arrays[0];

    /// <summary>The geometry called <paramref name="name"/>, or the default when null; an unknown name is a <see cref="HardwareSpecException"/>.</summary>
    public ArrayGeometry Array(string? name)
    {
        if (name is null) return DefaultArray;
        foreach (var a in Arrays)
            if (a.Name == name) return a;
        throw HardwareSpecException.Invalid(Origin, "arrays[].name", name, "no such geometry; the spec has " + string.Join(", ", Arrays.Select(a => a.Name)));
    }

    /// <summary>
    /// The largest partial sum one OU read of <paramref name="geometry"/> can produce with ideal
    /// cells (docs/hardware.md §0): ou_rows·(2^d−1)·(2^c−1), or with column flip
    /// floor(ou_rows·(2^c−1)/2)·(2^d−1).
    /// </summary>
    public long PartialSumBound(ArrayGeometry geometry)
    {
        long dMax = (1L << Dac.Bits) - 1, cMax = Cell.MaxLevel;
        return Encoding.ColumnFlip ? geometry.OuRows * cMax / 2 * dMax : geometry.OuRows * dMax * cMax;
    }

    /// <summary>The fewest ADC bits that convert every partial sum of <paramref name="geometry"/> exactly with step 1.</summary>
    public int AdcBitsForExact(ArrayGeometry geometry)
    {
        long bound = PartialSumBound(geometry);
        int bits = 0;
        while ((1L << bits) - 1 < bound) bits++;
        return bits;
    }

    /// <summary>
    /// True when, without perturbation, the ADC never clips or rounds a partial sum of
    /// <paramref name="geometry"/>: an ideal ADC, or step 1 and 2^A−1 ≥ <see cref="PartialSumBound"/>.
    /// This is the condition for the simulator's fast exact path.
    /// </summary>
    public bool AdcIsExact(ArrayGeometry geometry) =>
        Adc.IsIdeal || (Adc.Step == AdcStepMode.Unit && Adc.MaxCode >= PartialSumBound(geometry));
}

/// <summary>One crossbar geometry of the chip's pool.</summary>
/// <param name="Name">Unique name, e.g. <c>xbar128</c>.</param>
/// <param name="Rows">Wordlines.</param>
/// <param name="Cols">Bitlines.</param>
/// <param name="OuRows">Wordlines active in one read (operation unit); <c>Rows</c> for whole-array reads.</param>
/// <param name="OuCols">Bitlines active (and converted) in one read.</param>
/// <param name="Tiles">Tiles of the chip built from this geometry; null when the organisation is not given.</param>
public sealed record ArrayGeometry(string Name, int Rows, int Cols, int OuRows, int OuCols, int? Tiles)
{
    /// <summary>Cells of one array.</summary>
    public long Cells => (long)Rows * Cols;

    /// <summary>OU row groups per array: ceil(Rows / OuRows) (the last may be shorter).</summary>
    public int OuRowGroups => (Rows + OuRows - 1) / OuRows;

    /// <summary>OU column groups per array: ceil(Cols / OuCols) (the last may be narrower).</summary>
    public int OuColGroups => (Cols + OuCols - 1) / OuCols;
}

/// <summary>The memory cell: <see cref="Bits"/> bits, levels 0..2^bits−1.</summary>
public sealed record CellSpec(int Bits)
{
    /// <summary>2^bits.</summary>
    public int Levels => 1 << Bits;

    /// <summary>2^bits − 1.</summary>
    public int MaxLevel => Levels - 1;
}

/// <summary>The wordline DAC: inputs stream as digits of <see cref="Bits"/> bits, one read per digit.</summary>
public sealed record DacSpec(int Bits)
{
    /// <summary>T = ceil(activationBits / Bits) digits per input.</summary>
    public int Digits(int activationBits) => (activationBits + Bits - 1) / Bits;
}

/// <summary>How the ADC step is chosen (docs/hardware.md §0).</summary>
public enum AdcStepMode
{
    /// <summary>Step 1: integer counting, clips above 2^A − 1.</summary>
    Unit,
    /// <summary>Step p_max / (2^A − 1), p_max = ou_rows·(2^d−1)·(2^c−1).</summary>
    FullRange,
    /// <summary>A step calibrated from data, learned (CIMQ's partial-sum quantization) or given, per layer or per array.</summary>
    Calibrated,
}

/// <summary>Granularity of a calibrated ADC step.</summary>
public enum AdcCalibration
{
    /// <summary>One step per layer.</summary>
    Layer,
    /// <summary>One step per crossbar array.</summary>
    Array,
}

/// <summary>The column ADC.</summary>
/// <param name="Bits">Resolution A; 0 means ideal (no ADC quantization).</param>
/// <param name="Step">How the step is chosen.</param>
/// <param name="Calibration">Granularity when <see cref="Step"/> is calibrated, else null.</param>
public sealed record AdcSpec(int Bits, AdcStepMode Step, AdcCalibration? Calibration)
{
    /// <summary>True for an ideal ADC (bits 0 or <c>ideal</c>).</summary>
    public bool IsIdeal => Bits == 0;

    /// <summary>2^A − 1 (largest code); <see cref="long.MaxValue"/> when ideal.</summary>
    [JsonIgnore]
    public long MaxCode => IsIdeal ? long.MaxValue : (1L << Bits) - 1;
}

/// <summary>How signed weights are stored on unsigned cell levels (docs/hardware.md §0).</summary>
public enum WeightEncoding
{
    /// <summary>Store w + 2^(bw−1) (bw magnitude bits, the full two's-complement range); the digital side subtracts
    /// 2^(bw−1)·Σa, as ISAAC does with its unit column.</summary>
    Offset,
    /// <summary>G+ holds max(w, 0), G− holds max(−w, 0), subtracted digitally after the ADC: sign-magnitude with bw − 1
    /// magnitude bits, so codes lie in [−(2^(bw−1) − 1), 2^(bw−1) − 1] (the narrow symmetric range).</summary>
    Differential,
}

/// <summary>Weight encoding, ISAAC's column flip, and a reference column that cancels the leakage of level-0 cells.</summary>
/// <param name="Weights">Offset or differential.</param>
/// <param name="ColumnFlip">ISAAC's per-column complement encoding.</param>
/// <param name="ReferenceColumn">Every array holds a column of level-0 cells, read and converted with every OU read;
/// its code is subtracted from each bitline's and the difference scaled by G_max/(G_max − G_min) (DNN+NeuroSim's
/// dummy column, for its leakage role; the offset stays digital).</param>
public sealed record EncodingSpec(WeightEncoding Weights, bool ColumnFlip, bool ReferenceColumn = false)
{
    /// <summary>Physical columns per slice of a logical column: 2 for differential, 1 for offset.</summary>
    public int Polarities => Weights == WeightEncoding.Differential ? 2 : 1;

    /// <summary>
    /// Unsigned bits stored per weight of <paramref name="weightBits"/> signed bits: offset stores
    /// w + 2^(bw−1) in bw bits; differential stores |w| in bw − 1 bits, which assumes the
    /// symmetric range |w| ≤ 2^(bw−1) − 1 (per-channel symmetric quantization).
    /// </summary>
    public int StoredBits(int weightBits) => Weights == WeightEncoding.Differential ? weightBits - 1 : weightBits;

    /// <summary>True when the digital side needs the sum of each input digit over an OU row group (offset term or column flip).</summary>
    public bool NeedsDigitSums => Weights == WeightEncoding.Offset || ColumnFlip;
}

/// <summary>Names of the mapping strategies a spec may name.</summary>
public static class MappingNames
{
    /// <summary>Row-major dense tiling (<see cref="PimQuant.Hardware.Mapping.DenseTiling"/>).</summary>
    public const string Dense = "dense";
    /// <summary>BWQ-H's precision-aware mapping (<see cref="PimQuant.Hardware.Mapping.PrecisionAwareMapping"/>).</summary>
    public const string PrecisionAware = "precision_aware";
    /// <summary>IVQ's magnitude-aligned mapping (next step).</summary>
    public const string MagnitudeAligned = "magnitude_aligned";

    /// <summary>Every accepted name.</summary>
    public static IReadOnlyList<string> All { get; } = [Dense, PrecisionAware, MagnitudeAligned];
}

/// <summary>The integer bit-widths the hardware was designed for; a method may override them per layer.</summary>
/// <param name="WeightBits">Signed weight bits (sign included).</param>
/// <param name="ActivationBits">Unsigned activation bits.</param>
public sealed record PrecisionDefaults(int WeightBits, int ActivationBits);

/// <summary>How layers share time.</summary>
public enum PipelineMode
{
    /// <summary>Each layer is a pipeline stage (ISAAC, NeuroSim): one image per longest-layer period.</summary>
    Layer,
    /// <summary>Layers run one after another: one image per sum of layer latencies.</summary>
    None,
}

/// <summary>Whether the layer pipeline replicates weights to balance its stages.</summary>
public enum ReplicationMode
{
    /// <summary>ISAAC's balancing: the slowest layers get more copies of their weights while the chip holds them.</summary>
    Balanced,
    /// <summary>One copy of every layer.</summary>
    None,
}

/// <summary>Chip organisation and timing.</summary>
/// <param name="ImasPerTile">In-situ multiply-accumulate units (IMAs, processing elements) per tile.</param>
/// <param name="ArraysPerIma">Crossbar arrays per IMA.</param>
/// <param name="AdcsPerIma">ADCs per IMA, shared evenly by its arrays (adcs_per_ima / arrays_per_ima per array, fewer than one meaning arrays take turns).</param>
/// <param name="AdcRateGsps">Conversions per second of one ADC, in GS/s (ISAAC: 1.28).</param>
/// <param name="SettleNs">Analog settle time of one read, in ns: a read never takes less.</param>
/// <param name="Pipeline">Layer pipelining.</param>
/// <param name="Replication">With the layer pipeline: replicate earlier layers' weights so every stage keeps pace (ISAAC), or not.</param>
/// <param name="OuOverlap">An array reads OUs of different column groups at once where its ADCs can convert them together
/// (floor(ADCs per array / bitlines per OU) at a time); false: its OUs are read one after another.</param>
public sealed record OrganisationSpec(int ImasPerTile, int ArraysPerIma, int AdcsPerIma, double AdcRateGsps, double SettleNs, PipelineMode Pipeline,
    ReplicationMode Replication = ReplicationMode.Balanced, bool OuOverlap = false)
{
    /// <summary>ADCs one array has to itself: adcs_per_ima / arrays_per_ima.</summary>
    public double AdcsPerArray => (double)AdcsPerIma / ArraysPerIma;
}

/// <summary>
/// The design a component table was published for: its array geometry, IMA make-up and ADC.
/// Components scale from it to each geometry and ADC of the spec (docs/hardware.md §5).
/// </summary>
/// <param name="Rows">Wordlines of the source's arrays.</param>
/// <param name="Cols">Bitlines of the source's arrays.</param>
/// <param name="ArraysPerIma">Arrays per IMA in the source.</param>
/// <param name="AdcsPerIma">ADCs per IMA in the source.</param>
/// <param name="AdcBits">The ADC resolution the table's ADC row is for.</param>
/// <param name="AdcRateGsps">The conversion rate the table's ADC power is for, GS/s.</param>
public sealed record ComponentBasis(int Rows, int Cols, int ArraysPerIma, int AdcsPerIma, int AdcBits, double AdcRateGsps);

/// <summary>Where a component sits; its power and area count once per unit of that level.</summary>
public enum ComponentLevel
{
    /// <summary>Once per chip.</summary>
    Chip,
    /// <summary>Once per tile.</summary>
    Tile,
    /// <summary>Once per IMA.</summary>
    Ima,
}

/// <summary>
/// What an IMA component's power and area scale with, from the <see cref="ComponentBasis"/> to an
/// IMA of the spec: the IMA's cells, wordlines, bitlines or ADCs over the basis IMA's.
/// </summary>
public enum ScaleBasis
{
    /// <summary>Fixed.</summary>
    None,
    /// <summary>arrays_per_ima × rows × cols.</summary>
    Cells,
    /// <summary>arrays_per_ima × rows (one wordline driver per row).</summary>
    Rows,
    /// <summary>arrays_per_ima × cols (one sample-and-hold per bitline).</summary>
    Cols,
    /// <summary>adcs_per_ima, and for the row pricing conversions by resolution, the energy law at the spec's ADC bits (and the rate, for power).</summary>
    Adcs,
}

/// <summary>The events the cost model counts (docs/hardware.md defines each exactly).</summary>
public enum EventKind
{
    /// <summary>One read of one OU for one input digit.</summary>
    OuRead,
    /// <summary>One cell on a driven row and a converted column during one OU read.</summary>
    CellRead,
    /// <summary>One wordline driven with one input digit in one OU read.</summary>
    DacDrive,
    /// <summary>One column partial sum converted by an ADC.</summary>
    AdcConversion,
    /// <summary>One converted code shifted and added into an output accumulator.</summary>
    ShiftAdd,
    /// <summary>One sum of an input digit over an OU row group's rows of one conv group (offset term, column flip).</summary>
    DigitSum,
    /// <summary>Bits read from the tile buffer (priced per <see cref="ComponentEvent.Bits"/> bits).</summary>
    BufferRead,
    /// <summary>Bits written to the tile buffer.</summary>
    BufferWrite,
    /// <summary>Bits sent through the on-chip network.</summary>
    RouterTransfer,
    /// <summary>One input examined by a digit selector that chooses at run time which digits its group streams (ReDy).</summary>
    DigitSelection,
    /// <summary>Bits of a precision-aware mapping's per-block precision table read by the controller (BWQ-H), priced per
    /// <see cref="ComponentEvent.Bits"/> bits.</summary>
    IndexRead,
}

/// <summary>One priced event of a component.</summary>
/// <param name="Event">Which event.</param>
/// <param name="EnergyPj">Energy per event in pJ (per <see cref="Bits"/> bits for bit events); null when priced by ADC resolution.</param>
/// <param name="EnergyPjByBits">ADC conversion energy by resolution (adc_conversion only), else null.</param>
/// <param name="Bits">For buffer, router and index events: the bits one priced access moves; else 1.</param>
public sealed record ComponentEvent(EventKind Event, double? EnergyPj, IReadOnlyDictionary<int, double>? EnergyPjByBits, int Bits);

/// <summary>
/// One row of the component table: totals for <see cref="Count"/> instances at <see cref="Level"/>
/// (the row as the source's table prints it), the events it prices, and its leakage.
/// </summary>
/// <param name="Name">Unique name.</param>
/// <param name="Level">Chip, tile or IMA.</param>
/// <param name="Count">Instances the row describes (informational; the totals below already include them).</param>
/// <param name="Detail">Free text, e.g. <c>8-bit, 1.2 GS/s</c>.</param>
/// <param name="PowerMw">Peak power of the row, mW.</param>
/// <param name="AreaMm2">Area of the row, mm².</param>
/// <param name="SharedBy">Units of <see cref="Level"/> sharing the row (ISAAC's router: 4 tiles), so 1/SharedBy counts per unit.</param>
/// <param name="LeakageMw">Power charged for the whole time the component is allocated, mW (before sharing).</param>
/// <param name="ScalesWith">How power and area scale from the component basis to the spec's IMAs.</param>
/// <param name="Events">Events it prices.</param>
/// <param name="Source">Where the row's numbers come from, when it differs from the spec's source.</param>
public sealed record ComponentSpec(
    string Name,
    ComponentLevel Level,
    double Count,
    string? Detail,
    double PowerMw,
    double AreaMm2,
    double SharedBy,
    double LeakageMw,
    ScaleBasis ScalesWith,
    IReadOnlyList<ComponentEvent> Events,
    string? Source);

/// <summary>Programming-variation model.</summary>
public enum VariationKind
{
    /// <summary>G = level·(1 + e), e ~ N(0, sigma).</summary>
    Gaussian,
    /// <summary>G = level·exp(e), e ~ N(0, sigma).</summary>
    Lognormal,
}

/// <summary>Programming variation, drawn once per programmed model.</summary>
/// <param name="Kind">Distribution.</param>
/// <param name="Sigma">Relative sigma (0 = off).</param>
/// <param name="SigmaPerLevel">State-dependent sigma, one per level 0..2^c−1, overriding <see cref="Sigma"/>; null when not given.</param>
public sealed record VariationSpec(VariationKind Kind, double Sigma, IReadOnlyList<double>? SigmaPerLevel)
{
    /// <summary>True when any sigma is non-zero.</summary>
    public bool IsActive => Sigma > 0 || (SigmaPerLevel?.Any(s => s > 0) ?? false);
}

/// <summary>Stuck-at faults: fractions of cells stuck at the lowest (sa0) and highest (sa1) level.</summary>
public sealed record StuckAtFaults(double Sa0, double Sa1);

/// <summary>Device non-idealities (docs/hardware.md §0), all seeded, all off by default.</summary>
/// <param name="Variation">Programming variation.</param>
/// <param name="OnOffRatio">G_max / G_min; null for an ideal (infinite) ratio.</param>
/// <param name="Saf">Stuck-at faults.</param>
/// <param name="ReadNoise">Sigma of Gaussian noise on each partial sum, in units of one level, per read.</param>
/// <param name="Seed">Seed of every random draw.</param>
public sealed record NonIdealitySpec(VariationSpec Variation, double? OnOffRatio, StuckAtFaults Saf, double ReadNoise, long Seed)
{
    /// <summary>True when every non-ideality is off.</summary>
    public bool IsIdeal => !Variation.IsActive && OnOffRatio is null && Saf.Sa0 == 0 && Saf.Sa1 == 0 && ReadNoise == 0;
}
