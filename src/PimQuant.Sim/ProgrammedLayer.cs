using System.Buffers;
using PimQuant.Sim.Kernels;
using PimQuant.Hardware.Cost;

namespace PimQuant.Sim;

/// <summary>One layer programmed onto crossbars: the cell levels after slicing, encoding, column flip and
/// stuck-at faults, the cell conductances with programming variation, the skipped OUs and the ADC steps —
/// everything fixed at programming, drawn from (seed, layer name) by counter-based randomness.
/// <see cref="Run"/> streams activation codes through it (docs/hardware.md §0):
/// y_j = Σ_segments step·scale·Σ_g Σ_t Σ_(polarity, s) ±2^(d·t + c·s)·code + exact digital terms, where the
/// integer sum is exact (int64), the factor multiplies it once per digital segment (in ascending order),
/// and the exact terms (column-flip recovery (2^c−1)·Σa_t, offset 2^(bw−1)·Σa), each segment's times its
/// digital scale, are added last. A digital segment is a run of OU row groups of one row tile whose weights
/// share one digital scale per column (<see cref="ProgramOptions.DigitalScales"/>): without digital scales,
/// the whole row tile. Thread-safe: runs may proceed concurrently.</summary>
public sealed partial class ProgrammedLayer
{
    private readonly Lazy<OuTableSet?> _tables;
    private readonly Lazy<BitCountWeights?> _bitCount;
    private readonly Lazy<int[]> _conductances;
    private readonly Lazy<double[]> _exactWeights;
    private readonly Lazy<sbyte[]?> _exactBytes;
    private readonly Lazy<long[]> _columnSums;
    private readonly long _tableBudget;

