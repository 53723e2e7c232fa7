namespace PimQuant.Sim;

/// <summary>A validated, immutable crossbar description with the quantities derived from it
/// (slices, digits, ADC range). Built by <see cref="Create"/> from <see cref="CrossbarSettings"/>.</summary>
public sealed record CrossbarConfig
{
    private CrossbarConfig(CrossbarSettings s, double nominalStep)
    {
        Rows = s.Rows; Cols = s.Cols; OuRows = s.OuRows; OuCols = s.OuCols;
        CellBits = s.CellBits; DacBits = s.DacBits; AdcBits = s.AdcBits; AdcStep = s.AdcStep;
        WeightEncoding = s.WeightEncoding; ColumnFlip = s.ColumnFlip; ReferenceColumn = s.ReferenceColumn; WeightBits = s.WeightBits;
        ActivationBits = s.ActivationBits; ColumnLayout = s.ColumnLayout; NonIdealities = s.NonIdealities;
        ConductanceFractionBits = s.ConductanceFractionBits;
        WholeOuRowTiles = s.WholeOuRowTiles;
        TileRows = s.WholeOuRowTiles || s.ColumnLayout == ColumnLayout.SliceMajor ? s.Rows / s.OuRows * s.OuRows : s.Rows;
        Polarities = s.WeightEncoding == WeightEncoding.Differential ? 2 : 1;
        MagnitudeBits = s.WeightEncoding == WeightEncoding.Differential ? s.WeightBits - 1 : s.WeightBits;
        Slices = (MagnitudeBits + s.CellBits - 1) / s.CellBits;
        Digits = (s.ActivationBits + s.DacBits - 1) / s.DacBits;
        NominalStep = nominalStep;
    }

    /// <summary><c>rows</c>.</summary>
    public int Rows { get; }
    /// <summary><c>cols</c>.</summary>
    public int Cols { get; }
    /// <summary><c>ou_rows</c>.</summary>
    public int OuRows { get; }
    /// <summary><c>ou_cols</c>.</summary>
    public int OuCols { get; }
    /// <summary><c>cell_bits</c> c.</summary>
    public int CellBits { get; }
    /// <summary><c>dac_bits</c> d.</summary>
    public int DacBits { get; }
    /// <summary><c>adc_bits</c> A (0 = ideal).</summary>
    public int AdcBits { get; }
    /// <summary><c>adc_step</c>.</summary>
    public AdcStep AdcStep { get; }
    /// <summary><c>weight_encoding</c>.</summary>
    public WeightEncoding WeightEncoding { get; }
    /// <summary><c>column_flip</c>.</summary>
    public bool ColumnFlip { get; }
    /// <summary><c>reference_column</c>.</summary>
    public bool ReferenceColumn { get; }
    /// <summary><c>weight_bits</c> bw.</summary>
    public int WeightBits { get; }
    /// <summary><c>activation_bits</c> ba.</summary>
    public int ActivationBits { get; }
    /// <summary>Placement of slices on bitlines.</summary>
    public ColumnLayout ColumnLayout { get; }
    /// <summary>Row tiles hold whole OU row groups even in the weight-major layout (<see cref="CrossbarSettings.WholeOuRowTiles"/>).</summary>
    public bool WholeOuRowTiles { get; }
    /// <summary>Wordlines of a row tile: <see cref="Rows"/>, or whole OU row groups only (slice-major layout or
    /// <see cref="CrossbarSettings.WholeOuRowTiles"/>).</summary>
    public int TileRows { get; }
    /// <summary>Device non-idealities.</summary>
    public NonIdealities NonIdealities { get; }
    /// <summary>F: conductances and partial sums are integers in units of 2^−F levels.</summary>
    public int ConductanceFractionBits { get; }

    /// <summary>1 (offset) or 2 (differential): physical columns per slice.</summary>
    public int Polarities { get; }
    /// <summary>Magnitude bits stored on cells: bw (offset) or bw − 1 (differential).</summary>
    public int MagnitudeBits { get; }
    /// <summary>S = ceil(magnitude bits / c).</summary>
    public int Slices { get; }
    /// <summary>T = ceil(ba / d): reads per OU row group per pixel when every digit is streamed.</summary>
    public int Digits { get; }
    /// <summary>Largest cell level, 2^c − 1 (= G_max in levels).</summary>
    public int LevelMax => (1 << CellBits) - 1;
    /// <summary>Largest input digit, 2^d − 1.</summary>
    public int DigitMax => (1 << DacBits) - 1;
    /// <summary>Largest ADC code, 2^A − 1 (0 when the ADC is ideal).</summary>
    public int AdcCodeMax => AdcBits == 0 ? 0 : (1 << AdcBits) - 1;
    /// <summary>True when <c>adc_bits</c> is 0: partial sums are not quantized.</summary>
    public bool IsAdcIdeal => AdcBits == 0;
    /// <summary>p_max = ou_rows·(2^d−1)·(2^c−1), the largest ideal partial sum.</summary>
    public long PartialSumMax => (long)OuRows * DigitMax * LevelMax;
    /// <summary>The step of <see cref="AdcStep"/> (unit 1, full range p_max/(2^A−1), or the explicit value).</summary>
    public double NominalStep { get; }
    /// <summary>Physical columns per logical column: slices × polarities.</summary>
    public int ColumnsPerWeight => Slices * Polarities;

