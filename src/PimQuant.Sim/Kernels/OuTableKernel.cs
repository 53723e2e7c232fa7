using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PimQuant.Sim.Kernels;

/// <summary>Lookup tables of the narrow-OU path. With no read noise an OU's codes depend only on its
/// ou_rows input digits (the cells are fixed at programming), so per row group g and digit pattern x
/// (Σ_i digit_i·2^(d·i)) the table holds, for every logical column j,
/// TABLE[g][x][j] = Σ_(polarity, s) sign·2^(c·s)·code(P_(j,polarity,s)(x)), sign = polarity sign ×
/// flip sign, 0 for skipped OUs. Pattern 0 is all zero: without drive no current flows, even through
/// leaking cells.</summary>
internal sealed class OuTableSet
{
    /// <summary>Largest pattern width (d·ou_rows bits) tabulated: 4096 patterns per row group.</summary>
    public const int MaxPatternBits = 12;

    private OuTableSet(int patternBits, int stride, short[]? narrow, int[]? wide)
        => (PatternBits, Stride, Narrow, Wide) = (patternBits, stride, narrow, wide);

    public int PatternBits { get; }
    /// <summary>Row stride: N rounded up to 16.</summary>
    public int Stride { get; }
    /// <summary>16-bit entries, when every entry fits.</summary>
    public short[]? Narrow { get; }
    /// <summary>32-bit entries otherwise.</summary>
    public int[]? Wide { get; }

    /// <summary>Builds the tables, or returns null when the path does not apply: ideal ADC or read noise,
    /// patterns wider than <see cref="MaxPatternBits"/>, tables over the budget, or tile sums that could
    /// leave 32 bits.</summary>
    public static OuTableSet? TryBuild(ProgrammedLayer layer, long budgetBytes, SimConfiguration configuration)
    {
        var cfg = layer.Config;
        var geometry = layer.Geometry;
        if (cfg.IsAdcIdeal || cfg.HasReadNoise) return null;
        int patternBits = cfg.DacBits * cfg.OuRows;
        if (patternBits > MaxPatternBits) return null;
        long entryBound = (long)cfg.AdcCodeMax * cfg.Polarities * ((1L << (cfg.CellBits * cfg.Slices)) - 1) / cfg.LevelMax;
        int groupsPerTile = 0;
        for (int rt = 0; rt < geometry.RowTileCount; rt++)
            groupsPerTile = Math.Max(groupsPerTile, geometry.TileFirstGroup[rt + 1] - geometry.TileFirstGroup[rt]);
        long digitWeight = ((1L << (cfg.DacBits * cfg.Digits)) - 1) / cfg.DigitMax;
        if ((double)groupsPerTile * digitWeight * entryBound >= int.MaxValue) return null;
        bool narrow = entryBound <= short.MaxValue;
        int stride = (geometry.N + 15) & ~15;
        long entries = (long)geometry.RowGroupCount * (1L << patternBits) * stride;
        if (entries * (narrow ? 2 : 4) > budgetBytes || entries >= int.MaxValue) return null;

        var wide = new int[entries];
        Parallel.For(0, geometry.RowGroupCount, new ParallelOptions { MaxDegreeOfParallelism = configuration.Threads },
            () => new long[1 << patternBits], (g, _, sums) => { BuildGroup(layer, g, patternBits, stride, wide, sums); return sums; }, _ => { });
        if (!narrow) return new OuTableSet(patternBits, stride, null, wide);
        var shorts = new short[entries];
        for (long e = 0; e < entries; e++) shorts[e] = (short)wide[e];
        return new OuTableSet(patternBits, stride, shorts, null);
    }

