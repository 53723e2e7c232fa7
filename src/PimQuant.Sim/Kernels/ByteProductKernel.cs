using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PimQuant.Sim.Kernels;

/// <summary>
/// The exact path's integer product when the codes fit bytes: y = a'·W with a' unsigned 8-bit (masked) activation codes
/// and W signed 8-bit weights, summed in int32, which holds every sum exactly (K·255·128 &lt; 2^31 for K &lt; 65,793). On
/// AVX-VNNI one <c>vpdpbusd</c> adds 32 byte products into 8 int32 lanes, four times the multiply-adds of a float64 fused
/// multiply-add; <see cref="MultiplyScalar"/> is its reference. Weights are packed per panel of 16 columns and group of
/// 4 rows (<see cref="Pack"/>), K padded with zero rows to a multiple of 4.
/// </summary>
internal static class ByteProductKernel
{
    /// <summary>Rows padded to a multiple of 4 (one <c>vpdpbusd</c> lane's bytes).</summary>
    public static int PaddedRows(int k) => (k + 3) & ~3;

    /// <summary>The product runs here: AVX-VNNI (256-bit) is on and the configuration allows vectors.</summary>
    public static bool Vectorized(SimConfiguration configuration) =>
        configuration.SimdWidth != SimdWidth.Scalar && AvxVnni.IsSupported && Vector256.IsHardwareAccelerated;

    /// <summary>W (K × N row-major, each value in [−128, 127]) packed as [panel][row group of 4][16 columns][4 rows].</summary>
    public static sbyte[] Pack(ReadOnlySpan<int> weights, int k, int n)
    {
        int k4 = PaddedRows(k), panels = (n + 15) / 16;
        var packed = new sbyte[(long)panels * k4 * 16];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < n; j++)
                packed[((long)(j / 16) * (k4 / 4) + i / 4) * 64 + j % 16 * 4 + i % 4] = checked((sbyte)weights[i * n + j]);
        return packed;
    }

    /// <summary>The scalar reference: y[p, j] = Σ_i a[p, i]·W[i, j] over the packed weights, a row-major pixels × K4 bytes.</summary>
    public static void MultiplyScalar(ReadOnlySpan<byte> a, ReadOnlySpan<sbyte> w, Span<double> y, int pixels, int k4, int n)
    {
        for (int p = 0; p < pixels; p++)
            for (int j = 0; j < n; j++)
            {
                int sum = 0;
                for (int i = 0; i < k4; i++) sum += a[p * k4 + i] * w[((j / 16) * (k4 / 4) + i / 4) * 64 + j % 16 * 4 + i % 4];
                y[p * n + j] = sum;
            }
    }

    /// <summary>y = a·W with <c>vpdpbusd</c>: per panel, 4 pixels × 16 columns in 8 registers, each step broadcasting 4 bytes of
    /// a pixel and loading the panel's 64 bytes of 4 rows.</summary>
    public static void Multiply(ReadOnlySpan<byte> a, ReadOnlySpan<sbyte> w, Span<double> y, int pixels, int k4, int n)
    {
        int groups = k4 / 4;
        // The loops below address through references: the spans must hold every element they touch.
        if (a.Length < pixels * k4 || w.Length < (n + 15) / 16 * k4 * 16 || y.Length < pixels * n)
            throw new ArgumentException("codes, packed weights or outputs shorter than pixels, K4 and N imply");
        ref byte a0 = ref MemoryMarshal.GetReference(a);
        ref sbyte w0 = ref MemoryMarshal.GetReference(w);
        ref double y0 = ref MemoryMarshal.GetReference(y);
        for (int j = 0; j < n; j += 16)
        {
            // The panel's columns that exist in each half of its 16.
            int low = Math.Min(8, n - j), high = Math.Min(8, n - j - 8);
            ref sbyte panel = ref Unsafe.Add(ref w0, (nint)(j / 16) * groups * 64);
            int p = 0;
            for (; p + 4 <= pixels; p += 4)
            {
                Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
                ref byte ap = ref Unsafe.Add(ref a0, p * k4);
                for (int g = 0; g < groups; g++)
                {
                    ref sbyte wr = ref Unsafe.Add(ref panel, g * 64);
                    var lo = Vector256.LoadUnsafe(ref wr);
                    var hi = Vector256.LoadUnsafe(ref wr, 32);
                    var x = Broadcast(ref ap, g * 4);
                    c00 = AvxVnni.MultiplyWideningAndAdd(c00, x, lo); c01 = AvxVnni.MultiplyWideningAndAdd(c01, x, hi);
                    x = Broadcast(ref ap, k4 + g * 4);
                    c10 = AvxVnni.MultiplyWideningAndAdd(c10, x, lo); c11 = AvxVnni.MultiplyWideningAndAdd(c11, x, hi);
                    x = Broadcast(ref ap, 2 * k4 + g * 4);
                    c20 = AvxVnni.MultiplyWideningAndAdd(c20, x, lo); c21 = AvxVnni.MultiplyWideningAndAdd(c21, x, hi);
                    x = Broadcast(ref ap, 3 * k4 + g * 4);
                    c30 = AvxVnni.MultiplyWideningAndAdd(c30, x, lo); c31 = AvxVnni.MultiplyWideningAndAdd(c31, x, hi);
                }
                ref double yp = ref Unsafe.Add(ref y0, p * n + j);
                Store(c00, ref yp, low); Store(c01, ref Unsafe.Add(ref yp, 8), high);
                Store(c10, ref Unsafe.Add(ref yp, n), low); Store(c11, ref Unsafe.Add(ref yp, n + 8), high);
                Store(c20, ref Unsafe.Add(ref yp, 2 * n), low); Store(c21, ref Unsafe.Add(ref yp, 2 * n + 8), high);
                Store(c30, ref Unsafe.Add(ref yp, 3 * n), low); Store(c31, ref Unsafe.Add(ref yp, 3 * n + 8), high);
            }
            for (; p < pixels; p++)
            {
                Vector256<int> c0 = default, c1 = default;
                ref byte ap = ref Unsafe.Add(ref a0, p * k4);
                for (int g = 0; g < groups; g++)
                {
                    ref sbyte wr = ref Unsafe.Add(ref panel, g * 64);
                    var x = Broadcast(ref ap, g * 4);
                    c0 = AvxVnni.MultiplyWideningAndAdd(c0, x, Vector256.LoadUnsafe(ref wr));
                    c1 = AvxVnni.MultiplyWideningAndAdd(c1, x, Vector256.LoadUnsafe(ref wr, 32));
                }
                ref double yp = ref Unsafe.Add(ref y0, p * n + j);
                Store(c0, ref yp, low); Store(c1, ref Unsafe.Add(ref yp, 8), high);
            }
        }
    }

    /// <summary>The 4 bytes at <paramref name="offset"/> in every 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Broadcast(ref byte source, int offset) =>
        Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref source, offset))).AsByte();

    /// <summary>Writes the first <paramref name="columns"/> of 8 int32 sums as float64 (exact); columns past N are padding and are
    /// dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector256<int> sums, ref double target, int columns)
    {
        if (columns == 8)
        {
            if (Avx512F.IsSupported) Avx512F.ConvertToVector512Double(sums).StoreUnsafe(ref target);
            else
            {
                Avx.ConvertToVector256Double(sums.GetLower()).StoreUnsafe(ref target);
                Avx.ConvertToVector256Double(sums.GetUpper()).StoreUnsafe(ref target, 4);
            }
            return;
        }
        for (int c = 0; c < columns; c++) Unsafe.Add(ref target, c) = sums.GetElement(c);
    }
}
