using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PimQuant.Sim.Kernels;

/// <summary>Cells of the bit-count path: 1-bit cells, bit-packed along rows in units of 7 rows of one
/// column per byte, and the ADC as a table. With 1-bit cells and a 1-bit DAC and no per-cell variation,
/// an OU partial sum is P = n1·G(1) + (na − n1)·G(0), where na is the number of driven rows (the same
/// for every column of the read) and n1 the number of driven rows whose cell holds 1; the code is
/// therefore a function of (na, n1), tabulated per array (each with its ADC step): CODE[array][na][n1].</summary>
internal sealed class BitCountWeights
{
    /// <summary>Rows per packed unit: 7 bits index a 128-entry table (two registers for vpermi2b).</summary>
    public const int UnitRows = 7;

    /// <summary>Stride of a CODE row: counts 0..128.</summary>
    public const int CodeStride = 129;

    private BitCountWeights(byte[] units, long[] groupOffset, byte[] codes, int[] chunkTile) =>
        (Units, GroupOffset, Codes, ChunkTile) = (units, groupOffset, codes, chunkTile);

    /// <summary>Per row group g and 64-bitline chunk the units are contiguous (units of one chunk a
    /// multiple of 4 KiB apart would share an L1 set): rows [7u, 7u + 7) of column pc sit at
    /// GroupOffset[g] + (pc / 64)·Units(g)·64 + u·64 + pc % 64, row 7u + i at bit i.</summary>
    public byte[] Units { get; }
    public long[] GroupOffset { get; }
    /// <summary>CODE[((rt·column tiles + ct)·(ou_rows + 1) + na)·CodeStride + n1], with 64 spare bytes for vector loads.</summary>
    public byte[] Codes { get; }
    /// <summary>The column tile of each 64-bitline chunk (all its bitlines lie in one).</summary>
    public int[] ChunkTile { get; }

    /// <summary>Offset in <see cref="Codes"/> of the table of row tile <paramref name="rowTile"/> for the chunk at bitline <paramref name="c0"/>.</summary>
    public int CodeBase(int rowTile, int c0, int columnTiles, int ouRows) => (rowTile * columnTiles + ChunkTile[c0 / 64]) * (ouRows + 1) * CodeStride;

    public static int UnitsOf(int rows) => (rows + UnitRows - 1) / UnitRows;

    /// <summary>Builds the packed cells, or returns null when the path does not apply: cells or DAC wider
    /// than 1 bit, ideal or wider than 8-bit ADC, programming variation, read noise, OUs over 128 rows,
    /// a 64-bitline chunk across two column tiles, or tile sums beyond 32 bits.</summary>
    public static BitCountWeights? TryBuild(ProgrammedLayer layer)
    {
        var cfg = layer.Config;
        var geometry = layer.Geometry;
        if (cfg.CellBits != 1 || cfg.DacBits != 1 || cfg.IsAdcIdeal || cfg.AdcBits > 8 || cfg.HasVariation || cfg.HasReadNoise || cfg.OuRows > 128)
            return null;
        int tiles = geometry.RowTileCount, columnTiles = geometry.ColumnTileCount;
        // Each chunk of 64 bitlines looks its codes up in one array's table.
        var chunkTile = new int[layer.PaddedColumns / 64];
        for (int pc = 0; pc < geometry.PhysicalColumns; pc++)
        {
            int ct = geometry.OuColumnTile[geometry.OuOfColumn[pc]];
            if (pc % 64 == 0) chunkTile[pc / 64] = ct;
            else if (chunkTile[pc / 64] != ct) return null;
        }

        // 32-bit tile sums of sign·2^(c·s)·Σ_t 2^t·code per bitline must not overflow.
        int groupsPerTile = 0;
        for (int rt = 0; rt < tiles; rt++) groupsPerTile = Math.Max(groupsPerTile, geometry.TileFirstGroup[rt + 1] - geometry.TileFirstGroup[rt]);
        if ((double)groupsPerTile * cfg.AdcCodeMax * ((1 << cfg.Digits) - 1) * Math.ScaleB(1.0, cfg.Slices - 1) >= int.MaxValue) return null;

        int c = geometry.PhysicalColumns, padded = layer.PaddedColumns;
        var offsets = new long[geometry.RowGroupCount + 1];
        for (int g = 0; g < geometry.RowGroupCount; g++) offsets[g + 1] = offsets[g] + UnitsOf(geometry.GroupRows[g]) * (long)padded;
        var units = new byte[offsets[^1]];
        for (int g = 0; g < geometry.RowGroupCount; g++)
        {
            int start = geometry.GroupStart[g], rows = geometry.GroupRows[g], perChunk = UnitsOf(rows);
            for (int r = 0; r < rows; r++)
                for (int pc = 0; pc < c; pc++)
                    units[offsets[g] + (pc / 64 * perChunk + r / UnitRows) * 64 + pc % 64] |= (byte)(layer.Levels[(long)(start + r) * c + pc] << (r % UnitRows));
        }

        int counts = cfg.OuRows + 1;
        var codes = new byte[tiles * columnTiles * counts * CodeStride + 64];
        long g1 = layer.LevelConductance[1], g0 = layer.LevelConductance[0];
        for (int array = 0; array < tiles * columnTiles; array++)
        {
            var adc = new AdcQuantizer(layer.ArraySteps[array], cfg.ConductanceFractionBits, cfg.AdcCodeMax);
            for (int na = 0; na < counts; na++)
                for (int n1 = 0; n1 <= na; n1++)
                    codes[(array * counts + na) * CodeStride + n1] = (byte)adc.Code(n1 * g1 + (na - n1) * g0);
        }
        return new BitCountWeights(units, offsets, codes, chunkTile);
    }
}