    private static void BuildGroup(ProgrammedLayer layer, int g, int patternBits, int stride, int[] table, long[] sums)
    {
        var cfg = layer.Config;
        var geometry = layer.Geometry;
        int start = geometry.GroupStart[g], rows = geometry.GroupRows[g], d = cfg.DacBits, c = geometry.PhysicalColumns;
        int patterns = 1 << (d * rows), perWeight = geometry.Slices * geometry.Polarities;
        long tableBase = (long)g * (1L << patternBits) * stride;
        int rt = geometry.GroupTile[g];
        for (int pc = 0; pc < c; pc++)
        {
            int sign = layer.ColumnSign[(long)g * layer.PaddedColumns + pc];
            if (sign == 0) continue;
            int j = pc / perWeight, shift = cfg.CellBits * (pc % geometry.Slices);
            var adc = new AdcQuantizer(layer.ArraySteps[rt * geometry.ColumnTileCount + geometry.ColumnTileOf(j)], cfg.ConductanceFractionBits, cfg.AdcCodeMax);
            sums[0] = 0;
            for (int x = 1; x < patterns; x++)
            {
                // Peel one unit off the lowest non-zero digit: P(x) = P(x − 2^(d·i)) + G(row i).
                int i = BitOperations.TrailingZeroCount(x) / d;
                sums[x] = sums[x - (1 << (d * i))] + layer.Conductance((long)(start + i) * c + pc);
                table[tableBase + (long)x * stride + j] += (int)(sign * adc.Code(sums[x]) << shift);
            }
        }
    }
}