    private ProgrammedLayer(CrossbarConfig config, LayerGeometry geometry, string name, ulong seed, ReadOnlySpan<int> weights,
        IOuSkipPolicy? ouSkip, OuPlacement? placement, PrecisionIndex? index, IReadOnlyList<double>? adcSteps, IReadOnlyList<double>? referenceSteps,
        IReadOnlyList<double>? digitalScales, SimConfiguration configuration)
    {
        Config = config; Geometry = geometry; Name = name; Seed = seed; LayerKey = SimRandom.LayerKey(name);
        (SegmentFirstGroup, SegmentTile, SegmentScales) = ResolveSegments(digitalScales);
        _tableBudget = configuration.TableBudgetBytes;
        int k = geometry.K, n = geometry.N, c = geometry.PhysicalColumns, groups = geometry.RowGroupCount;
        PaddedColumns = (c + 63) & ~63;
        Weights = weights.ToArray();
        Levels = new byte[(long)k * c];
        WriteIntendedLevels(weights);
        if (placement is not null && placement.ArrayOf.Count != (long)groups * OuIds)
            throw new ArgumentException($"OU placement of {placement.ArrayOf.Count} entries; the layer has {groups} row groups × {OuIds} OU ids");
        if (index is not null && index.EntriesPerRowGroup.Count != groups)
            throw new ArgumentException($"precision table of {index.EntriesPerRowGroup.Count} row groups; the layer has {groups}");
        IndexBitsPerGroup = index is null ? new long[groups] : index.EntriesPerRowGroup.Select(e => (long)e * index.EntryBits).ToArray();
        var skipped = ResolveOuSkips(ouSkip, placement, out bool skipsLossless);
        Flipped = new bool[(long)groups * c];
        if (config.ColumnFlip) FlipColumns();
        CellConductance = ApplyFaultsAndVariation(configuration);
        LevelConductance = new int[config.LevelMax + 1];
        for (int level = 1; level <= config.LevelMax; level++) LevelConductance[level] = level << config.ConductanceFractionBits;
        if (config.HasLeakage) LevelConductance[0] = RoundConductance(config.LevelMax / config.NonIdealities.OnOffRatio);
        long levelMaxConductance = (long)config.LevelMax << config.ConductanceFractionBits;
        ReferenceGain = config.ReferenceColumn && config.HasLeakage ? (double)levelMaxConductance / (levelMaxConductance - LevelConductance[0]) : 1.0;

        ColumnSign = new sbyte[(long)groups * PaddedColumns];
        SliceShift = new int[PaddedColumns];
        for (int pc = 0; pc < c; pc++) SliceShift[pc] = config.CellBits * (pc % geometry.Slices);
        FlipGroup = new int[groups];
        var corrections = new List<long[]>();
        ReadsPerGroup = new int[groups]; ColumnsPerGroup = new int[groups]; SkippedOusPerGroup = new int[groups];
        ReadsPerGroupTile = new int[groups * geometry.ColumnTileCount];
        EventArrays = placement?.Arrays ?? geometry.RowTileCount * geometry.ColumnTileCount;
        ReadsPerGroupArray = new int[(long)groups * EventArrays];
        for (int g = 0; g < groups; g++)
        {
            long[]? correction = null;
            for (int pc = 0; pc < c; pc++)
            {
                bool enabled = !skipped[(long)g * OuIds + geometry.OuOfColumn[pc]];
                bool flipped = Flipped[(long)g * c + pc];
                int polarity = pc / geometry.Slices % geometry.Polarities, slice = pc % geometry.Slices;
                ColumnSign[(long)g * PaddedColumns + pc] = (sbyte)(!enabled ? 0 : (polarity == 1) ^ flipped ? -1 : 1);
                if (enabled && flipped)
                {
                    correction ??= new long[n];
                    correction[pc / (geometry.Slices * geometry.Polarities)] += (polarity == 1 ? -1L : 1L) * config.LevelMax << (config.CellBits * slice);
                }
            }
            FlipGroup[g] = correction is null ? -1 : corrections.Count;
            if (correction is not null) corrections.Add(correction);
            for (int ou = 0; ou < OuIds; ou++)
            {
                if (geometry.OuUsedColumns[ou] == 0) continue;
                if (skipped[(long)g * OuIds + ou]) SkippedOusPerGroup[g]++;
                else
                {
                    ReadsPerGroup[g]++; ColumnsPerGroup[g] += geometry.OuUsedColumns[ou];
                    ReadsPerGroupTile[g * geometry.ColumnTileCount + geometry.OuColumnTile[ou]]++;
                    int array = placement?.ArrayOf[g * OuIds + ou] ?? geometry.GroupTile[g] * geometry.ColumnTileCount + geometry.OuColumnTile[ou];
                    ReadsPerGroupArray[(long)g * EventArrays + array]++;
                }
            }
        }
        FlipCorrections = corrections.ToArray();
        ReferenceWeights = new long[(long)groups * n];
        for (int g = 0; g < groups; g++)
            for (int pc = 0; pc < c; pc++)
                ReferenceWeights[(long)g * n + pc / (geometry.Slices * geometry.Polarities)] += (long)ColumnSign[(long)g * PaddedColumns + pc] << SliceShift[pc];

        if (placement is not null && (adcSteps?.Count > 1 || referenceSteps?.Count > 1))
            throw new ArgumentException("ADC steps per array are given per row tile × column tile; with a mapping's OU placement give one step for the layer");
        ArraySteps = ResolveSteps(adcSteps);
        ReferenceSteps = referenceSteps is null ? ArraySteps : ResolveSteps(referenceSteps);
        StepPerColumn = PerColumn(ArraySteps);
        ReferenceStepPerColumn = PerColumn(ReferenceSteps);
        MaxGroupPartialSum = ComputeMaxGroupPartialSum();
        CheckAccumulatorRange();
        IsLossless = config.IsIdealDevice && skipsLossless
            && (config.IsAdcIdeal || (ArraySteps.All(s => s == 1.0) && MaxGroupPartialSum >> config.ConductanceFractionBits <= config.AdcCodeMax));

        _tables = new(() => OuTableSet.TryBuild(this, _tableBudget, configuration), LazyThreadSafetyMode.ExecutionAndPublication);
        _bitCount = new(() => BitCountWeights.TryBuild(this), LazyThreadSafetyMode.ExecutionAndPublication);
        _conductances = new(BuildConductanceMatrix, LazyThreadSafetyMode.ExecutionAndPublication);
        _exactWeights = new(BuildExactWeights, LazyThreadSafetyMode.ExecutionAndPublication);
        _exactBytes = new(BuildExactBytes, LazyThreadSafetyMode.ExecutionAndPublication);
        _columnSums = new(() => Enumerable.Range(0, n).Select(j => Enumerable.Range(0, k).Sum(i => (long)Weights[i * n + j])).ToArray(),
            LazyThreadSafetyMode.ExecutionAndPublication);
        DefaultPath = IsLossless ? SimulationPath.Exact
            : Tables is not null ? SimulationPath.OuTable
            : BitCount is not null ? SimulationPath.BitCount
            : SimulationPath.Conductance;
    }

