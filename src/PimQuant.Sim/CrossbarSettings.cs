namespace PimQuant.Sim;

/// <summary>The ADC step of the hardware spec (docs/hardware.md §0, <c>adc_step</c>): <c>unit</c>, <c>full_range</c> or a
/// calibrated value (from data, learned, or given), its mode the spec's <see cref="AdcStepMode"/>. Per-layer or per-array
/// values can also be given when a layer is programmed.</summary>
public sealed record AdcStep
{
    private AdcStep(AdcStepMode mode, double value) => (Mode, Value) = (mode, value);

    /// <summary>The mode.</summary>
    public AdcStepMode Mode { get; }

    /// <summary>The step for <see cref="AdcStepMode.Calibrated"/>; 1 otherwise (unused).</summary>
    public double Value { get; }

    /// <summary>Step 1.</summary>
    public static AdcStep Unit { get; } = new(AdcStepMode.Unit, 1);

    /// <summary>Step p_max/(2^A − 1).</summary>
    public static AdcStep FullRange { get; } = new(AdcStepMode.FullRange, 1);

    /// <summary>A calibrated, learned or given step (validated when the config is built).</summary>
    public static AdcStep Calibrated(double value) => new(AdcStepMode.Calibrated, value);
}

/// <summary>Where the physical columns of a logical weight column sit inside a crossbar. The layout
/// changes only which OU a cell belongs to (event counts, OU skipping, per-array steps), never a value.</summary>
public enum ColumnLayout
{
    /// <summary>The slices (and polarities) of one weight are adjacent bitlines (ISAAC).</summary>
    WeightMajor,

    /// <summary>Blocks of ou_cols logical columns; OU number k of a block holds slice k of its columns
    /// (BWQ's precision-aware mapping: one OU per bit of a 9×8 weight block).</summary>
    SliceMajor,
}

/// <summary>Programming variation (docs/hardware.md §0, <c>variation</c>).</summary>
/// <param name="Kind">Gaussian or lognormal.</param>
/// <param name="Sigma">σ for every level without its own value.</param>
/// <param name="SigmaPerLevel">Optional state-dependent σ, one per level 0..2^c−1.</param>
public sealed record ProgrammingVariation(VariationKind Kind, double Sigma, IReadOnlyList<double>? SigmaPerLevel = null);

/// <summary>Device non-idealities (docs/hardware.md §0). All off by default. Everything except the read
/// noise is drawn once when a layer is programmed.</summary>
public sealed record NonIdealities
{
    /// <summary>No non-ideality.</summary>
    public static NonIdealities None { get; } = new();

    /// <summary>Programming variation, or null.</summary>
    public ProgrammingVariation? Variation { get; init; }

    /// <summary><c>on_off_ratio</c>: level 0 conducts G_max/ratio (G_max = 2^c − 1); levels above 0 conduct
    /// their level. Infinity (the default) means level 0 does not conduct.</summary>
    public double OnOffRatio { get; init; } = double.PositiveInfinity;

    /// <summary><c>saf.sa0</c>: fraction of cells stuck at the lowest level.</summary>
    public double StuckAtZero { get; init; }

    /// <summary><c>saf.sa1</c>: fraction of cells stuck at the highest level.</summary>
    public double StuckAtOne { get; init; }

    /// <summary><c>read_noise</c>: σ of the Gaussian added to every partial sum of every read, in levels.</summary>
    public double ReadNoise { get; init; }
}

/// <summary>The editable crossbar description, in the hardware spec's words. Defaults are ISAAC's
/// (128×128, whole-array reads, 2-bit cells, 1-bit DAC, 8-bit ADC at step 1, offset encoding with
/// column flip, 8-bit weights and activations). <see cref="CrossbarConfig.Create"/> validates it.</summary>
public sealed record CrossbarSettings
{
    /// <summary><c>rows</c>: wordlines per crossbar.</summary>
    public int Rows { get; init; } = 128;

    /// <summary><c>cols</c>: bitlines per crossbar.</summary>
    public int Cols { get; init; } = 128;

    /// <summary><c>ou_rows</c>: wordlines active in one read.</summary>
    public int OuRows { get; init; } = 128;

    /// <summary><c>ou_cols</c>: bitlines active in one read.</summary>
    public int OuCols { get; init; } = 128;

    /// <summary><c>cell_bits</c> c.</summary>
    public int CellBits { get; init; } = 2;

    /// <summary><c>dac_bits</c> d.</summary>
    public int DacBits { get; init; } = 1;

    /// <summary><c>adc_bits</c> A; 0 means an ideal ADC (no quantization).</summary>
    public int AdcBits { get; init; } = 8;

    /// <summary><c>adc_step</c>.</summary>
    public AdcStep AdcStep { get; init; } = AdcStep.Unit;

    /// <summary><c>weight_encoding</c>.</summary>
    public WeightEncoding WeightEncoding { get; init; } = WeightEncoding.Offset;

    /// <summary><c>column_flip</c> (ISAAC's encoding).</summary>
    public bool ColumnFlip { get; init; } = true;

    /// <summary><c>reference_column</c>: every array holds a column of nominal level-0 cells (no variation, faults or
    /// read noise), read with every OU read and converted by the array's ADC; its code is subtracted from every
    /// bitline's code of the read, and the analog part scaled by G_max/(G_max − G_min), which cancels the leakage of
    /// a finite on/off ratio exactly for 1-bit cells (DNN+NeuroSim's dummy column, for its leakage role).</summary>
    public bool ReferenceColumn { get; init; }

    /// <summary><c>weight_bits</c> bw.</summary>
    public int WeightBits { get; init; } = 8;

    /// <summary><c>activation_bits</c> ba (at most 8: activation codes are bytes).</summary>
    public int ActivationBits { get; init; } = 8;

    /// <summary>Placement of slices on bitlines.</summary>
    public ColumnLayout ColumnLayout { get; init; } = ColumnLayout.WeightMajor;

    /// <summary>Row tiles hold whole OU row groups: floor(rows / ou_rows)·ou_rows wordlines each (the rest stay unused), so
    /// OU row groups are the ou_rows-row blocks of the lowered matrix counted from row 0, as OU-block weight scales
    /// (<see cref="ProgramOptions.DigitalScales"/>) need. Always so in the slice-major layout; otherwise a tile fills
    /// the array's rows and its last row group may be short.</summary>
    public bool WholeOuRowTiles { get; init; }

    /// <summary>Device non-idealities.</summary>
    public NonIdealities NonIdealities { get; init; } = NonIdealities.None;

    /// <summary>Conductances, and partial sums with them, are held as integers in units of 2^−F levels.
    /// Sums of such values are exact in any order, so optimized kernels and the reference agree bit for
    /// bit; 2^−16 of a level lies far below any physical resolution.</summary>
    public int ConductanceFractionBits { get; init; } = 16;
}
