namespace PimQuant.Sim;

/// <summary>Chooses at run time which input digits each (pixel, OU row group) streams, e.g. ReDy's
/// dynamic activation precision. A digit that is not streamed is not read: it costs no read, no
/// conversion and no drive, and contributes nothing, so the layer sees a' = Σ_{t streamed} 2^(d·t)·a_t
/// (the offset encoding's digital correction uses a' too). Called concurrently from worker threads.</summary>
public interface IInputDigitPolicy
{
    /// <summary>Fills <paramref name="digitMasks"/> (one per OU row group; bit t set = digit t is read)
    /// for one pixel whose im2col vector is <paramref name="activations"/> (K codes).</summary>
    /// <param name="pixel">Global pixel index (<see cref="RunOptions.FirstPixel"/> + row).</param>
    /// <param name="activations">The pixel's activation codes.</param>
    /// <param name="geometry">The layer's tiles and row groups.</param>
    /// <param name="digitMasks">Output, pre-filled with all T digits.</param>
    void SelectDigits(long pixel, ReadOnlySpan<byte> activations, LayerGeometry geometry, Span<uint> digitMasks);
}

/// <summary>One OU (OU row group × OU column position) as a skip policy sees it at programming time.</summary>
/// <param name="RowGroup">OU row group.</param>
/// <param name="Ou">OU column id (column tile × OU position).</param>
/// <param name="RowStart">First matrix row.</param>
/// <param name="RowCount">Rows.</param>
/// <param name="UsedColumns">Bitlines holding weights.</param>
/// <param name="AllLevelsZero">Every intended cell level (weight slice) of the OU is 0, so skipping it is lossless
/// on an ideal device.</param>
public readonly record struct OuBlock(int RowGroup, int Ou, int RowStart, int RowCount, int UsedColumns, bool AllLevelsZero);

/// <summary>Decides, when a layer is programmed, which OUs are never read (BWQ's and IVQ's skipped
/// all-zero blocks). A skipped OU costs nothing and its bitlines contribute nothing.</summary>
public interface IOuSkipPolicy
{
    /// <summary>True when <paramref name="ou"/> is never read.</summary>
    bool Skip(in OuBlock ou);
}

/// <summary>Built-in OU skip policies.</summary>
public static class OuSkip
{
    /// <summary>Skip the OUs whose cells all hold level 0 (lossless on an ideal device).</summary>
    public static IOuSkipPolicy AllZero { get; } = new Predicate(ou => ou.AllLevelsZero);

    /// <summary>Skip the OUs that <paramref name="skip"/> selects.</summary>
    public static IOuSkipPolicy Where(Func<OuBlock, bool> skip) => new Predicate(skip);

    private sealed class Predicate(Func<OuBlock, bool> skip) : IOuSkipPolicy
    {
        public bool Skip(in OuBlock ou) => skip(ou);
    }
}

/// <summary>The way a layer is simulated. All give identical results where they apply.</summary>
public enum SimulationPath
{
    /// <summary>Lossless layer: y = a'·W by exact integer matrix product.</summary>
    Exact,
    /// <summary>Narrow OUs without read noise: per row group a table from the OU's input pattern to the
    /// shift-added codes of every logical column.</summary>
    OuTable,
    /// <summary>1-bit cells and 1-bit DAC without per-cell variation or read noise: bit-packed rows,
    /// counts by 128-entry popcount lookups over 7-row units, ADC by a (driven rows, ones) → code table.</summary>
    BitCount,
    /// <summary>The general path: per-cell conductances summed over the driven rows.</summary>
    Conductance,
}

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

/// <summary>Options of one run.</summary>
public sealed record RunOptions
{
    /// <summary>Defaults: every digit, events counted, automatic path.</summary>
    public static RunOptions Default { get; } = new();

    /// <summary>Digit schedule, or null to stream all T digits.</summary>
    public IInputDigitPolicy? DigitPolicy { get; init; }

    /// <summary>Global index of the first pixel; keys read noise (and is passed to the digit policy),
    /// so results do not depend on how pixels are batched.</summary>
    public long FirstPixel { get; init; }

    /// <summary>Force a path (must apply to the layer), or null to choose automatically.</summary>
    public SimulationPath? Path { get; init; }

    /// <summary>Count events (the exact path then also scans input digits).</summary>
    public bool CountEvents { get; init; } = true;

    /// <summary>The codes are the two's-complement bit patterns of signed activations (docs/hardware.md §0):
    /// a = Σ_(t&lt;T−1) 2^(d·t)·a_t − 2^(ba−1)·a_(T−1), the most significant digit carrying negative weight.
    /// Every read is the same as for the unsigned pattern; only the digital shift-and-add subtracts the
    /// sign digit's codes. Needs the sign bit to be a digit of its own: (ba − 1) divisible by d.</summary>
    public bool SignedActivations { get; init; }
}