/// <summary>The bit-count path (wide reads with 1-bit cells, e.g. neurosim-rram). For 64 bitlines at a
/// time, one byte lane per bitline, the count n1 of a read is Σ over the driven 7-row input units a of
/// popcount(a ∧ w): the weight unit w is ANDed with a broadcast and looked up in a 128-entry popcount
/// table (vpermi2b); all-zero input units cost nothing. The ADC is one more 128-byte table lookup per 64
/// bitlines, codes are shift-added over the digits in 16-bit lanes, then signed and shifted by the
/// slice (c·s) into 32-bit tile sums per bitline.</summary>
internal readonly struct BitCountKernel(RunContext run, BitCountWeights weights) : IBlockKernel<BitCountKernel.Workspace>
{
    private const int Chunk = 64;
    private const int UnitRows = BitCountWeights.UnitRows;
    private RunContext Context => run;
    private BitCountWeights Weights => weights;

    public static EventTally Run(RunContext run)
        => BlockRunner.Run<BitCountKernel, Workspace>(new BitCountKernel(run, run.Layer.BitCount!), run);

    public int BlockPixels => run.BlockPixelsFor(run.Layer.PaddedColumns * 4L);

    // The pixel stride is padded by 256 bytes, so the pixels' accumulator rows do not share L1 sets.
    internal sealed class Workspace(RunContext run, int block) : AccumulatingBlock<int>(run, block, run.Layer.PaddedColumns + 64)
    {
        public readonly int UnitCapacity = BitCountWeights.UnitsOf(run.Config.OuRows);
        /// <summary>Per (pixel, digit): the non-zero input units as pairs (byte offset of the unit in a
        /// chunk, unit value repeated in the 4 bytes of an int).</summary>
        public readonly int[] Units = new int[block * run.Config.Digits * BitCountWeights.UnitsOf(run.Config.OuRows) * 2];
        public readonly int[] UnitCount = new int[block * run.Config.Digits];
        /// <summary>Per (pixel, digit): driven wordlines, or −1 when the digit is not streamed.</summary>
        public readonly int[] Driven = new int[block * run.Config.Digits];
        public readonly byte[] Counts = new byte[Chunk];
        public readonly int[] Partial = new int[Chunk];
    }

    public Workspace CreateWorkspace() => new(run, BlockPixels);

    public void Process(int first, int count, Workspace ws) => ReadDriver.Process<Reader, Workspace, int>(new Reader(this), run, ws, first, count);

    /// <summary>The bit-count path's part of <see cref="ReadDriver"/>: per digit, the non-zero 7-row input units.</summary>
    private readonly struct Reader(BitCountKernel kernel) : IGroupReader<Workspace>
    {

        public void SkipDigit(Workspace ws, int p, int t) => ws.Driven[p * kernel.Context.Config.Digits + t] = -1;

        public int SelectDigit(Workspace ws, int first, int p, int g, int t)
        {
            var run = kernel.Context;
            int list = p * run.Config.Digits + t, entries = 0, driven = 0;
            int start = run.Geometry.GroupStart[g], rows = run.Geometry.GroupRows[g];
            ref byte plane = ref Unsafe.Add(ref ws.PixelPlanes(p), t * run.PlaneStride);
            ref int units = ref ws.Units[list * ws.UnitCapacity * 2];
            // 56-row windows hold 8 whole units.
            for (int offset = 0; offset < rows; offset += 8 * UnitRows)
            {
                ulong bits = DigitPlanes.Bits(ref plane, start + offset, Math.Min(8 * UnitRows, rows - offset));
                driven += BitOperations.PopCount(bits);
                for (int unitOffset = offset / UnitRows * 64; bits != 0; unitOffset += 64, bits >>= UnitRows)
                {
                    int unit = (int)(bits & 127);
                    if (unit == 0) continue;
                    Unsafe.Add(ref units, 2 * entries) = unitOffset;
                    Unsafe.Add(ref units, 2 * entries++ + 1) = unit * 0x01010101;
                }
            }
            ws.UnitCount[list] = entries;
            ws.Driven[list] = driven;
            return driven;
        }

        public void ReadGroup(Workspace ws, int g, int rowTile, int count)
        {
            var run = kernel.Context;
            bool vbmi = run.Configuration.Use512 && Avx512Vbmi.IsSupported;
            for (int c0 = 0; c0 < run.Layer.PaddedColumns; c0 += Chunk)
                for (int p = 0, codeBase = kernel.Weights.CodeBase(rowTile, c0, run.Geometry.ColumnTileCount, run.Config.OuRows); p < count; p++)
                {
                    if (vbmi) kernel.Read512(ws, g, c0, p, codeBase);
                    else kernel.ReadPortable(ws, g, c0, p, codeBase);
                }
        }

    }

    private void Read512(Workspace ws, int g, int c0, int p, int codeBase)
    {
        int digits = run.Config.Digits, capacity = ws.UnitCapacity, padded = run.Layer.PaddedColumns;
        ref byte w = ref weights.Units[weights.GroupOffset[g] + (long)c0 * BitCountWeights.UnitsOf(run.Geometry.GroupRows[g])];
        ref byte codes = ref MemoryMarshal.GetArrayDataReference(weights.Codes);
        ref int driven = ref ws.Driven[p * digits];
        ref int counts = ref ws.UnitCount[p * digits];
        ref int units = ref ws.Units[p * digits * capacity * 2];
        var popLo = Vector512.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(PopcountTable.Bytes));
        var popHi = Vector512.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(PopcountTable.Bytes), 64);
        var lo = Vector512<ushort>.Zero;
        var hi = Vector512<ushort>.Zero;
        for (int t = 0; t < digits; t++, units = ref Unsafe.Add(ref units, capacity * 2))
        {
            int rows = Unsafe.Add(ref driven, t);
            if (rows <= 0) continue; // not streamed, or no driven row: p = 0 → code 0
            var sum0 = Vector512<byte>.Zero;
            var sum1 = Vector512<byte>.Zero;
            int n = Unsafe.Add(ref counts, t), e = 0;
            for (; e + 1 < n; e += 2)
            {
                var w0 = Vector512.LoadUnsafe(ref w, (nuint)Unsafe.Add(ref units, 2 * e)) & Vector512.Create(Unsafe.Add(ref units, 2 * e + 1)).AsByte();
                var w1 = Vector512.LoadUnsafe(ref w, (nuint)Unsafe.Add(ref units, 2 * e + 2)) & Vector512.Create(Unsafe.Add(ref units, 2 * e + 3)).AsByte();
                sum0 += Avx512Vbmi.PermuteVar64x8x2(popLo, w0, popHi);
                sum1 += Avx512Vbmi.PermuteVar64x8x2(popLo, w1, popHi);
            }
            if (e < n)
                sum0 += Avx512Vbmi.PermuteVar64x8x2(popLo, Vector512.LoadUnsafe(ref w, (nuint)Unsafe.Add(ref units, 2 * e)) & Vector512.Create(Unsafe.Add(ref units, 2 * e + 1)).AsByte(), popHi);
            var ones = sum0 + sum1;
            int row = codeBase + rows * BitCountWeights.CodeStride;
            var code = Avx512Vbmi.PermuteVar64x8x2(Vector512.LoadUnsafe(ref codes, (nuint)row), ones, Vector512.LoadUnsafe(ref codes, (nuint)(row + 64)));
            if (rows == 128) // index 128 wraps to 0 in a 128-byte table
                code = Vector512.ConditionalSelect(Vector512.Equals(ones, Vector512.Create((byte)128)), Vector512.Create(Unsafe.Add(ref codes, row + 128)), code);
            lo += Vector512.ShiftLeft(Avx512BW.ConvertToVector512UInt16(code.GetLower()), t);
            hi += Vector512.ShiftLeft(Avx512BW.ConvertToVector512UInt16(code.GetUpper()), t);
        }
        ref int acc = ref ws.Accumulators[p * ws.AccumulatorStride + c0];
        ref sbyte sign = ref run.Layer.ColumnSign[(long)g * padded + c0];
        ref int shift = ref run.Layer.SliceShift[c0];
        AddSigned(ref acc, ref sign, ref shift, 0, lo.GetLower());
        AddSigned(ref acc, ref sign, ref shift, 16, lo.GetUpper());
        AddSigned(ref acc, ref sign, ref shift, 32, hi.GetLower());
        AddSigned(ref acc, ref sign, ref shift, 48, hi.GetUpper());
    }

    /// <summary>acc += (sign·partial) &lt;&lt; (c·s) for 16 bitlines.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddSigned(ref int acc, ref sbyte sign, ref int shift, int offset, Vector256<ushort> partial)
    {
        var signs = Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref sign, (nuint)offset));
        var shifted = Avx512F.ShiftLeftLogicalVariable(Avx512F.ConvertToVector512Int32(partial) * signs, Vector512.LoadUnsafe(ref shift, (nuint)offset).AsUInt32());
        (Vector512.LoadUnsafe(ref acc, (nuint)offset) + shifted).StoreUnsafe(ref acc, (nuint)offset);
    }

    // Portable: counts with 256-bit nibble lookups when AVX2 is on (scalar popcounts otherwise); the code
    // table and accumulation in scalar code.
    private void ReadPortable(Workspace ws, int g, int c0, int p, int codeBase)
    {
        int digits = run.Config.Digits, capacity = ws.UnitCapacity, padded = run.Layer.PaddedColumns;
        long wBase = weights.GroupOffset[g] + (long)c0 * BitCountWeights.UnitsOf(run.Geometry.GroupRows[g]);
        var counts = ws.Counts.AsSpan();
        var partial = ws.Partial.AsSpan();
        partial.Clear();
        var nibbles = Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        for (int t = 0; t < digits; t++)
        {
            int list = p * digits + t, driven = ws.Driven[list];
            if (driven <= 0) continue;
            counts.Clear();
            var units = ws.Units.AsSpan(list * capacity * 2, ws.UnitCount[list] * 2);
            for (int e = 0; e < units.Length; e += 2)
            {
                long unitBase = wBase + units[e];
                int value = units[e + 1] & 127;
                if (run.Configuration.Use256)
                {
                    var input = Vector256.Create((byte)value);
                    ref byte source = ref weights.Units[unitBase];
                    for (int q = 0; q < Chunk; q += 32)
                    {
                        var x = Vector256.LoadUnsafe(ref source, (nuint)q) & input;
                        var ones = Avx2.Shuffle(nibbles, x & Vector256.Create((byte)15)) + Avx2.Shuffle(nibbles, Vector256.ShiftRightLogical(x, 4));
                        (Vector256.LoadUnsafe(ref counts[0], (nuint)q) + ones).StoreUnsafe(ref counts[0], (nuint)q);
                    }
                }
                else
                {
                    for (int q = 0; q < Chunk; q++) counts[q] += (byte)BitOperations.PopCount((uint)(value & weights.Units[unitBase + q]));
                }
            }
            int row = codeBase + driven * BitCountWeights.CodeStride;
            for (int q = 0; q < Chunk; q++) partial[q] += weights.Codes[row + counts[q]] << t;
        }
        var acc = ws.Accumulators.AsSpan(p * ws.AccumulatorStride + c0, Chunk);
        var signs = run.Layer.ColumnSign.AsSpan((int)((long)g * padded + c0), Chunk);
        var shifts = run.Layer.SliceShift.AsSpan(c0, Chunk);
        for (int q = 0; q < Chunk; q++) acc[q] += partial[q] * signs[q] << shifts[q];
    }
}

/// <summary>popcount(x) for x in 0..127: the two 64-byte halves of a vpermi2b table.</summary>
internal static class PopcountTable
{
    public static readonly byte[] Bytes = Enumerable.Range(0, 128).Select(x => (byte)BitOperations.PopCount((uint)x)).ToArray();
}
