using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PimQuant.Methods.ReDy;

/// <summary>What ReDy's heuristics read of one group's codes: their bitwise or (the lossless window), and their sum and sum of
/// squares (the statistics heuristic's mean and standard deviation). Integer sums, so exact in any order.</summary>
/// <param name="Or">The codes or-ed.</param>
/// <param name="Sum">Σ code.</param>
/// <param name="Squares">Σ code², or 0 when not asked for.</param>
internal readonly record struct GroupMoments(int Or, long Sum, long Squares)
{
    /// <summary>Rows the vector pass takes (more go the scalar way): the squares of up to 2^15 codes sum below 2^31, so the 32-bit
    /// lanes and their total hold them.</summary>
    public const int MaxRows = 1 << 15;

    /// <summary>The moments of <paramref name="codes"/>, with the sums only when <paramref name="sums"/> (the or alone is all the
    /// lossless and max-based rules read). One pass of 512- or 256-bit vectors where the machine has them;
    /// <see cref="OfScalar"/> is the reference.</summary>
    public static GroupMoments Of(ReadOnlySpan<byte> codes, bool sums)
    {
        if (codes.Length > MaxRows || codes.Length < 16) return OfScalar(codes, sums);
        if (Vector512.IsHardwareAccelerated && Avx512BW.IsSupported) return Of512(codes, sums);
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported) return Of256(codes, sums);
        return OfScalar(codes, sums);
    }

    /// <summary>The plain definition.</summary>
    public static GroupMoments OfScalar(ReadOnlySpan<byte> codes, bool sums)
    {
        int or = 0;
        long sum = 0, squares = 0;
        foreach (byte code in codes) or |= code;
        if (sums)
            foreach (byte code in codes) { sum += code; squares += code * code; }
        return new(or, sum, squares);
    }

    // Sums of absolute differences against zero add 8 bytes into each 64-bit lane; squares: bytes widened to 16 bits, then
    // vpmaddwd adds the squares of each pair into a 32-bit lane. The last rows go the 256-bit way.
    internal static GroupMoments Of512(ReadOnlySpan<byte> codes, bool sums)
    {
        ref byte c0 = ref MemoryMarshal.GetReference(codes);
        var or = Vector512<byte>.Zero;
        var sum = Vector512<ulong>.Zero;
        var squares = Vector512<int>.Zero;
        int i = 0;
        for (; i + 64 <= codes.Length; i += 64)
        {
            var v = Vector512.LoadUnsafe(ref c0, (nuint)i);
            or |= v;
            if (!sums) continue;
            sum += Avx512BW.SumAbsoluteDifferences(v, Vector512<byte>.Zero).AsUInt64();
            var (lo, hi) = Vector512.Widen(v);
            squares += Avx512BW.MultiplyAddAdjacent(lo.AsInt16(), lo.AsInt16()) + Avx512BW.MultiplyAddAdjacent(hi.AsInt16(), hi.AsInt16());
        }
        var rest = i < codes.Length ? Of256(codes[i..], sums) : default;
        return new(OrOfLanes(or.GetLower() | or.GetUpper()) | rest.Or, (long)Vector512.Sum(sum) + rest.Sum, Vector512.Sum(squares) + rest.Squares);
    }

    // 32 rows at a time, then 16, then the scalar definition.
    internal static GroupMoments Of256(ReadOnlySpan<byte> codes, bool sums)
    {
        ref byte c0 = ref MemoryMarshal.GetReference(codes);
        var or = Vector256<byte>.Zero;
        var sum = Vector256<ulong>.Zero;
        var squares = Vector256<int>.Zero;
        int i = 0;
        for (; i + 32 <= codes.Length; i += 32)
        {
            var v = Vector256.LoadUnsafe(ref c0, (nuint)i);
            or |= v;
            if (!sums) continue;
            sum += Avx2.SumAbsoluteDifferences(v, Vector256<byte>.Zero).AsUInt64();
            var (lo, hi) = Vector256.Widen(v);
            squares += Avx2.MultiplyAddAdjacent(lo.AsInt16(), lo.AsInt16()) + Avx2.MultiplyAddAdjacent(hi.AsInt16(), hi.AsInt16());
        }
        if (i + 16 <= codes.Length)
        {
            var v = Vector128.LoadUnsafe(ref c0, (nuint)i);
            or |= Vector256.Create(v, Vector128<byte>.Zero);
            if (sums)
            {
                var (lo, hi) = Vector128.Widen(v);
                sum += Vector256.Create(Sse2.SumAbsoluteDifferences(v, Vector128<byte>.Zero).AsUInt64(), Vector128<ulong>.Zero);
                squares += Vector256.Create(Sse2.MultiplyAddAdjacent(lo.AsInt16(), lo.AsInt16()) + Sse2.MultiplyAddAdjacent(hi.AsInt16(), hi.AsInt16()), Vector128<int>.Zero);
            }
            i += 16;
        }
        var tail = Tail(codes[i..], sums);
        return new(OrOfLanes(or) | tail.Or, (long)Vector256.Sum(sum) + tail.Sum, Vector256.Sum(squares) + tail.Squares);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static GroupMoments Tail(ReadOnlySpan<byte> codes, bool sums) => codes.IsEmpty ? default : OfScalar(codes, sums);

    private static int OrOfLanes(Vector256<byte> or)
    {
        var half = (or.GetLower() | or.GetUpper()).AsUInt64();
        ulong lanes = half.GetElement(0) | half.GetElement(1);
        lanes |= lanes >> 32; lanes |= lanes >> 16; lanes |= lanes >> 8;
        return (int)(lanes & 0xFF);
    }
}
