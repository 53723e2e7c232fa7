using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace PimQuant.Sim.Kernels;

/// <summary>
/// The exact path's pass over one (pixel, OU row group): the streamed part of each code, a' = a &amp; keep (keep: the bits of the
/// streamed digits), written where the product reads it (xor a flip: the sign bit of two's-complement codes), and per digit the rows driven with a non-zero digit (what
/// <see cref="PixelBlock.Record"/> books), counted on the masked codes themselves instead of on bit planes: one pass of 512-bit
/// (or 256-bit) vectors, a group's last rows by 32 and 16, a movemask and a popcount per digit and vector. <see cref="ApplyScalar"/> is its reference.
/// </summary>
internal static class MaskedCodes
{
    /// <summary>Writes <paramref name="codes"/>[i] = (<paramref name="row"/>[i] &amp; <paramref name="keep"/>) ^ <paramref name="flip"/>
    /// and, with <paramref name="count"/>, sets <paramref name="nonzeroRows"/>[t] to the rows whose masked digit t is non-zero
    /// (t &lt; <paramref name="digits"/>; digits outside <paramref name="keep"/> count 0).</summary>
    public static void Apply(ReadOnlySpan<byte> row, Span<byte> codes, byte keep, byte flip, int dacBits, int digits, Span<int> nonzeroRows, bool count,
        SimConfiguration configuration)
    {
        if (configuration.Use512) Apply512(row, codes, keep, flip, dacBits, digits, nonzeroRows, count);
        else if (configuration.Use256) Apply256(row, codes, keep, flip, dacBits, digits, nonzeroRows, count);
        else ApplyScalar(row, codes, keep, flip, dacBits, digits, nonzeroRows, count);
    }

    /// <summary>The plain definition.</summary>
    public static void ApplyScalar(ReadOnlySpan<byte> row, Span<byte> codes, byte keep, byte flip, int dacBits, int digits, Span<int> nonzeroRows, bool count)
    {
        for (int i = 0; i < row.Length; i++) codes[i] = (byte)((row[i] & keep) ^ flip);
        if (!count) return;
        for (int t = 0; t < digits; t++)
        {
            int digit = DigitMask(t, dacBits), nonzero = 0;
            for (int i = 0; i < row.Length; i++)
                if ((row[i] & keep & digit) != 0) nonzero++;
            nonzeroRows[t] = nonzero;
        }
    }

    /// <summary>Bits [d·t, d·t + d) of a code, cut at its 8 bits.</summary>
    private static byte DigitMask(int t, int dacBits) => (byte)(((1 << dacBits) - 1) << (dacBits * t));

    private static void Apply512(ReadOnlySpan<byte> row, Span<byte> codes, byte keep, byte flip, int dacBits, int digits, Span<int> nonzeroRows, bool count)
    {
        if (count) nonzeroRows[..digits].Clear();
        var mask = Vector512.Create(keep);
        var flips = Vector512.Create(flip);
        ref byte source = ref MemoryMarshal.GetReference(row);
        ref byte target = ref MemoryMarshal.GetReference(codes);
        int i = 0;
        for (; i + 64 <= row.Length; i += 64)
        {
            var v = Vector512.LoadUnsafe(ref source, (nuint)i) & mask;
            (v ^ flips).StoreUnsafe(ref target, (nuint)i);
            if (count) Count512(v, dacBits, digits, nonzeroRows);
        }
        if (i < row.Length) Tail(row[i..], codes[i..], keep, flip, dacBits, digits, nonzeroRows, count);
    }

    private static void Apply256(ReadOnlySpan<byte> row, Span<byte> codes, byte keep, byte flip, int dacBits, int digits, Span<int> nonzeroRows, bool count)
    {
        if (count) nonzeroRows[..digits].Clear();
        if (row.Length > 0) Tail(row, codes, keep, flip, dacBits, digits, nonzeroRows, count);
    }

