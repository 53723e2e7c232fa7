namespace PimQuant.Sim;

// Programming the cells: levels, column flip, OU skips, faults and variation, and the matrices the paths read.
public sealed partial class ProgrammedLayer
{
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
    private sbyte[]? BuildExactBytes() =>
        SegmentScales is null && Weights.All(w => w is >= sbyte.MinValue and <= sbyte.MaxValue)
            ? Kernels.ByteProductKernel.Pack(Weights, Geometry.K, Geometry.N) : null;

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
