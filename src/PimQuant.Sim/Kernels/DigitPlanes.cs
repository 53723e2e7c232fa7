using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PimQuant.Sim.Kernels;

/// <summary>Bit planes of one pixel's activation codes along the rows: plane b holds bit b of every
/// code, row i at bit i (little-endian bytes). Input digit t is bits [d·t, d·t + d), so its value on a
/// row is Σ_db 2^db·plane[d·t + db]. Each plane carries 8 spare bytes so any 57-bit window can be read
/// with one unaligned 64-bit load.</summary>
internal static class DigitPlanes
{
    /// <summary>Bytes per plane for K rows.</summary>
    public static int Stride(int k) => (k + 7) / 8 + 8;

    /// <summary>Writes the <paramref name="bits"/> planes of <paramref name="codes"/> into
    /// <paramref name="planes"/> (bits × stride bytes).</summary>
    public static void Build(ReadOnlySpan<byte> codes, int bits, Span<byte> planes, int stride, SimConfiguration configuration)
    {
        planes[..(bits * stride)].Clear();
        int k = codes.Length, i = 0;
        ref byte plane0 = ref MemoryMarshal.GetReference(planes);
        if (configuration.Use512)
        {
            for (; i + 64 <= k; i += 64) Split512(Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(codes), (nuint)i), bits, ref plane0, stride, i / 8);
            if (i < k)
            {
                Span<byte> tail = stackalloc byte[64];
                tail.Clear();
                codes[i..].CopyTo(tail);
                Split512(Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(tail)), bits, ref plane0, stride, i / 8);
            }
        }
        else if (configuration.Use256)
        {
            for (; i + 32 <= k; i += 32) Split256(Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(codes), (nuint)i), bits, ref plane0, stride, i / 8);
            if (i < k)
            {
                Span<byte> tail = stackalloc byte[32];
                tail.Clear();
                codes[i..].CopyTo(tail);
                Split256(Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(tail)), bits, ref plane0, stride, i / 8);
            }
        }
        else
        {
            for (; i < k; i++)
            {
                int code = codes[i];
                for (int b = 0; b < bits; b++)
                    planes[b * stride + (i >> 3)] |= (byte)(((code >> b) & 1) << (i & 7));
            }
        }
    }

    /// <summary>Bytes of the digit-interleaved layout for K rows, with one spare row-byte for 16-byte loads.</summary>
    public static int InterleavedLength(int k) => ((k + 7) / 8 + 2) * 8;

    /// <summary>Writes the digit-interleaved planes of <paramref name="codes"/>: byte 8·k + b holds bit b of
    /// the codes of rows 8k..8k+7 (row 8k + i at bit i), i.e. each 8×8 bit block transposed. With GFNI a
    /// block is one affine transform: its matrix is the 8 codes in reverse byte order, and source byte b
    /// = 2^b selects bit b of every code.</summary>
    public static void BuildInterleaved(ReadOnlySpan<byte> codes, Span<byte> interleaved, SimConfiguration configuration)
    {
        int k = codes.Length, i = 0;
        if (configuration.Use512 && Gfni.V512.IsSupported)
        {
            var select = Vector512.Create(0x8040201008040201UL).AsByte();
            var reverse = Vector512.Create(0x0001020304050607UL).AsByte() + Vector512.Create(0, 0x0808080808080808UL, 0, 0x0808080808080808UL, 0, 0x0808080808080808UL, 0, 0x0808080808080808UL).AsByte();
            for (; i + 64 <= k; i += 64)
            {
                var matrix = Avx512BW.Shuffle(Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(codes), (nuint)i), reverse);
                Gfni.V512.GaloisFieldAffineTransform(select, matrix, 0).StoreUnsafe(ref MemoryMarshal.GetReference(interleaved), (nuint)i);
            }
        }
        interleaved[i..].Clear();
        for (; i < k; i++)
        {
            int code = codes[i];
            for (int b = 0; b < 8; b++) interleaved[(i >> 3) * 8 + b] |= (byte)(((code >> b) & 1) << (i & 7));
        }
    }

    /// <summary>Whether <see cref="GroupPatterns"/> applies: 1-bit DAC, OUs of at most 9 rows (pattern
    /// plus bit offset within 16 bits), at most 8 digits, vectors allowed.</summary>
    public static bool CanUseGroupPatterns(RunContext run) => run.Config.DacBits == 1 && run.Config.OuRows <= 9
        && run.Configuration.SimdWidth != SimdWidth.Scalar && Ssse3.IsSupported && Avx2.IsSupported;

    private static readonly Vector128<byte> PairBytes = Vector128.Create((byte)0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);

    /// <summary>Lane t all ones when digit t is streamed, per 8-bit digit mask.</summary>
    private static readonly Vector128<ushort>[] StreamedLanes = Enumerable.Range(0, 256)
        .Select(m => Vector128.Create(Enumerable.Range(0, 8).Select(t => (ushort)((m >> t & 1) != 0 ? 0xFFFF : 0)).ToArray())).ToArray();

    /// <summary>The input patterns of all 8 digits of a ≤ 9-row group from interleaved planes: one
    /// 16-byte load holds row-bytes k and k + 1 of every digit; pairing them gives 16-bit lanes t, shifted
    /// to the group's first row and masked to its rows; unstreamed digits give 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ushort> GroupPatterns(byte[] interleaved, int start, int rows, uint mask)
    {
        var bytes = Vector128.LoadUnsafe(ref interleaved[(start >> 3) * 8]);
        var patterns = Vector128.ShiftRightLogical(Ssse3.Shuffle(bytes, PairBytes).AsUInt16(), start & 7) & Vector128.Create((ushort)((1 << rows) - 1));
        return patterns & StreamedLanes[mask];
    }

    // Doubling a byte shifts it left by one; the sign bits are then the next lower bit of every code.
    private static void Split512(Vector512<byte> v, int bits, ref byte plane0, int stride, int byteOffset)
    {
        v = Vector512.ShiftLeft(v, 8 - bits);
        for (int b = bits - 1; b >= 0; b--)
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref plane0, b * stride + byteOffset), v.ExtractMostSignificantBits());
            v += v;
        }
    }

    private static void Split256(Vector256<byte> v, int bits, ref byte plane0, int stride, int byteOffset)
    {
        v = Vector256.ShiftLeft(v, 8 - bits);
        for (int b = bits - 1; b >= 0; b--)
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref plane0, b * stride + byteOffset), v.ExtractMostSignificantBits());
            v += v;
        }
    }

    /// <summary>Σ of the codes (sums of absolute differences against zero, 8 bytes per lane).</summary>
    public static long Sum(ReadOnlySpan<byte> codes)
    {
        long total = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported)
        {
            var sums = Vector256<ulong>.Zero;
            for (; i + 32 <= codes.Length; i += 32)
                sums += Avx2.SumAbsoluteDifferences(Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(codes), (nuint)i), Vector256<byte>.Zero).AsUInt64();
            total = (long)Vector256.Sum(sums);
        }
        for (; i < codes.Length; i++) total += codes[i];
        return total;
    }

    /// <summary>Rows [start, start + count) of a plane as the low bits of a word (count ≤ 57).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bits(ref byte plane, int start, int count)
        => (Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref plane, start >> 3)) >> (start & 7)) & ((1UL << count) - 1);

    /// <summary>For one OU row group: per digit t, the rows driven with a non-zero digit.</summary>
    public static void NonzeroRows(ref byte planes, int stride, int bits, int dacBits, int digits, int start, int count, Span<int> nonzeroRows)
    {
        for (int t = 0; t < digits; t++)
        {
            int nonzero = 0;
            for (int offset = 0; offset < count; offset += 56)
            {
                int width = Math.Min(56, count - offset);
                ulong any = 0;
                for (int db = 0, b = t * dacBits; db < dacBits && b < bits; db++, b++)
                    any |= Bits(ref Unsafe.Add(ref planes, b * stride), start + offset, width);
                nonzero += BitOperations.PopCount(any);
            }
            nonzeroRows[t] = nonzero;
        }
    }
}