    /// <summary>Rows by 32 and 16, then the rest through a zero-filled 16-byte vector (its padding lanes are zero digits, which
    /// count nothing); adds to the counts.</summary>
    private static void Tail(ReadOnlySpan<byte> row, Span<byte> codes, byte keep, byte flip, int dacBits, int digits, Span<int> nonzeroRows, bool count)
    {
        ref byte source = ref MemoryMarshal.GetReference(row);
        ref byte target = ref MemoryMarshal.GetReference(codes);
        int i = 0;
        for (; i + 32 <= row.Length; i += 32)
        {
            var v = Vector256.LoadUnsafe(ref source, (nuint)i) & Vector256.Create(keep);
            (v ^ Vector256.Create(flip)).StoreUnsafe(ref target, (nuint)i);
            if (count) Count(v, dacBits, digits, nonzeroRows);
        }
        if (i + 16 <= row.Length)
        {
            var v = Vector128.LoadUnsafe(ref source, (nuint)i) & Vector128.Create(keep);
            (v ^ Vector128.Create(flip)).StoreUnsafe(ref target, (nuint)i);
            if (count) Count(v, dacBits, digits, nonzeroRows);
            i += 16;
        }
        if (i == row.Length) return;
        Span<byte> tail = stackalloc byte[16];
        tail.Clear();
        row[i..].CopyTo(tail);
        var last = Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(tail)) & Vector128.Create(keep);
        (last ^ Vector128.Create(flip)).StoreUnsafe(ref MemoryMarshal.GetReference(tail));
        tail[..(row.Length - i)].CopyTo(codes[i..]);
        if (count) Count(last, dacBits, digits, nonzeroRows);
    }

    // 1-bit digits: shifted so digit digits − 1 is the sign bit, each doubling brings the next lower digit there. Wider digits:
    // a lane is non-zero under the digit's bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Count512(Vector512<byte> v, int dacBits, int digits, Span<int> nonzeroRows)
    {
        if (dacBits == 1)
        {
            v = Vector512.ShiftLeft(v, 8 - digits);
            for (int t = digits - 1; t >= 0; t--)
            {
                nonzeroRows[t] += BitOperations.PopCount(v.ExtractMostSignificantBits());
                v += v;
            }
            return;
        }
        for (int t = 0; t < digits; t++)
            nonzeroRows[t] += BitOperations.PopCount((~Vector512.Equals(v & Vector512.Create(DigitMask(t, dacBits)), Vector512<byte>.Zero)).ExtractMostSignificantBits());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Count(Vector256<byte> v, int dacBits, int digits, Span<int> nonzeroRows)
    {
        if (dacBits == 1)
        {
            v = Vector256.ShiftLeft(v, 8 - digits);
            for (int t = digits - 1; t >= 0; t--)
            {
                nonzeroRows[t] += BitOperations.PopCount(v.ExtractMostSignificantBits());
                v += v;
            }
            return;
        }
        for (int t = 0; t < digits; t++)
            nonzeroRows[t] += BitOperations.PopCount((~Vector256.Equals(v & Vector256.Create(DigitMask(t, dacBits)), Vector256<byte>.Zero)).ExtractMostSignificantBits());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Count(Vector128<byte> v, int dacBits, int digits, Span<int> nonzeroRows)
    {
        if (dacBits == 1)
        {
            v = Vector128.ShiftLeft(v, 8 - digits);
            for (int t = digits - 1; t >= 0; t--)
            {
                nonzeroRows[t] += BitOperations.PopCount(v.ExtractMostSignificantBits());
                v += v;
            }
            return;
        }
        for (int t = 0; t < digits; t++)
            nonzeroRows[t] += BitOperations.PopCount((~Vector128.Equals(v & Vector128.Create(DigitMask(t, dacBits)), Vector128<byte>.Zero)).ExtractMostSignificantBits());
    }
}