    /// <summary>Programs a layer: <paramref name="weights"/> holds the K×N signed weight codes row-major
    /// (row = im2col position, column = output channel).</summary>
    /// <param name="config">The crossbar.</param>
    /// <param name="weights">K·N codes in the range of the config's weight bits and encoding.</param>
    /// <param name="k">K, rows of the lowered matrix.</param>
    /// <param name="n">N, logical columns.</param>
    /// <param name="options">Layer name, seed, OU skipping, ADC steps.</param>
    /// <param name="configuration">Parallelism and table budget for programming (no effect on results).</param>
    public static ProgrammedLayer Program(CrossbarConfig config, ReadOnlySpan<int> weights, int k, int n,
        ProgramOptions? options = null, SimConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        options ??= new ProgramOptions();
        configuration ??= SimConfiguration.Default;
        configuration.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (weights.Length != (long)k * n) throw new ArgumentException($"expected {(long)k * n} weight codes (K={k} × N={n}), got {weights.Length}", nameof(weights));
        int max = (1 << (config.WeightBits - 1)) - 1;
        int min = config.WeightEncoding == WeightEncoding.Offset ? -max - 1 : -max;
        foreach (int w in weights)
            if (w < min || w > max)
                throw new ArgumentException($"weight code {w} lies outside [{min}, {max}] ({config.WeightBits}-bit, {config.WeightEncoding} encoding)", nameof(weights));
        return new ProgrammedLayer(config, new LayerGeometry(config, k, n), options.Name, options.Seed, weights, options.OuSkip, options.Placement,
            options.PrecisionIndex, options.AdcSteps, options.ReferenceAdcSteps, options.DigitalScales, configuration);
    }

    /// <summary>The crossbar.</summary>
    public CrossbarConfig Config { get; }
    /// <summary>Tiles, row groups and OUs of the layer.</summary>
    public LayerGeometry Geometry { get; }
    /// <summary>The layer's name (part of every random key).</summary>
    public string Name { get; }
    /// <summary>The programmed model's seed.</summary>
    public ulong Seed { get; }
    /// <summary>True when the simulation equals the integer product a'·W exactly: no non-ideality, ideal
    /// ADC or step 1 with every OU partial sum within 2^A − 1 (checked on the programmed levels, which
    /// the config-level bound of docs/hardware.md §0 implies), and only all-zero OUs skipped.</summary>
    public bool IsLossless { get; }
    /// <summary>The path <see cref="Run"/> takes unless told otherwise.</summary>
    public SimulationPath DefaultPath { get; }
    /// <summary>ADC step of each array (row tile × column tile, row-major).</summary>
    public IReadOnlyList<double> Steps => ArraySteps;

