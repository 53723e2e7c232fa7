namespace PimQuant.Hardware.Spec;

// The YAML as written: every scalar kept as its text with its path, so the builder can report
// "field 'adc.bits' = forty: must be an integer from 0 to 16" with the value exactly as the user
// wrote it. Only SpecReader fills these and only SpecBuilder reads them.

/// <summary>A scalar as written in the YAML, with its path.</summary>
internal sealed record Scalar(string Text, string Path)
{
    public override string ToString() => Text;
}

/// <summary>A list as written, with its path.</summary>
internal sealed record ListDto<T>(string Path, IReadOnlyList<T> Items);

internal sealed class SpecDto
{
    public Scalar? Version, Name, Description, Source, TechnologyNm, ClockGhz, Mapping;
    public ListDto<ArrayDto>? Arrays;
    public CellDto? Cell;
    public DacDto? Dac;
    public AdcDto? Adc;
    public EncodingDto? Encoding;
    public DefaultsDto? Defaults;
    public OrganisationDto? Organisation;
    public ComponentBasisDto? ComponentBasis;
    public ListDto<ComponentDto>? Components;
    public NonIdealityDto? NonIdealities;
}

internal sealed class ArrayDto
{
    public required string Path;
    public Scalar? Name, Rows, Cols, OuRows, OuCols, Tiles;
}

internal sealed class CellDto
{
    public required string Path;
    public Scalar? Bits;
}

internal sealed class DacDto
{
    public required string Path;
    public Scalar? Bits;
}

internal sealed class AdcDto
{
    public required string Path;
    public Scalar? Bits, Step, Calibration;
}

internal sealed class EncodingDto
{
    public required string Path;
    public Scalar? Weights, ColumnFlip, ReferenceColumn;
}

internal sealed class DefaultsDto
{
    public required string Path;
    public Scalar? WeightBits, ActivationBits;
}

internal sealed class OrganisationDto
{
    public required string Path;
    public Scalar? ImasPerTile, ArraysPerIma, AdcsPerIma, AdcRateGsps, SettleNs, Pipeline, Replication, OuOverlap;
}

internal sealed class ComponentBasisDto
{
    public required string Path;
    public Scalar? Rows, Cols, ArraysPerIma, AdcsPerIma, AdcBits, AdcRateGsps;
}

internal sealed class ComponentDto
{
    public required string Path;
    public Scalar? Name, Level, Count, Detail, PowerMw, AreaMm2, SharedBy, LeakageMw, ScalesWith, Source;
    public ListDto<EventDto>? Events;
}

internal sealed class EventDto
{
    public required string Path;
    public Scalar? Event, EnergyPj, Bits;
    public EnergyByBitsDto? EnergyPjByBits;
}

internal sealed class EnergyByBitsDto
{
    public required string Path;
    public required IReadOnlyList<(Scalar Key, Scalar Value)> Entries;
}

internal sealed class NonIdealityDto
{
    public required string Path;
    public VariationDto? Variation;
    public Scalar? OnOffRatio, ReadNoise, Seed;
    public SafDto? Saf;
}

internal sealed class VariationDto
{
    public required string Path;
    public Scalar? Kind, Sigma;
    public ListDto<Scalar>? SigmaPerLevel;
}

internal sealed class SafDto
{
    public required string Path;
    public Scalar? Sa0, Sa1;
}