    /// <summary>Programming variation with a non-zero σ for some level.</summary>
    public bool HasVariation => NonIdealities.Variation is { } v && (v.Sigma > 0 || (v.SigmaPerLevel?.Any(x => x > 0) ?? false));
    /// <summary>Level 0 conducts (finite on/off ratio).</summary>
    public bool HasLeakage => !double.IsPositiveInfinity(NonIdealities.OnOffRatio);
    /// <summary>Stuck-at faults are drawn.</summary>
    public bool HasFaults => NonIdealities.StuckAtZero > 0 || NonIdealities.StuckAtOne > 0;
    /// <summary>Read noise is added to every partial sum.</summary>
    public bool HasReadNoise => NonIdealities.ReadNoise > 0;
    /// <summary>No non-ideality at all: conductances are the integer levels.</summary>
    public bool IsIdealDevice => !HasVariation && !HasLeakage && !HasFaults && !HasReadNoise;

    /// <summary>The largest ADC code a noise-free read can need without clipping: p_max, or with
    /// column flip floor(ou_rows·(2^c−1)/2)·(2^d−1). Exactness holds when step = 1 and 2^A − 1 reaches it.</summary>
    public long LosslessAdcBound => ColumnFlip ? (long)OuRows * LevelMax / 2 * DigitMax : PartialSumMax;

    /// <summary>Validates <paramref name="settings"/> and derives the config; throws
    /// <see cref="ArgumentException"/> naming the offending field.</summary>
    public static CrossbarConfig Create(CrossbarSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var s = settings;
        Require(s.Rows >= 1, "rows must be at least 1");
        Require(s.Cols >= 1, "cols must be at least 1");
        Require(s.OuRows >= 1 && s.OuRows <= s.Rows, "ou_rows must lie in [1, rows]");
        Require(s.OuCols >= 1 && s.OuCols <= s.Cols, "ou_cols must lie in [1, cols]");
        Require(s.CellBits is >= 1 and <= 8, "cell_bits must lie in [1, 8]");
        Require(s.DacBits is >= 1 and <= 8, "dac_bits must lie in [1, 8]");
        Require(s.AdcBits is >= 0 and <= 16, "adc_bits must lie in [0, 16] (0 = ideal)");
        Require(s.ActivationBits is >= 1 and <= 8, "activation_bits must lie in [1, 8] (activation codes are bytes)");
        Require(s.WeightEncoding == WeightEncoding.Offset ? s.WeightBits is >= 1 and <= 16 : s.WeightBits is >= 2 and <= 16,
            "weight_bits must lie in [1, 16] (offset) or [2, 16] (differential)");
        Require(s.ConductanceFractionBits is >= 0 and <= 24, "conductance fraction bits must lie in [0, 24]");
        ArgumentNullException.ThrowIfNull(s.AdcStep);
        ArgumentNullException.ThrowIfNull(s.NonIdealities);
        var n = s.NonIdealities;
        Require(n.OnOffRatio > 1 && !double.IsNaN(n.OnOffRatio), "on_off_ratio must exceed 1 (infinity = no leakage)");
        Require(n.StuckAtZero is >= 0 and <= 1 && n.StuckAtOne is >= 0 and <= 1 && n.StuckAtZero + n.StuckAtOne <= 1,
            "saf fractions must lie in [0, 1] and sum to at most 1");
        Require(double.IsFinite(n.ReadNoise) && n.ReadNoise >= 0, "read_noise must be a finite σ ≥ 0");
        if (n.Variation is { } v)
        {
            Require(double.IsFinite(v.Sigma) && v.Sigma >= 0, "variation.sigma must be finite and ≥ 0");
            if (v.SigmaPerLevel is { } perLevel)
            {
                Require(perLevel.Count == 1 << s.CellBits, "variation sigma per level needs one value per level 0..2^c−1");
                Require(perLevel.All(x => double.IsFinite(x) && x >= 0), "variation sigma per level must be finite and ≥ 0");
            }
        }

        int polarities = s.WeightEncoding == WeightEncoding.Differential ? 2 : 1;
        int magnitudeBits = s.WeightEncoding == WeightEncoding.Differential ? s.WeightBits - 1 : s.WeightBits;
        int slices = (magnitudeBits + s.CellBits - 1) / s.CellBits;
        int perBlock = s.ColumnLayout == ColumnLayout.SliceMajor ? slices * polarities * s.OuCols : slices * polarities;
        Require(perBlock <= s.Cols, s.ColumnLayout == ColumnLayout.SliceMajor
            ? $"a slice-major block needs {perBlock} bitlines (ou_cols × slices × polarities) but a crossbar has {s.Cols}"
            : $"one weight needs {perBlock} bitlines (slices × polarities) but a crossbar has {s.Cols}");

        double step = s.AdcStep.Mode switch
        {
            AdcStepMode.Unit => 1.0,
            AdcStepMode.FullRange => s.AdcBits == 0 ? 1.0 : (double)((long)s.OuRows * ((1 << s.DacBits) - 1) * ((1 << s.CellBits) - 1)) / ((1 << s.AdcBits) - 1),
            _ => s.AdcStep.Value,
        };
        Require(double.IsFinite(step) && step > 0 && step * Math.ScaleB(1.0, s.ConductanceFractionBits) < 1e300, "adc_step must be a finite value > 0");

        // Nominal partial sums in conductance units must fit the kernels' 32-bit lanes.
        long nominalMax = (long)s.OuRows * ((1 << s.DacBits) - 1) * ((1 << s.CellBits) - 1) << s.ConductanceFractionBits;
        Require(nominalMax < int.MaxValue, $"ou_rows·(2^d−1)·(2^c−1)·2^F = {nominalMax} exceeds 32 bits; lower the conductance fraction bits");
        return new CrossbarConfig(s, step);
    }

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException(message);
    }
}