    internal ulong LayerKey { get; }
    internal int[] Weights { get; }
    /// <summary>K × C physical levels (after flip and faults).</summary>
    internal byte[] Levels { get; }
    /// <summary>G × C: the column stores complements in that row group.</summary>
    internal bool[] Flipped { get; }
    /// <summary>K × C conductances in units of 2^−F when programming variation is on, else null.</summary>
    internal int[]? CellConductance { get; }
    /// <summary>Conductance of each level in units of 2^−F (no variation).</summary>
    internal int[] LevelConductance { get; }
    /// <summary>C rounded up to 64, the stride of per-column arrays.</summary>
    internal int PaddedColumns { get; }
    /// <summary>G × padded C: polarity sign × flip sign, 0 when the OU is skipped.</summary>
    internal sbyte[] ColumnSign { get; }
    /// <summary>Per physical column (padded C): c·s, the shift of its slice.</summary>
    internal int[] SliceShift { get; }
    /// <summary>Index into <see cref="FlipCorrections"/> per row group, −1 without flipped columns.</summary>
    internal int[] FlipGroup { get; }
    /// <summary>Per listed row group and logical column: (2^c−1)·Σ_(flipped polarity, s) ±2^(c·s).</summary>
    internal long[][] FlipCorrections { get; }
    internal int[] ReadsPerGroup { get; }
    internal int[] ColumnsPerGroup { get; }
    internal int[] SkippedOusPerGroup { get; }
    /// <summary>Row groups × column tiles: the OUs of the group read in that column tile (the ADC steps' arrays).</summary>
    internal int[] ReadsPerGroupTile { get; }
    /// <summary>Per row group, the precision-table bits one of its OU-read rounds reads (0 without a table).</summary>
    internal long[] IndexBitsPerGroup { get; }
    /// <summary>Arrays events are counted over: the placement's, or row tiles × column tiles.</summary>
    internal int EventArrays { get; }
    /// <summary>Row groups × <see cref="EventArrays"/>: the OUs of the group read in that array.</summary>
    internal int[] ReadsPerGroupArray { get; }
    internal double[] ArraySteps { get; }
    /// <summary>ADC step of each array's reference-column conversions.</summary>
    internal double[] ReferenceSteps { get; }
    /// <summary>Segments × N: the factor of a segment's integer sum, the step of its array (2^−F with an ideal ADC) times
    /// <see cref="ReferenceGain"/> times its digital scale.</summary>
    internal double[] StepPerColumn { get; }
    /// <summary>Segments × N: the factor of a segment's reference codes, as <see cref="StepPerColumn"/> with the reference steps.</summary>
    internal double[] ReferenceStepPerColumn { get; }
    /// <summary>The row groups of digital segment s are [SegmentFirstGroup[s], SegmentFirstGroup[s + 1]): the row tiles,
    /// or with digital scales the runs of a tile's row groups that share their scale in every column.</summary>
    internal int[] SegmentFirstGroup { get; }
    /// <summary>Row tile of each digital segment (whose arrays' ADCs convert its reads).</summary>
    internal int[] SegmentTile { get; }
    /// <summary>Segments × N digital scales, or null without them (every scale 1: the integer domain).</summary>
    internal double[]? SegmentScales { get; }
    /// <summary>Digital segments.</summary>
    internal int SegmentCount => SegmentTile.Length;
    /// <summary>G_max/(G_max − G_min) with a reference column under leakage, else 1.</summary>
    internal double ReferenceGain { get; }
    /// <summary>Row groups × N: Σ over the logical column's bitlines of sign·2^(c·s) (0 where the OU is skipped), the
    /// weight of a reference code in the column's shift-and-add.</summary>
    internal long[] ReferenceWeights { get; }
    /// <summary>Largest (2^d−1)·Σ_(i in group) G over row groups and enabled columns, in units of 2^−F.</summary>
    internal long MaxGroupPartialSum { get; }
    internal int OuIds => Geometry.ColumnTileCount * Geometry.OusPerColumnTile;
    internal OuTableSet? Tables => _tables.Value;
    internal BitCountWeights? BitCount => _bitCount.Value;
    internal int[] ConductanceMatrix => _conductances.Value;
    internal double[] ExactWeights => _exactWeights.Value;
    /// <summary>The weights packed for <see cref="Kernels.ByteProductKernel"/>, or null when they do not fit signed bytes or are
    /// scaled digitally (the product is then float64).</summary>
    internal sbyte[]? ExactBytes => _exactBytes.Value;
    /// <summary>Σ_i W[i, j] of the weight codes per logical column.</summary>
    internal long[] ColumnSums => _columnSums.Value;

    /// <summary>Whether <paramref name="path"/> can simulate this layer.</summary>
    public bool Supports(SimulationPath path) => path switch
    {
        SimulationPath.Exact => IsLossless,
        SimulationPath.OuTable => Tables is not null,
        SimulationPath.BitCount => BitCount is not null,
        _ => true,
    };

