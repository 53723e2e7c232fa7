namespace PimQuant.Sim;

/// <summary>Options of one programming call.</summary>
public sealed record ProgramOptions
{
    /// <summary>The layer's identity: with <see cref="Seed"/> it keys every random draw of the layer.</summary>
    public string Name { get; init; } = "layer";

    /// <summary>Seed of the programmed model.</summary>
    public ulong Seed { get; init; }

    /// <summary>OUs never read, or null for none.</summary>
    public IOuSkipPolicy? OuSkip { get; init; }

    /// <summary>The arrays a mapping puts the OUs in (and the OUs it leaves out), or null for the simulator's own
    /// row tile × column tile arrays.</summary>
    public OuPlacement? Placement { get; init; }

    /// <summary>The per-block precision table whose reads are counted (<see cref="PimQuant.Hardware.Cost.EventCounts.IndexReadBits"/>),
    /// or null for none (a dense mapping keeps no table).</summary>
    public PrecisionIndex? PrecisionIndex { get; init; }

    /// <summary>ADC steps overriding the config's: one value for the layer, or one per array
    /// (row tile × column tile, row-major; one value only with a <see cref="Placement"/>); null keeps the config's step.</summary>
    public IReadOnlyList<double>? AdcSteps { get; init; }

    /// <summary>ADC steps of the reference column's conversions (<see cref="CrossbarSettings.ReferenceColumn"/>), as
    /// <see cref="AdcSteps"/>: its partial sums G_min·Σ digits span a range of their own, calibrated apart (as
    /// NeuroSim quantizes its dummy column over the dummy's own range); null converts them with the array's step.</summary>
    public IReadOnlyList<double>? ReferenceAdcSteps { get; init; }

    /// <summary>The digital scale of each weight (K × N, row-major as the weights), or null for none: the digitized partial
    /// sums of an OU row group's reads of column j are multiplied by its rows' scale on the digital side, once per run of
    /// row groups that share it, in float64 — so weight scales per array or per OU block are applied exactly where the
    /// ADC is. The rows of one OU row group must share one scale per column; scales must be finite and &gt; 0.</summary>
    public IReadOnlyList<double>? DigitalScales { get; init; }
}
