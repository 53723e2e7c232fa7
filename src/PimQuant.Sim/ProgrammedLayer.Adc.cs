using PimQuant.Sim.Kernels;

namespace PimQuant.Sim;

// ADC steps, digital segments and their calibration statistics, and the reference column's subtraction.
public sealed partial class ProgrammedLayer
{
    /// <summary>The largest ideal partial sum p = Σ_(rows of a group) digit·G (in levels, no read noise, before
    /// the ADC) that any read of these pixels produces, per array (row tile × column tile, row-major, the
    /// order of <see cref="ProgramOptions.AdcSteps"/>): the statistic from which an ADC step is calibrated on
    /// the programmed chip. Skipped OUs are not read. Codes as in <see cref="Run"/>.</summary>
    public double[] PeakPartialSums(ReadOnlyMemory<byte> activations, int pixels, SimConfiguration? configuration = null)
    {
        configuration ??= SimConfiguration.Default;
        configuration.Validate();
        int k = Geometry.K, c = Geometry.PhysicalColumns, tiles = Geometry.ColumnTileCount;
        if (activations.Length < (long)pixels * k) throw new ArgumentException($"expected {(long)pixels * k} activation codes", nameof(activations));
        var conductance = CellConductances();
        var peaks = new long[Geometry.RowTileCount * tiles];
        var gate = new object();
        Parallel.For(0, pixels, new ParallelOptions { MaxDegreeOfParallelism = configuration.Threads },
            () => (Sums: new long[c], Peaks: new long[peaks.Length]),
            (p, _, local) =>
            {
                var a = activations.Span.Slice(p * k, k);
                for (int g = 0; g < Geometry.RowGroupCount; g++)
                {
                    int rowTile = Geometry.GroupTile[g];
                    for (int t = 0; t < Config.Digits; t++)
                    {
                        Array.Clear(local.Sums);
                        SumReadRows(a, g, t, conductance, local.Sums);
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
}
