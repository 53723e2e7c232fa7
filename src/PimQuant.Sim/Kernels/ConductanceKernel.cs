using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PimQuant.Sim.Kernels;

/// <summary>The general path: any cell and DAC width, programming variation, read noise, ideal ADC.
/// For 32 bitlines at a time, a read's partial sums are Σ_db 2^db·Σ(rows whose digit bit db is set) G,
/// with G the cell conductances in units of 2^−F: integer vector adds over the driven rows only, exact
/// in any order. Read noise is added per partial sum from its counter-based key, the ADC quantizes
/// (exactly, <see cref="AdcQuantizer"/>), codes are shift-added over the digits in int64, then signed and
/// shifted by the slice (c·s) into the tile sums per bitline.</summary>
internal readonly struct ConductanceKernel : IBlockKernel<ConductanceKernel.Workspace>
{
    private const int Chunk = ProgrammedLayer.ConductanceChunk;
    private readonly RunContext _run;
    private readonly int[] _conductances;
    private readonly double[] _scaledSteps, _reciprocals;

    private ConductanceKernel(RunContext run)
    {
        _run = run;
        _conductances = run.Layer.ConductanceMatrix;
        var geometry = run.Geometry;
        int padded = run.Layer.PaddedColumns, perWeight = geometry.Slices * geometry.Polarities;
        _scaledSteps = new double[geometry.RowTileCount * padded];
        _reciprocals = new double[geometry.RowTileCount * padded];
        for (int rt = 0; rt < geometry.RowTileCount; rt++)
            for (int pc = 0; pc < padded; pc++)
            {
                int j = Math.Min(pc, geometry.PhysicalColumns - 1) / perWeight;
                double scaled = Math.ScaleB(run.Layer.ArraySteps[rt * geometry.ColumnTileCount + geometry.ColumnTileOf(j)], run.Config.ConductanceFractionBits);
                _scaledSteps[rt * padded + pc] = scaled;
                _reciprocals[rt * padded + pc] = 1.0 / scaled;
            }
    }

    public static EventTally Run(RunContext run) => BlockRunner.Run<ConductanceKernel, Workspace>(new ConductanceKernel(run), run);

    public int BlockPixels => _run.BlockPixelsFor(_run.Layer.PaddedColumns * 8L);

    // The pixel stride is padded by 256 bytes, so the pixels' accumulator rows do not share L1 sets.
    internal sealed class Workspace(RunContext run, int block) : AccumulatingBlock<long>(run, block, run.Layer.PaddedColumns + 32)
    {
        public readonly int ListCapacity = run.Config.OuRows;
        /// <summary>Per (pixel, digit, digit bit): the rows whose bit is set, as offsets into the row
        /// group's block of the conductance matrix (row within the group × chunk width).</summary>
        public readonly int[] Rows = new int[block * run.Config.Digits * run.Config.DacBits * run.Config.OuRows];
        public readonly int[] RowCount = new int[block * run.Config.Digits * run.Config.DacBits];
        /// <summary>Per (pixel, digit): read it (1) or not (0).</summary>
        public readonly int[] Read = new int[block * run.Config.Digits];
        public readonly ulong[] ReadKeys = new ulong[block * run.Config.Digits];
        public readonly long[] Lanes = new long[Chunk];
        public readonly long[] Partial = new long[Chunk];
    }

    public Workspace CreateWorkspace() => new(_run, BlockPixels);

    public void Process(int first, int count, Workspace ws) => ReadDriver.Process<Reader, Workspace, long>(new Reader(this), _run, ws, first, count);

    /// <summary>The conductance path's part of <see cref="ReadDriver"/>: per digit bit, the list of rows whose bit is set.</summary>
    private readonly struct Reader(ConductanceKernel kernel) : IGroupReader<Workspace>
    {

        public void SkipDigit(Workspace ws, int p, int t) => ws.Read[p * kernel._run.Config.Digits + t] = 0;

        public int SelectDigit(Workspace ws, int first, int p, int g, int t)
        {
            var run = kernel._run;
            var cfg = run.Config;
            int digits = cfg.Digits, d = cfg.DacBits, bits = cfg.ActivationBits;
            int start = run.Geometry.GroupStart[g], rows = run.Geometry.GroupRows[g];
            ref byte planes = ref ws.PixelPlanes(p);
            int driven = 0;
            for (int db = 0; db < d; db++) ws.RowCount[(p * digits + t) * d + db] = 0;
            for (int offset = 0; offset < rows; offset += 56)
            {
                int width = Math.Min(56, rows - offset);
                ulong any = 0;
                for (int db = 0, b = t * d; db < d && b < bits; db++, b++)
                {
                    ulong set = DigitPlanes.Bits(ref Unsafe.Add(ref planes, b * run.PlaneStride), start + offset, width);
                    any |= set;
                    int list = (p * digits + t) * d + db;
                    ref int length = ref ws.RowCount[list];
                    for (; set != 0; set &= set - 1)
                        ws.Rows[list * ws.ListCapacity + length++] = (offset + BitOperations.TrailingZeroCount(set)) * Chunk;
                }
                driven += BitOperations.PopCount(any);
            }
            // Without drive and without noise p = 0 and the code is 0: nothing to read.
            ws.Read[p * digits + t] = driven > 0 || cfg.HasReadNoise ? 1 : 0;
            if (cfg.HasReadNoise)
                ws.ReadKeys[p * digits + t] = SimRandom.ReadKey(run.Layer.Seed, run.Layer.LayerKey, run.Options.FirstPixel + first + p, g, t);
            return driven;
        }

        public void ReadGroup(Workspace ws, int g, int rowTile, int count)
        {
            var run = kernel._run;
            for (int c0 = 0; c0 < run.Layer.PaddedColumns; c0 += Chunk)
                for (int p = 0; p < count; p++)
                {
                    if (run.Configuration.Use512) kernel.Read512(ws, g, rowTile, c0, p);
                    else kernel.ReadPortable(ws, g, rowTile, c0, p);
                }
        }

    }

    private void Read512(Workspace ws, int g, int rt, int c0, int p)
    {
        var run = _run;
        var cfg = run.Config;
        int digits = cfg.Digits, d = cfg.DacBits, padded = run.Layer.PaddedColumns, capacity = ws.ListCapacity;
        int rowsInGroup = run.Geometry.GroupRows[g];
        ref int columns = ref _conductances[(long)run.Geometry.GroupStart[g] * padded + (long)c0 * rowsInGroup];
        ref double steps = ref _scaledSteps[rt * padded + c0];
        ref double reciprocals = ref _reciprocals[rt * padded + c0];
        ref int read = ref ws.Read[p * digits];
        ref int rowCount = ref ws.RowCount[p * digits * d];
        ref int rowLists = ref ws.Rows[p * digits * d * capacity];
        var max = Vector512.Create((double)cfg.AdcCodeMax);
        Vector512<long> sum0 = default, sum1 = default, sum2 = default, sum3 = default;
        for (int t = 0; t < digits; t++)
        {
            if (Unsafe.Add(ref read, t) == 0) continue;
            Vector512<int> lo = default, hi = default;
            for (int db = 0; db < d; db++)
            {
                int list = t * d + db;
                Vector512<int> bitLo = default, bitHi = default;
                ref int offsets = ref Unsafe.Add(ref rowLists, list * capacity);
                for (int r = 0, n = Unsafe.Add(ref rowCount, list); r < n; r++)
                {
                    ref int row = ref Unsafe.Add(ref columns, Unsafe.Add(ref offsets, r));
                    bitLo += Vector512.LoadUnsafe(ref row);
                    bitHi += Vector512.LoadUnsafe(ref row, 16);
                }
                lo += bitLo << db;
                hi += bitHi << db;
            }
            var p0 = Vector512.WidenLower(lo); var p1 = Vector512.WidenUpper(lo);
            var p2 = Vector512.WidenLower(hi); var p3 = Vector512.WidenUpper(hi);
            if (cfg.HasReadNoise)
            {
                var readKey = Vector512.Create(ws.ReadKeys[p * digits + t]);
                var columns0 = Vector512.Create((ulong)c0) + Vector512<ulong>.Indices;
                var sigma = Vector512.Create(Math.ScaleB(cfg.NonIdealities.ReadNoise, cfg.ConductanceFractionBits));
                p0 += ReadNoise(readKey, columns0, sigma);
                p1 += ReadNoise(readKey, columns0 + Vector512.Create(8UL), sigma);
                p2 += ReadNoise(readKey, columns0 + Vector512.Create(16UL), sigma);
                p3 += ReadNoise(readKey, columns0 + Vector512.Create(24UL), sigma);
            }
            if (!cfg.IsAdcIdeal)
            {
                p0 = Vector512.ConvertToInt64(AdcQuantizer.Code(Vector512.ConvertToDouble(p0), Vector512.LoadUnsafe(ref steps), Vector512.LoadUnsafe(ref reciprocals), max));
                p1 = Vector512.ConvertToInt64(AdcQuantizer.Code(Vector512.ConvertToDouble(p1), Vector512.LoadUnsafe(ref steps, 8), Vector512.LoadUnsafe(ref reciprocals, 8), max));
                p2 = Vector512.ConvertToInt64(AdcQuantizer.Code(Vector512.ConvertToDouble(p2), Vector512.LoadUnsafe(ref steps, 16), Vector512.LoadUnsafe(ref reciprocals, 16), max));
                p3 = Vector512.ConvertToInt64(AdcQuantizer.Code(Vector512.ConvertToDouble(p3), Vector512.LoadUnsafe(ref steps, 24), Vector512.LoadUnsafe(ref reciprocals, 24), max));
            }
            int digitShift = d * t;
            sum0 += p0 << digitShift; sum1 += p1 << digitShift; sum2 += p2 << digitShift; sum3 += p3 << digitShift;
        }
        ref long acc = ref ws.Accumulators[p * ws.AccumulatorStride + c0];
        ref sbyte sign = ref run.Layer.ColumnSign[(long)g * padded + c0];
        ref int shift = ref run.Layer.SliceShift[c0];
        AddSigned(ref acc, ref sign, ref shift, 0, sum0);
        AddSigned(ref acc, ref sign, ref shift, 8, sum1);
        AddSigned(ref acc, ref sign, ref shift, 16, sum2);
        AddSigned(ref acc, ref sign, ref shift, 24, sum3);
    }

    /// <summary>acc += (sign·partial) &lt;&lt; (c·s) for 8 bitlines.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddSigned(ref long acc, ref sbyte sign, ref int shift, int offset, Vector512<long> partial)
    {
        var signs = Avx512F.ConvertToVector512Int64(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref sign, offset)))).AsSByte());
        var shifts = Avx512F.ConvertToVector512Int64(Vector256.LoadUnsafe(ref shift, (nuint)offset)).AsUInt64();
        (Vector512.LoadUnsafe(ref acc, (nuint)offset) + Avx512F.ShiftLeftLogicalVariable(partial * signs, shifts)).StoreUnsafe(ref acc, (nuint)offset);
    }

    // Portable: row sums with 256-bit adds when AVX2 is on (scalar otherwise); noise, ADC and
    // accumulation in scalar code.
    private void ReadPortable(Workspace ws, int g, int rt, int c0, int p)
    {
        var run = _run;
        var cfg = run.Config;
        int digits = cfg.Digits, d = cfg.DacBits, padded = run.Layer.PaddedColumns;
        var lanes = ws.Lanes.AsSpan();
        var partial = ws.Partial.AsSpan();
        partial.Clear();
        Span<int> bitSums = stackalloc int[Chunk];
        for (int t = 0; t < digits; t++)
        {
            if (ws.Read[p * digits + t] == 0) continue;
            lanes.Clear();
            for (int db = 0; db < d; db++)
            {
                int list = (p * digits + t) * d + db;
                bitSums.Clear();
                var offsets = ws.Rows.AsSpan(list * ws.ListCapacity, ws.RowCount[list]);
                foreach (int offset in offsets)
                {
                    var row = _conductances.AsSpan((int)((long)run.Geometry.GroupStart[g] * padded + (long)c0 * run.Geometry.GroupRows[g] + offset), Chunk);
                    if (run.Configuration.Use256)
                        for (int q = 0; q < Chunk; q += 8)
                            (Vector256.Create<int>(bitSums[q..]) + Vector256.Create<int>(row[q..])).CopyTo(bitSums[q..]);
                    else
                        for (int q = 0; q < Chunk; q++) bitSums[q] += row[q];
                }
                for (int q = 0; q < Chunk; q++) lanes[q] += (long)bitSums[q] << db;
            }
            if (cfg.HasReadNoise) AddReadNoise(lanes, ws.ReadKeys[p * digits + t], g, c0);
            for (int q = 0; q < Chunk; q++)
            {
                long code = cfg.IsAdcIdeal ? lanes[q]
                    : AdcQuantizer.Code(lanes[q], _scaledSteps[rt * padded + c0 + q], _reciprocals[rt * padded + c0 + q], cfg.AdcCodeMax);
                partial[q] += code << (d * t);
            }
        }
        var acc = ws.Accumulators.AsSpan(p * ws.AccumulatorStride + c0, Chunk);
        var signs = run.Layer.ColumnSign.AsSpan((int)((long)g * padded + c0), Chunk);
        var shifts = run.Layer.SliceShift.AsSpan(c0, Chunk);
        for (int q = 0; q < Chunk; q++) acc[q] += partial[q] * signs[q] << shifts[q];
    }

    /// <summary>⌊σ·2^F·z + ½⌋ for eight physical columns (<see cref="AddReadNoise"/>, vectorised; lanes of
    /// skipped OUs and padding get noise too, which their zero sign then discards).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<long> ReadNoise(Vector512<ulong> readKey, Vector512<ulong> columns, Vector512<double> sigma)
        => Vector512.ConvertToInt64(Vector512.Floor(sigma * SimRandom.Normal(SimRandom.Mix(readKey ^ columns)) + Vector512.Create(0.5)));

    /// <summary>Adds round(σ·z·2^F) to each partial sum of the chunk's used bitlines; z is keyed by
    /// (pixel, row group, digit) and the physical column.</summary>
    private void AddReadNoise(Span<long> lanes, ulong readKey, int g, int c0)
    {
        var run = _run;
        double sigma = Math.ScaleB(run.Config.NonIdealities.ReadNoise, run.Config.ConductanceFractionBits);
        int used = Math.Min(Chunk, run.Geometry.PhysicalColumns - c0);
        var signs = run.Layer.ColumnSign.AsSpan((int)((long)g * run.Layer.PaddedColumns + c0), Chunk);
        for (int q = 0; q < used; q++)
            if (signs[q] != 0) lanes[q] += (long)Math.Floor(sigma * SimRandom.Normal(SimRandom.ColumnKey(readKey, c0 + q)) + 0.5);
    }
}