    /// <summary>Simulates <paramref name="pixels"/> rows of activation codes (row-major, K codes each, in
    /// [0, 2^ba): unsigned values, or two's-complement patterns with <see cref="RunOptions.SignedActivations"/>)
    /// and writes pixels × N outputs in the integer domain (before weight and activation scales). Returns the
    /// events of the run.</summary>
    public EventCounts Run(ReadOnlyMemory<byte> activations, Memory<double> output, int pixels,
        SimConfiguration? configuration = null, RunOptions? options = null)
    {
        configuration ??= SimConfiguration.Default;
        options ??= RunOptions.Default;
        configuration.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(pixels);
        if (activations.Length < (long)pixels * Geometry.K) throw new ArgumentException($"expected {(long)pixels * Geometry.K} activation codes", nameof(activations));
        if (output.Length < (long)pixels * Geometry.N) throw new ArgumentException($"expected room for {(long)pixels * Geometry.N} outputs", nameof(output));
        if (Config.ActivationBits < 8)
        {
            int limit = 1 << Config.ActivationBits;
            foreach (byte a in activations.Span[..(pixels * Geometry.K)])
                if (a >= limit) throw new ArgumentException($"activation code {a} exceeds {Config.ActivationBits} bits", nameof(activations));
        }
        var path = options.Path ?? DefaultPath;
        if (!Supports(path)) throw new ArgumentException($"path {path} does not apply to layer '{Name}'", nameof(options));
        if (options.SignedActivations && (Config.ActivationBits - 1) % Config.DacBits != 0)
            throw new ArgumentException($"signed activations stream the sign bit as a digit of its own: {Config.ActivationBits} activation bits need a DAC of 1 bit or of a divisor of {Config.ActivationBits - 1} bits, not {Config.DacBits}", nameof(options));
        if (pixels == 0) return EventCounts.Zero;
        if (options.DigitPolicy is { RewritesCodes: true } rewriting)
        {
            // The rewritten codes are what the crossbars stream: every path and the event tally read them.
            var rewritten = activations[..(pixels * Geometry.K)].ToArray();
            for (int p = 0; p < pixels; p++)
                rewriting.Rewrite(options.FirstPixel + p, rewritten.AsSpan(p * Geometry.K, Geometry.K), Geometry, options.SignedActivations);
            activations = rewritten;
        }
        // A digit policy examines every input of every pixel once to choose its group's digits.
        long selections = options.DigitPolicy is null ? 0 : (long)pixels * Geometry.K;
        if (!options.SignedActivations || SignedInOnePass(path, configuration))
        {
            var tally = RunPath(path, new RunContext(this, activations, output, pixels, configuration, options));
            return options.CountEvents ? tally.ToEvents(this, selections) : EventCounts.Zero;
        }

        // Two's complement: the sign digit's reads are those of the unsigned pattern; its shift-added codes are
        // computed as a sum of their own (the digits other than the sign digit unread) and subtracted last.
        uint sign = 1u << (Config.Digits - 1);
        var magnitude = RunPath(path, new RunContext(this, activations, output, pixels, configuration,
            options with { DigitPolicy = new DigitSubset(options.DigitPolicy, ~sign) }));
        int length = pixels * Geometry.N;
        var signOutput = ArrayPool<double>.Shared.Rent(length);
        EventTally signTally;
        try
        {
            signTally = RunPath(path, new RunContext(this, activations, signOutput.AsMemory(0, length), pixels, configuration,
                options with { DigitPolicy = new DigitSubset(options.DigitPolicy, sign) }));
            var y = output.Span;
            for (int e = 0; e < length; e++) y[e] -= signOutput[e];
        }
        finally { ArrayPool<double>.Shared.Return(signOutput); }
        if (!options.CountEvents) return EventCounts.Zero;
        magnitude.Add(signTally);
        magnitude.RemoveSkipped((long)pixels * Config.Digits);
        return magnitude.ToEvents(this, selections);
    }

    /// <summary>The exact path's byte product takes two's-complement codes in one pass (<see cref="Kernels.ExactKernel"/>): the
    /// streamed pattern's value plus 2^(ba−1) is an unsigned code, and the constant 2^(ba−1)·Σ_i W[i, j] is subtracted after
    /// the product. The same integers as the two runs below, and the same events: one run's digits are the two runs' digits.</summary>
    internal bool SignedInOnePass(SimulationPath path, SimConfiguration configuration) =>
        path == SimulationPath.Exact && ExactBytes is not null && Kernels.ByteProductKernel.Vectorized(configuration);

    /// <summary>The events <see cref="Run"/> counts when every digit of every input vector is streamed (no digit
    /// policy), from the vectors' digit statistics (<see cref="DigitStatistics.Of"/>, <see cref="ConvInput.CountDigits"/>):
    /// for a caller that computes a lossless layer as the exact integer product by other means (libtorch).
    /// Unsigned and two's-complement patterns read alike.</summary>
    public EventCounts EventsOfAllDigits(DigitStatistics statistics)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        int groups = Geometry.RowGroupCount;
        if (statistics.NonzeroDigits.Count != groups) throw new ArgumentException($"statistics of {statistics.NonzeroDigits.Count} row groups, layer '{Name}' has {groups}", nameof(statistics));
        var tally = new EventTally(groups);
        for (int g = 0; g < groups; g++) tally.Record(g, statistics.Vectors * Config.Digits, 0, statistics.NonzeroDigits[g], statistics.ZeroDigits[g]);
        return tally.ToEvents(this);
    }

    private EventTally RunPath(SimulationPath path, RunContext run)
    {
        var tally = path switch
        {
            SimulationPath.Exact => ExactKernel.Run(run),
            SimulationPath.OuTable => OuTableKernel.Run(run),
            SimulationPath.BitCount => BitCountKernel.Run(run),
            _ => ConductanceKernel.Run(run),
        };
        if (Config.ReferenceColumn && Config.HasLeakage) SubtractReference(run);
        return tally;
    }

    /// <summary>The digits of an inner schedule (all digits without one) that lie in a fixed set.</summary>
    private sealed class DigitSubset(IInputDigitPolicy? inner, uint allowed) : IInputDigitPolicy
    {
        public void SelectDigits(long pixel, ReadOnlySpan<byte> activations, LayerGeometry geometry, Span<uint> digitMasks)
        {
            inner?.SelectDigits(pixel, activations, geometry, digitMasks);
            for (int g = 0; g < digitMasks.Length; g++) digitMasks[g] &= allowed;
        }
    }

}