/// <summary>The narrow-OU path, per pixel and row tile in two phases. Phase 1 turns every (row group,
/// digit) into the OU's input pattern and from it a table row (pattern 0 and unstreamed digits select
/// the all-zero row 0, so phase 2 has no branches); with a 1-bit DAC and OUs of at most 9 rows the 8
/// digits of a group come out of one 16-byte load of digit-interleaved planes. Phase 2 adds, for 64
/// logical columns at a time held in registers, the selected rows of all groups of the tile, digit by
/// digit from the most significant (Horner: acc = 2^d·acc + Σ_g row), into 32-bit tile sums.</summary>
internal readonly struct OuTableKernel<T>(RunContext run, OuTableSet tables, T[] table) : IBlockKernel<OuTableKernel<T>.Workspace>
    where T : unmanaged
{
    public int BlockPixels => run.Configuration.BlockPixels;

    /// <summary>Phase 1 by digit-interleaved planes (1-bit DAC, OUs of at most 9 rows).</summary>
    private bool Interleaved => DigitPlanes.CanUseGroupPatterns(run);

    internal sealed class Workspace(RunContext run, int block, int stride) : PixelBlock(run, block)
    {
        public readonly long[] Logical = new long[run.Geometry.N];
        /// <summary>Per row group of the tile and digit (8 slots): the offset of the selected table row.</summary>
        public readonly int[] Rows = new int[8 * run.Geometry.RowGroupCount];
        /// <summary>Digit-interleaved planes of one pixel (<see cref="DigitPlanes.BuildInterleaved"/>).</summary>
        public readonly byte[] Interleaved = new byte[DigitPlanes.InterleavedLength(run.Geometry.K)];
        public readonly int[] Sums = new int[stride];
    }

    public Workspace CreateWorkspace() => new(run, BlockPixels, tables.Stride);

    public void Process(int first, int count, Workspace ws)
    {
        var geometry = run.Geometry;
        int n = geometry.N, groups = geometry.RowGroupCount;
        bool interleaved = Interleaved;
        ws.Prepare(run, first, count, planes: !interleaved);
        var activations = run.Activations.Span;
        for (int p = 0; p < count; p++)
        {
            if (interleaved) DigitPlanes.BuildInterleaved(activations.Slice((first + p) * geometry.K, geometry.K), ws.Interleaved, run.Configuration);
            for (int segment = 0; segment < run.Layer.SegmentCount; segment++)
            {
                int g0 = run.Layer.SegmentFirstGroup[segment], segmentGroups = run.Layer.SegmentFirstGroup[segment + 1] - g0;
                for (int gi = 0; gi < segmentGroups; gi++)
                {
                    uint mask = ws.Masks[p * groups + g0 + gi];
                    if (interleaved) SelectInterleaved(ws, g0 + gi, gi, mask);
                    else SelectPortable(ws, p, g0 + gi, gi, mask);
                }
                Accumulate(ws, segmentGroups);
                var sums = ws.Sums.AsSpan(0, n);
                for (int j = 0; j < n; j++) ws.Logical[j] = sums[j];
                PixelBlock.AddSegment(run, segment, first + p, ws.Logical);
            }
        }
        ws.Finish(run, first, count);
    }

    /// <summary>All 8 digit patterns of a ≤ 9-row group at once (<see cref="DigitPlanes.GroupPatterns"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SelectInterleaved(Workspace ws, int g, int gi, uint mask)
    {
        var patterns = DigitPlanes.GroupPatterns(ws.Interleaved, run.Geometry.GroupStart[g], run.Geometry.GroupRows[g], mask);
        ws.RecordPatterns(run, g, mask, patterns);
        var offsets = Vector256.Create(g * (1 << tables.PatternBits) * tables.Stride) + Avx2.ConvertToVector256Int32(patterns) * tables.Stride;
        offsets.StoreUnsafe(ref ws.Rows[gi * 8]);
    }

    private void SelectPortable(Workspace ws, int p, int g, int gi, uint mask)
    {
        var cfg = run.Config;
        int start = run.Geometry.GroupStart[g], rows = run.Geometry.GroupRows[g], d = cfg.DacBits;
        int groupBase = g * (1 << tables.PatternBits) * tables.Stride;
        ref byte planes = ref ws.PixelPlanes(p);
        int nonzero = 0, zero = 0;
        for (int t = 0; t < cfg.Digits; t++)
        {
            ulong pattern = 0;
            if ((mask >> t & 1) != 0)
            {
                if (d == 1)
                {
                    pattern = DigitPlanes.Bits(ref Unsafe.Add(ref planes, t * run.PlaneStride), start, rows);
                    nonzero += BitOperations.PopCount(pattern);
                }
                else
                {
                    pattern = Pack(ref planes, run.PlaneStride, cfg.ActivationBits, d, t, start, rows, out int digitNonzero);
                    nonzero += digitNonzero;
                }
                if (pattern == 0) zero++;
            }
            ws.Rows[gi * 8 + t] = groupBase + (int)pattern * tables.Stride;
        }
        int streamed = BitOperations.PopCount(mask);
        ws.Events.Record(g, streamed, cfg.Digits - streamed, nonzero, zero);
    }

    /// <summary>The d-bit digits t of rows [start, start + rows) packed as Σ_i digit_i·2^(d·i), with the
    /// count of non-zero digits.</summary>
    private static ulong Pack(ref byte planes, int stride, int bits, int d, int t, int start, int rows, out int nonzero)
    {
        ulong pattern = 0, any = 0;
        for (int db = 0, b = t * d; db < d && b < bits; db++, b++)
        {
            ulong plane = DigitPlanes.Bits(ref Unsafe.Add(ref planes, b * stride), start, rows);
            any |= plane;
            if (Bmi2.X64.IsSupported)
            {
                pattern |= Bmi2.X64.ParallelBitDeposit(plane, DigitLanes(d, rows) << db);
                continue;
            }
            for (int i = 0; plane != 0; i++, plane >>= 1) pattern |= (plane & 1) << (d * i + db);
        }
        nonzero = BitOperations.PopCount(any);
        return pattern;
    }

    private static ulong DigitLanes(int d, int rows)
    {
        ulong lanes = 0;
        for (int i = 0; i < rows; i++) lanes |= 1UL << (d * i);
        return lanes;
    }

    /// <summary>Sums[j] = Σ_t 2^(d·t)·Σ_g table[Rows[g][t] + j], in Horner order over the digits.</summary>
    private void Accumulate(Workspace ws, int segmentGroups)
    {
        int stride = tables.Stride, digits = run.Config.Digits, d = run.Config.DacBits;
        ref T t0 = ref MemoryMarshal.GetArrayDataReference(table);
        ref int rows = ref MemoryMarshal.GetArrayDataReference(ws.Rows);
        ref int sums = ref MemoryMarshal.GetArrayDataReference(ws.Sums);
        if (run.Configuration.Use512)
        {
            int j = 0;
            for (; j + 64 <= stride; j += 64)
            {
                Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int t = digits - 1; t >= 0; t--)
                {
                    a0 <<= d; a1 <<= d; a2 <<= d; a3 <<= d;
                    ref int offsets = ref Unsafe.Add(ref rows, t);
                    for (int gi = 0; gi < segmentGroups; gi++)
                    {
                        ref T row = ref Unsafe.Add(ref t0, Unsafe.Add(ref offsets, gi * 8) + j);
                        a0 += Load512(ref row); a1 += Load512(ref Unsafe.Add(ref row, 16));
                        a2 += Load512(ref Unsafe.Add(ref row, 32)); a3 += Load512(ref Unsafe.Add(ref row, 48));
                    }
                }
                a0.StoreUnsafe(ref sums, (nuint)j); a1.StoreUnsafe(ref sums, (nuint)j + 16);
                a2.StoreUnsafe(ref sums, (nuint)j + 32); a3.StoreUnsafe(ref sums, (nuint)j + 48);
            }
            for (; j < stride; j += 16)
            {
                Vector512<int> a0 = default;
                for (int t = digits - 1; t >= 0; t--)
                {
                    a0 <<= d;
                    ref int offsets = ref Unsafe.Add(ref rows, t);
                    for (int gi = 0; gi < segmentGroups; gi++) a0 += Load512(ref Unsafe.Add(ref t0, Unsafe.Add(ref offsets, gi * 8) + j));
                }
                a0.StoreUnsafe(ref sums, (nuint)j);
            }
        }
        else if (run.Configuration.Use256)
        {
            for (int j = 0; j < stride; j += 16)
            {
                Vector256<int> a0 = default, a1 = default;
                for (int t = digits - 1; t >= 0; t--)
                {
                    a0 <<= d; a1 <<= d;
                    ref int offsets = ref Unsafe.Add(ref rows, t);
                    for (int gi = 0; gi < segmentGroups; gi++)
                    {
                        ref T row = ref Unsafe.Add(ref t0, Unsafe.Add(ref offsets, gi * 8) + j);
                        a0 += Load256(ref row); a1 += Load256(ref Unsafe.Add(ref row, 8));
                    }
                }
                a0.StoreUnsafe(ref sums, (nuint)j); a1.StoreUnsafe(ref sums, (nuint)j + 8);
            }
        }
        else
        {
            for (int j = 0; j < stride; j++)
            {
                int sum = 0;
                for (int t = digits - 1; t >= 0; t--)
                {
                    sum <<= d;
                    for (int gi = 0; gi < segmentGroups; gi++) sum += Widen(Unsafe.Add(ref t0, Unsafe.Add(ref rows, gi * 8 + t) + j));
                }
                Unsafe.Add(ref sums, j) = sum;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Load512(ref T source) => typeof(T) == typeof(short)
        ? Avx512F.ConvertToVector512Int32(Vector256.LoadUnsafe(ref Unsafe.As<T, short>(ref source)))
        : Vector512.LoadUnsafe(ref Unsafe.As<T, int>(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Load256(ref T source) => typeof(T) == typeof(short)
        ? Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref Unsafe.As<T, short>(ref source)))
        : Vector256.LoadUnsafe(ref Unsafe.As<T, int>(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Widen(T value) => typeof(T) == typeof(short) ? Unsafe.As<T, short>(ref value) : Unsafe.As<T, int>(ref value);
}

internal static class OuTableKernel
{
    public static EventTally Run(RunContext run)
    {
        var tables = run.Layer.Tables!;
        return tables.Narrow is { } narrow
            ? BlockRunner.Run<OuTableKernel<short>, OuTableKernel<short>.Workspace>(new(run, tables, narrow), run)
            : BlockRunner.Run<OuTableKernel<int>, OuTableKernel<int>.Workspace>(new(run, tables, tables.Wide!), run);
    }
}
