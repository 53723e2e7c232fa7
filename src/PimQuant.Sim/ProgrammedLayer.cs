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
public sealed class ProgrammedLayer
{
    private readonly Lazy<OuTableSet?> _tables;
    private readonly Lazy<BitCountWeights?> _bitCount;
    private readonly Lazy<int[]> _conductances;
    private readonly Lazy<double[]> _exactWeights;
    private readonly long _tableBudget;

    private ProgrammedLayer(CrossbarConfig config, LayerGeometry geometry, string name, ulong seed, ReadOnlySpan<int> weights,
        IOuSkipPolicy? ouSkip, OuPlacement? placement, IReadOnlyList<double>? adcSteps, IReadOnlyList<double>? referenceSteps,
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
            options.AdcSteps, options.ReferenceAdcSteps, options.DigitalScales, configuration);
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
        if (!options.SignedActivations)
        {
            var tally = RunPath(path, new RunContext(this, activations, output, pixels, configuration, options));
            return options.CountEvents ? tally.ToEvents(this) : EventCounts.Zero;
        }

        // Two's complement: the sign digit's reads are those of the unsigned pattern; its shift-added codes are
        // computed as a sum of their own (the digits other than the sign digit unread) and subtracted last.
        uint sign = 1u << (Config.Digits - 1);
        var magnitude = RunPath(path, new RunContext(this, activations, output, pixels, configuration,
            options with { DigitPolicy = new DigitSubset(options.DigitPolicy, ~sign) }));
        var signOutput = new double[pixels * Geometry.N];
        var signTally = RunPath(path, new RunContext(this, activations, signOutput, pixels, configuration,
            options with { DigitPolicy = new DigitSubset(options.DigitPolicy, sign) }));
        var y = output.Span;
        for (int e = 0; e < signOutput.Length; e++) y[e] -= signOutput[e];
        if (!options.CountEvents) return EventCounts.Zero;
        magnitude.Add(signTally);
        magnitude.RemoveSkipped((long)pixels * Config.Digits);
        return magnitude.ToEvents(this);
    }

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

    /// <summary>The largest ideal partial sum p = Σ_(rows of a group) digit·G (in levels, no read noise, before
    /// the ADC) that any read of these pixels produces, per array (row tile × column tile, row-major, the
    /// order of <see cref="ProgramOptions.AdcSteps"/>): the statistic from which an ADC step is calibrated on
    /// the programmed chip. Skipped OUs are not read. Codes as in <see cref="Run"/>.</summary>
    public double[] PeakPartialSums(ReadOnlyMemory<byte> activations, int pixels, SimConfiguration? configuration = null)
    {
        configuration ??= SimConfiguration.Default;
        configuration.Validate();
        int k = Geometry.K, c = Geometry.PhysicalColumns, tiles = Geometry.ColumnTileCount, d = Config.DacBits;
        if (activations.Length < (long)pixels * k) throw new ArgumentException($"expected {(long)pixels * k} activation codes", nameof(activations));
        var conductance = new int[(long)k * c];
        for (long cell = 0; cell < conductance.Length; cell++) conductance[cell] = Conductance(cell);
        var peaks = new long[Geometry.RowTileCount * tiles];
        var gate = new object();
        Parallel.For(0, pixels, new ParallelOptions { MaxDegreeOfParallelism = configuration.Threads },
            () => (Sums: new long[c], Peaks: new long[peaks.Length]),
            (p, _, local) =>
            {
                var a = activations.Span.Slice(p * k, k);
                for (int g = 0; g < Geometry.RowGroupCount; g++)
                {
                    int start = Geometry.GroupStart[g], rows = Geometry.GroupRows[g], rowTile = Geometry.GroupTile[g];
                    for (int t = 0; t < Config.Digits; t++)
                    {
                        Array.Clear(local.Sums);
                        for (int i = start; i < start + rows; i++)
                        {
                            int digit = a[i] >> (d * t) & Config.DigitMax;
                            if (digit == 0) continue;
                            var row = conductance.AsSpan(i * c, c);
                            for (int pc = 0; pc < c; pc++) local.Sums[pc] += digit * row[pc];
                        }
                        for (int pc = 0; pc < c; pc++)
                        {
                            if (ColumnSign[(long)g * PaddedColumns + pc] == 0) continue;
                            int array = rowTile * tiles + Geometry.OuColumnTile[Geometry.OuOfColumn[pc]];
                            local.Peaks[array] = Math.Max(local.Peaks[array], local.Sums[pc]);
                        }
                    }
                }
                return local;
            },
            local => { lock (gate) for (int i = 0; i < peaks.Length; i++) peaks[i] = Math.Max(peaks[i], local.Peaks[i]); });
        return peaks.Select(v => Math.ScaleB(v, -Config.ConductanceFractionBits)).ToArray();
    }

    /// <summary>Per code: bit t moved to bit 8·t, so that adding the words of up to 255 codes counts each bit in a byte.</summary>
    private static readonly ulong[] BitSpread = Enumerable.Range(0, 256).Select(code =>
    {
        ulong spread = 0;
        for (int t = 0; t < 8; t++) spread |= (ulong)(code >> t & 1) << (8 * t);
        return spread;
    }).ToArray();

    /// <summary>The largest partial sum of the reference column (<see cref="CrossbarSettings.ReferenceColumn"/>),
    /// G_min·Σ_(rows of a group) digit, over the reads of these pixels, per array as <see cref="PeakPartialSums"/>
    /// (0 without leakage): the statistic from which <see cref="ProgramOptions.ReferenceAdcSteps"/> are calibrated.</summary>
    public double[] PeakReferencePartialSums(ReadOnlyMemory<byte> activations, int pixels)
    {
        int k = Geometry.K, tiles = Geometry.ColumnTileCount, d = Config.DacBits;
        if (activations.Length < (long)pixels * k) throw new ArgumentException($"expected {(long)pixels * k} activation codes", nameof(activations));
        var peaks = new long[Geometry.RowTileCount * tiles];
        for (int p = 0; p < pixels; p++)
        {
            var a = activations.Span.Slice(p * k, k);
            for (int g = 0; g < Geometry.RowGroupCount; g++)
                for (int t = 0; t < Config.Digits; t++)
                {
                    long sum = 0;
                    foreach (byte code in a.Slice(Geometry.GroupStart[g], Geometry.GroupRows[g])) sum += code >> (d * t) & Config.DigitMax;
                    for (int ct = 0; ct < tiles; ct++)
                        if (ReadsPerGroupTile[g * tiles + ct] > 0)
                        {
                            int array = Geometry.GroupTile[g] * tiles + ct;
                            peaks[array] = Math.Max(peaks[array], sum * LevelConductance[0]);
                        }
                }
        }
        return peaks.Select(v => Math.ScaleB(v, -Config.ConductanceFractionBits)).ToArray();
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

    /// <summary>The reference column (<see cref="CrossbarSettings.ReferenceColumn"/>): for each pixel, row group and
    /// streamed digit its partial sum G_min·Σ digits is converted by every array's ADC, and
    /// y_j −= Σ_segments factor_j·Σ_(g in segment) W_j(g)·Σ_t 2^(d·t)·code(g, t, array of j), with W_j(g) from
    /// <see cref="ReferenceWeights"/>: each bitline's code less the reference's, shift-added alike and, like the
    /// exact digital terms, after the kernel's tiles. Draws nothing, so it adds no randomness.</summary>
    private void SubtractReference(RunContext run)
    {
        var geometry = Geometry;
        int k = geometry.K, n = geometry.N, groups = geometry.RowGroupCount, tiles = geometry.ColumnTileCount;
        int digits = Config.Digits, d = Config.DacBits, digitMax = Config.DigitMax;
        long leak = LevelConductance[0];
        var adcs = Config.IsAdcIdeal ? null : ReferenceSteps.Select(s => new AdcQuantizer(s, Config.ConductanceFractionBits, Config.AdcCodeMax)).ToArray();
        var policy = run.Options.DigitPolicy;
        bool bitCounters = d == 1 && Config.OuRows <= byte.MaxValue;
        Parallel.For(0, run.Pixels, new ParallelOptions { MaxDegreeOfParallelism = run.Configuration.Threads },
            () => (Masks: new uint[groups], Codes: new long[groups * tiles]),
            (p, _, local) =>
            {
                var a = run.Activations.Span.Slice(p * k, k);
                local.Masks.AsSpan().Fill(run.AllDigits);
                if (policy is not null)
                {
                    policy.SelectDigits(run.Options.FirstPixel + p, a, geometry, local.Masks);
                    for (int g = 0; g < groups; g++) local.Masks[g] &= run.AllDigits;
                }
                Array.Clear(local.Codes);
                for (int g = 0; g < groups; g++)
                {
                    var rows = a.Slice(geometry.GroupStart[g], geometry.GroupRows[g]);
                    int rowTile = geometry.GroupTile[g];
                    // 1-bit digits of up to 255 rows: eight byte-wide counters in one word, one addition per row.
                    ulong counters = 0;
                    if (bitCounters) foreach (byte code in rows) counters += BitSpread[code];
                    for (int t = 0; t < digits; t++)
                    {
                        if ((local.Masks[g] >> t & 1) == 0) continue;
                        long sum = 0;
                        if (bitCounters) sum = (long)(counters >> (8 * t) & 0xFF);
                        else foreach (byte code in rows) sum += code >> (d * t) & digitMax;
                        for (int ct = 0; ct < tiles; ct++)
                            local.Codes[g * tiles + ct] += (adcs is null ? sum * leak : adcs[rowTile * tiles + ct].Code(sum * leak)) << (d * t);
                    }
                }
                var y = run.Output.Span.Slice(p * n, n);
                for (int j = 0; j < n; j++)
                {
                    int ct = geometry.ColumnTileOf(j);
                    double correction = 0;
                    for (int segment = 0; segment < SegmentCount; segment++)
                    {
                        long sum = 0;
                        for (int g = SegmentFirstGroup[segment]; g < SegmentFirstGroup[segment + 1]; g++)
                            sum += local.Codes[g * tiles + ct] * ReferenceWeights[(long)g * n + j];
                        correction += ReferenceStepPerColumn[segment * n + j] * sum;
                    }
                    y[j] -= correction;
                }
                return local;
            },
            _ => { });
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

    private void WriteIntendedLevels(ReadOnlySpan<int> weights)
    {
        var cfg = Config;
        int n = Geometry.N, c = Geometry.PhysicalColumns;
        int offset = cfg.WeightEncoding == WeightEncoding.Offset ? 1 << (cfg.WeightBits - 1) : 0;
        for (int i = 0; i < Geometry.K; i++)
            for (int j = 0; j < n; j++)
            {
                int w = weights[i * n + j];
                for (int polarity = 0; polarity < cfg.Polarities; polarity++)
                {
                    int magnitude = cfg.WeightEncoding == WeightEncoding.Offset ? w + offset : polarity == 0 ? Math.Max(w, 0) : Math.Max(-w, 0);
                    for (int s = 0; s < cfg.Slices; s++)
                        Levels[(long)i * c + Geometry.PhysicalColumn(j, polarity, s)] = (byte)((magnitude >> (cfg.CellBits * s)) & cfg.LevelMax);
                }
            }
    }

    // ISAAC's encoding: a column whose levels sum past half the group's maximum stores complements.
    private void FlipColumns()
    {
        int c = Geometry.PhysicalColumns, levelMax = Config.LevelMax;
        var sums = new int[c];
        for (int g = 0; g < Geometry.RowGroupCount; g++)
        {
            int start = Geometry.GroupStart[g], rows = Geometry.GroupRows[g];
            Array.Clear(sums);
            for (int i = start; i < start + rows; i++)
                for (int pc = 0; pc < c; pc++) sums[pc] += Levels[(long)i * c + pc];
            for (int pc = 0; pc < c; pc++)
            {
                if (2L * sums[pc] <= (long)rows * levelMax) continue;
                Flipped[(long)g * c + pc] = true;
                for (int i = start; i < start + rows; i++) Levels[(long)i * c + pc] = (byte)(levelMax - Levels[(long)i * c + pc]);
            }
        }
    }

    private bool[] ResolveOuSkips(IOuSkipPolicy? policy, OuPlacement? placement, out bool skipsLossless)
    {
        var skipped = new bool[(long)Geometry.RowGroupCount * OuIds];
        skipsLossless = true;
        if (policy is null && placement is null) return skipped;
        int c = Geometry.PhysicalColumns;
        var nonzero = new bool[OuIds];
        for (int g = 0; g < Geometry.RowGroupCount; g++)
        {
            Array.Clear(nonzero);
            int start = Geometry.GroupStart[g], rows = Geometry.GroupRows[g];
            for (int i = start; i < start + rows; i++)
                for (int pc = 0; pc < c; pc++)
                    if (Levels[(long)i * c + pc] != 0) nonzero[Geometry.OuOfColumn[pc]] = true;
            for (int ou = 0; ou < OuIds; ou++)
            {
                if (Geometry.OuUsedColumns[ou] == 0) continue;
                var block = new ProgrammedOu(g, ou, start, rows, Geometry.OuUsedColumns[ou], !nonzero[ou]);
                bool unplaced = placement is not null && placement.ArrayOf[g * OuIds + ou] < 0;
                if (!unplaced && policy?.Skip(block) != true) continue;
                skipped[(long)g * OuIds + ou] = true;
                skipsLossless &= block.AllLevelsZero;
            }
        }
        return skipped;
    }

    // Faults and variation are drawn per cell from (seed, layer, purpose, row, physical column), so the
    // result is the same for any thread count.
    private int[]? ApplyFaultsAndVariation(SimConfiguration configuration)
    {
        var cfg = Config;
        if (!cfg.HasFaults && !cfg.HasVariation) return null;
        int c = Geometry.PhysicalColumns, levelMax = cfg.LevelMax;
        var ni = cfg.NonIdealities;
        double leak = cfg.HasLeakage ? levelMax / ni.OnOffRatio : 0;
        int[]? conductance = cfg.HasVariation ? new int[(long)Geometry.K * c] : null;
        Parallel.For(0, Geometry.K, new ParallelOptions { MaxDegreeOfParallelism = configuration.Threads }, i =>
        {
            for (int pc = 0; pc < c; pc++)
            {
                long cell = (long)i * c + pc;
                int level = Levels[cell];
                bool stuck = false;
                if (cfg.HasFaults)
                {
                    double u = SimRandom.Uniform(SimRandom.CellKey(Seed, LayerKey, RandomPurpose.Fault, i, pc));
                    if (u < ni.StuckAtZero) { level = 0; stuck = true; }
                    else if (u < ni.StuckAtZero + ni.StuckAtOne) { level = levelMax; stuck = true; }
                    Levels[cell] = (byte)level;
                }
                if (conductance is null) continue;
                double nominal = level > 0 ? level : leak;
                if (!stuck)
                {
                    var v = ni.Variation!;
                    double sigma = v.SigmaPerLevel?[level] ?? v.Sigma;
                    double z = SimRandom.Normal(SimRandom.CellKey(Seed, LayerKey, RandomPurpose.Variation, i, pc));
                    nominal *= v.Kind == VariationKind.Gaussian ? 1 + sigma * z : Math.Exp(sigma * z);
                }
                conductance[cell] = RoundConductance(Math.Max(nominal, 0));
            }
        });
        return conductance;
    }

    private int RoundConductance(double levels)
    {
        double scaled = Math.Floor(Math.ScaleB(levels, Config.ConductanceFractionBits) + 0.5);
        if (scaled >= int.MaxValue) throw new NotSupportedException($"a conductance of {levels} levels overflows 32 bits at {Config.ConductanceFractionBits} fraction bits");
        return (int)scaled;
    }

    private double[] ResolveSteps(IReadOnlyList<double>? steps)
    {
        int arrays = Geometry.RowTileCount * Geometry.ColumnTileCount;
        if (steps is null) return Enumerable.Repeat(Config.NominalStep, arrays).ToArray();
        if (steps.Count != 1 && steps.Count != arrays)
            throw new ArgumentException($"ADC steps: give 1 (layer) or {arrays} (row tiles {Geometry.RowTileCount} × column tiles {Geometry.ColumnTileCount}) values, not {steps.Count}");
        foreach (double s in steps)
            if (!double.IsFinite(s) || s <= 0 || Math.ScaleB(s, Config.ConductanceFractionBits) > 1e300)
                throw new ArgumentException($"ADC step {s} must be finite and > 0");
        return steps.Count == 1 ? Enumerable.Repeat(steps[0], arrays).ToArray() : steps.ToArray();
    }

    /// <summary>Segments × N: the factor of a segment's integer sum of codes from <paramref name="arraySteps"/> (2^−F with an
    /// ideal ADC), times <see cref="ReferenceGain"/>, times the segment's digital scale.</summary>
    private double[] PerColumn(double[] arraySteps)
    {
        int n = Geometry.N;
        var steps = new double[SegmentCount * n];
        for (int segment = 0; segment < SegmentCount; segment++)
            for (int j = 0; j < n; j++)
            {
                double step = (Config.IsAdcIdeal
                    ? Math.ScaleB(1.0, -Config.ConductanceFractionBits)
                    : arraySteps[SegmentTile[segment] * Geometry.ColumnTileCount + Geometry.ColumnTileOf(j)]) * ReferenceGain;
                steps[segment * n + j] = SegmentScales is null ? step : step * SegmentScales[segment * n + j];
            }
        return steps;
    }

    /// <summary>
    /// The digital segments: without digital scales the row tiles; with them, each row tile's OU row groups in runs
    /// that share one scale per column, every row of a row group checked to carry its group's scale (an OU's partial
    /// sum is one conversion, so it takes one scale on the digital side).
    /// </summary>
    private (int[] First, int[] Tile, double[]? Scales) ResolveSegments(IReadOnlyList<double>? scales)
    {
        var geometry = Geometry;
        int n = geometry.N, groups = geometry.RowGroupCount;
        if (scales is null) return (geometry.TileFirstGroup.ToArray(), Enumerable.Range(0, geometry.RowTileCount).ToArray(), null);
        if (scales.Count != (long)geometry.K * n)
            throw new ArgumentException($"digital scales: expected one per weight ({(long)geometry.K * n} = K {geometry.K} × N {n}), got {scales.Count}");
        foreach (double value in scales)
            if (!double.IsFinite(value) || value <= 0) throw new ArgumentException($"digital scale {value} must be finite and > 0");
        var first = new List<int>(); var tile = new List<int>(); var rows = new List<double>();
        int segmentRow = -1;
        for (int g = 0; g < groups; g++)
        {
            int start = geometry.GroupStart[g];
            for (int i = start + 1; i < start + geometry.GroupRows[g]; i++)
                for (int j = 0; j < n; j++)
                    if (scales[i * n + j] != scales[start * n + j])
                        throw new ArgumentException($"digital scales: rows {start} and {i} of one OU row group (rows {start}..{start + geometry.GroupRows[g] - 1}) " +
                            $"have scales {scales[start * n + j]} and {scales[i * n + j]} in column {j}; an OU's partial sum is converted once and scaled once, " +
                            "so the rows of an OU row group share one scale per column");
            bool same = segmentRow >= 0 && tile[^1] == geometry.GroupTile[g];
            for (int j = 0; same && j < n; j++) same = scales[start * n + j] == scales[segmentRow * n + j];
            if (same) continue;
            first.Add(g); tile.Add(geometry.GroupTile[g]);
            for (int j = 0; j < n; j++) rows.Add(scales[start * n + j]);
            segmentRow = start;
        }
        first.Add(groups);
        return (first.ToArray(), tile.ToArray(), rows.ToArray());
    }

    /// <summary>The conductance of a cell in units of 2^−F.</summary>
    internal int Conductance(long cell) => CellConductance?[cell] ?? LevelConductance[Levels[cell]];

    private long ComputeMaxGroupPartialSum()
    {
        int c = Geometry.PhysicalColumns;
        long max = 0;
        var sums = new long[c];
        for (int g = 0; g < Geometry.RowGroupCount; g++)
        {
            Array.Clear(sums);
            int start = Geometry.GroupStart[g], rows = Geometry.GroupRows[g];
            for (int i = start; i < start + rows; i++)
                for (int pc = 0; pc < c; pc++) sums[pc] += Conductance((long)i * c + pc);
            for (int pc = 0; pc < c; pc++)
                if (ColumnSign[(long)g * PaddedColumns + pc] != 0) max = Math.Max(max, sums[pc]);
        }
        return max * Config.DigitMax;
    }

    // The general path sums partial sums in 32-bit lanes and tile sums in int64; refuse layers that
    // could overflow either instead of silently wrapping.
    private void CheckAccumulatorRange()
    {
        var cfg = Config;
        if (MaxGroupPartialSum >= int.MaxValue)
            throw new NotSupportedException($"layer '{Name}': an OU partial sum can reach {MaxGroupPartialSum} units of 2^-{cfg.ConductanceFractionBits}, beyond 32 bits; lower the conductance fraction bits");
        int groupsPerTile = 0;
        for (int rt = 0; rt < Geometry.RowTileCount; rt++)
            groupsPerTile = Math.Max(groupsPerTile, Geometry.TileFirstGroup[rt + 1] - Geometry.TileFirstGroup[rt]);
        double code = cfg.IsAdcIdeal ? MaxGroupPartialSum * 2.0 + 1 : cfg.AdcCodeMax;
        double bound = groupsPerTile * code * Math.ScaleB(1.0, cfg.DacBits * cfg.Digits) * Math.ScaleB(1.0, cfg.CellBits * cfg.Slices) * cfg.Polarities;
        if (bound >= Math.ScaleB(1.0, 62))
            throw new NotSupportedException($"layer '{Name}': tile sums could overflow 64 bits; lower the conductance fraction bits");
    }

    // Chunk-major per row group: the rows of one (group, 32-column chunk) are contiguous, so summing them
    // never walks a stride that is a multiple of 4 KiB (which would keep them all in one L1 set).
    private int[] BuildConductanceMatrix()
    {
        int c = Geometry.PhysicalColumns, padded = PaddedColumns;
        var matrix = new int[(long)Geometry.K * padded];
        for (int g = 0; g < Geometry.RowGroupCount; g++)
        {
            int start = Geometry.GroupStart[g], rows = Geometry.GroupRows[g];
            for (int r = 0; r < rows; r++)
                for (int pc = 0; pc < c; pc++)
                    matrix[(long)start * padded + (long)(pc / ConductanceChunk) * rows * ConductanceChunk + r * ConductanceChunk + pc % ConductanceChunk]
                        = Conductance((long)(start + r) * c + pc);
        }
        return matrix;
    }

    /// <summary>Columns per block of the conductance matrix.</summary>
    internal const int ConductanceChunk = 32;

    // Panels of 16 columns, each K × 16 contiguous, for the same reason. With digital scales each weight carries its
    // segment's scale, so the lossless product is Σ a·w·scale (equal to the segmented sum up to float64 rounding).
    private double[] BuildExactWeights()
    {
        int k = Geometry.K, n = Geometry.N, panels = (n + 15) / 16;
        var matrix = new double[(long)panels * k * 16];
        for (int segment = 0; segment < SegmentCount; segment++)
            for (int g = SegmentFirstGroup[segment]; g < SegmentFirstGroup[segment + 1]; g++)
                for (int i = Geometry.GroupStart[g]; i < Geometry.GroupStart[g] + Geometry.GroupRows[g]; i++)
                    for (int j = 0; j < n; j++)
                        matrix[((long)(j / 16) * k + i) * 16 + j % 16] = SegmentScales is null ? Weights[i * n + j] : Weights[i * n + j] * SegmentScales[segment * n + j];
        return matrix;
    }
}
