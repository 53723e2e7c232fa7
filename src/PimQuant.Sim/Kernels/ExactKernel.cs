using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace PimQuant.Sim.Kernels;

/// <summary>The lossless path: y = a'·W, a' the streamed part of the activations (W times its digital scales where they are given, then exact only to float64 rounding). Products and sums of
/// the integer codes stay below 2^53, so float64 fused multiply-adds are exact in any order; a register
/// block of 4 pixels × 16 columns reuses each loaded weight row four times. Weights are packed in
/// panels of 16 columns (K × 16 contiguous).</summary>
internal readonly struct ExactKernel(RunContext run) : IBlockKernel<ExactKernel.Workspace>
{
    public static EventTally Run(RunContext run) => BlockRunner.Run<ExactKernel, Workspace>(new ExactKernel(run), run);

    public int BlockPixels => run.Configuration.BlockPixels;

    internal sealed class Workspace(RunContext run, int block) : PixelBlock(run, block)
    {
        /// <summary>Pixels × K inputs of the float64 product (empty with the byte product).</summary>
        public readonly double[] Inputs = run.Layer.ExactBytes is not null && ByteProductKernel.Vectorized(run.Configuration) ? [] : new double[block * run.Geometry.K];
        /// <summary>Pixels × K4 masked codes for the byte product (rows past K stay 0).</summary>
        public readonly byte[] Codes = new byte[block * ByteProductKernel.PaddedRows(run.Geometry.K)];
        public readonly byte[] Interleaved = new byte[DigitPlanes.InterleavedLength(run.Geometry.K)];
        /// <summary>One pixel's masked codes when the product is float64.</summary>
        public readonly byte[] Masked = new byte[run.Geometry.K];
    }

    public Workspace CreateWorkspace() => new(run, BlockPixels);

    public void Process(int first, int count, Workspace ws)
    {
        var geometry = run.Geometry;
        var cfg = run.Config;
        int k = geometry.K, n = geometry.N;
        bool counting = run.Options.CountEvents, masked = run.Options.DigitPolicy is not null;
        bool interleaved = counting && DigitPlanes.CanUseGroupPatterns(run);
        // Byte weights and a VNNI unit: the product in int32 on the (masked) codes themselves.
        var packed = run.Layer.ExactBytes;
        bool bytes = packed is not null && ByteProductKernel.Vectorized(run.Configuration);
        int k4 = ByteProductKernel.PaddedRows(k);
        // Two's-complement codes in one pass (ProgrammedLayer.SignedInOnePass): the byte product takes pattern ^ 2^(ba−1), the
        // streamed value plus 2^(ba−1), as an unsigned code.
        bool signed = run.Options.SignedActivations && bytes;
        byte flip = signed ? (byte)(1 << (cfg.ActivationBits - 1)) : (byte)0;
        // Events are counted on the masked codes (MaskedCodes) or, for narrow OUs, from interleaved planes: no bit planes here.
        if (counting || masked) ws.Prepare(run, first, count, exactTerms: false, planes: false);
        var activations = run.Activations.Span;
        int groups = geometry.RowGroupCount;
        for (int p = 0; p < count; p++)
        {
            var row = activations.Slice((first + p) * k, k);
            var codes = bytes ? ws.Codes.AsSpan(p * k4, k) : ws.Masked.AsSpan();
            if (!counting && !masked)
            {
                if (signed) MaskedCodes.Apply(row, codes, 0xFF, flip, cfg.DacBits, cfg.Digits, ws.NonzeroRows, count: false, run.Configuration);
                else row.CopyTo(codes);
            }
            else
            {
                if (interleaved) DigitPlanes.BuildInterleaved(row, ws.Interleaved, run.Configuration);
                for (int g = 0; g < groups; g++)
                {
                    uint mask = ws.Masks[p * groups + g];
                    int start = geometry.GroupStart[g], rows = geometry.GroupRows[g];
                    byte keep = mask == run.AllDigits ? (byte)0xFF : run.KeepBits[mask];
                    MaskedCodes.Apply(row.Slice(start, rows), codes.Slice(start, rows), keep, flip, cfg.DacBits, cfg.Digits, ws.NonzeroRows,
                        counting && !interleaved, run.Configuration);
                    if (!counting) continue;
                    if (interleaved) ws.RecordPatterns(run, g, mask, DigitPlanes.GroupPatterns(ws.Interleaved, start, rows, mask));
                    else ws.Record(run, g, mask, ws.NonzeroRows);
                }
            }
            if (!bytes)
            {
                var inputs = ws.Inputs.AsSpan(p * k, k);
                for (int i = 0; i < k; i++) inputs[i] = codes[i];
            }
        }
        var output = run.Output.Span.Slice(first * n, count * n);
        if (bytes)
        {
            ByteProductKernel.Multiply(ws.Codes, packed, output, count, k4, n);
            if (!signed) return;
            var sums = run.Layer.ColumnSums;
            for (int p = 0; p < count; p++)
                for (int j = 0; j < n; j++) output[p * n + j] -= (double)flip * sums[j];
            return;
        }
        var weights = run.Layer.ExactWeights;
        if (run.Configuration.Use512) Multiply<PanelVector512>(ws.Inputs, weights, output, count, k, n);
        else if (run.Configuration.Use256) Multiply<PanelVector256>(ws.Inputs, weights, output, count, k, n);
        else MultiplyScalar(ws.Inputs, weights, output, count, k, n);
    }

    /// <summary>The activation bits that the streamed digits of <paramref name="mask"/> cover.</summary>
    public static int DigitBits(uint mask, int dacBits)
    {
        int keep = 0;
        for (int t = 0; mask >> t != 0; t++)
            if ((mask >> t & 1) != 0) keep |= ((1 << dacBits) - 1) << (dacBits * t);
        return keep;
    }

    internal static void MultiplyScalar(ReadOnlySpan<double> a, ReadOnlySpan<double> w, Span<double> y, int pixels, int k, int n)
    {
        for (int p = 0; p < pixels; p++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int i = 0; i < k; i++) sum += a[p * k + i] * w[((j / 16) * k + i) * 16 + j % 16];
                y[p * n + j] = sum;
            }
    }

    /// <summary>
    /// y = a·W over 16-column panels, for either vector width: each step covers 2 × <typeparamref name="TVector"/>'s lanes
    /// columns of a panel (16 with 512-bit vectors, 8 with 256-bit ones), four pixels at a time, so each loaded weight row is
    /// reused four times from registers. Fused multiply-adds of integers below 2^53 are exact in any order.
    /// </summary>
    internal static void Multiply<TVector>(ReadOnlySpan<double> a, ReadOnlySpan<double> w, Span<double> y, int pixels, int k, int n)
        where TVector : struct, IPanelVector<TVector>
    {
        int lanes = TVector.Lanes, width = 2 * lanes;
        ref double a0 = ref MemoryMarshal.GetReference(a);
        Span<double> tile = stackalloc double[4 * 16];
        for (int j = 0; j < n; j += width)
        {
            ref double panel = ref Unsafe.Add(ref MemoryMarshal.GetReference(w), (nint)(j / 16 * 16) * k + j % 16);
            int p = 0;
            for (; p + 4 <= pixels; p += 4)
            {
                TVector c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
                ref double ap = ref Unsafe.Add(ref a0, p * k);
                for (int i = 0; i < k; i++)
                {
                    ref double wr = ref Unsafe.Add(ref panel, i * 16);
                    var lo = TVector.Load(ref wr, 0);
                    var hi = TVector.Load(ref wr, lanes);
                    var x = TVector.Broadcast(Unsafe.Add(ref ap, i));
                    c00 = TVector.Fma(x, lo, c00); c01 = TVector.Fma(x, hi, c01);
                    x = TVector.Broadcast(Unsafe.Add(ref ap, k + i));
                    c10 = TVector.Fma(x, lo, c10); c11 = TVector.Fma(x, hi, c11);
                    x = TVector.Broadcast(Unsafe.Add(ref ap, 2 * k + i));
                    c20 = TVector.Fma(x, lo, c20); c21 = TVector.Fma(x, hi, c21);
                    x = TVector.Broadcast(Unsafe.Add(ref ap, 3 * k + i));
                    c30 = TVector.Fma(x, lo, c30); c31 = TVector.Fma(x, hi, c31);
                }
                c00.CopyTo(tile); c01.CopyTo(tile[lanes..]); c10.CopyTo(tile[16..]); c11.CopyTo(tile[(16 + lanes)..]);
                c20.CopyTo(tile[32..]); c21.CopyTo(tile[(32 + lanes)..]); c30.CopyTo(tile[48..]); c31.CopyTo(tile[(48 + lanes)..]);
                Store(tile, y, p, 4, j, n, width);
            }
            for (; p < pixels; p++)
            {
                TVector c0 = default, c1 = default;
                for (int i = 0; i < k; i++)
                {
                    ref double wr = ref Unsafe.Add(ref panel, i * 16);
                    var x = TVector.Broadcast(Unsafe.Add(ref a0, p * k + i));
                    c0 = TVector.Fma(x, TVector.Load(ref wr, 0), c0);
                    c1 = TVector.Fma(x, TVector.Load(ref wr, lanes), c1);
                }
                c0.CopyTo(tile); c1.CopyTo(tile[lanes..]);
                Store(tile, y, p, 1, j, n, width);
            }
        }
    }

    // The register tile holds 16 columns per pixel; columns past N are padding and are dropped.
    private static void Store(ReadOnlySpan<double> tile, Span<double> y, int pixel, int pixels, int column, int n, int width)
    {
        int columns = Math.Min(width, n - column);
        for (int q = 0; q < pixels; q++) tile.Slice(q * 16, columns).CopyTo(y.Slice((pixel + q) * n + column, columns));
    }
}

/// <summary>The few vector operations <see cref="ExactKernel.Multiply{TVector}"/> needs, so one register-blocked loop serves
/// both vector widths (the JIT specializes it per struct and inlines these).</summary>
internal interface IPanelVector<TSelf> where TSelf : struct, IPanelVector<TSelf>
{
    /// <summary>Doubles per vector.</summary>
    static abstract int Lanes { get; }
    /// <summary>Every lane <paramref name="value"/>.</summary>
    static abstract TSelf Broadcast(double value);
    /// <summary>Lanes from <paramref name="source"/> + <paramref name="offset"/> elements.</summary>
    static abstract TSelf Load(ref double source, int offset);
    /// <summary>x·w + acc, fused (one rounding).</summary>
    static abstract TSelf Fma(TSelf x, TSelf w, TSelf acc);
    /// <summary>Writes the lanes to the start of <paramref name="destination"/>.</summary>
    void CopyTo(Span<double> destination);
}

/// <summary>512-bit lanes (AVX-512 F).</summary>
internal readonly struct PanelVector512(Vector512<double> value) : IPanelVector<PanelVector512>
{
    public static int Lanes => Vector512<double>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PanelVector512 Broadcast(double value) => new(Vector512.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PanelVector512 Load(ref double source, int offset) => new(Vector512.LoadUnsafe(ref source, (nuint)offset));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PanelVector512 Fma(PanelVector512 x, PanelVector512 w, PanelVector512 acc) => new(Vector512.FusedMultiplyAdd(x.Value, w.Value, acc.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CopyTo(Span<double> destination) => Value.CopyTo(destination);
    private Vector512<double> Value { get; } = value;
}

/// <summary>256-bit lanes (AVX2/FMA).</summary>
internal readonly struct PanelVector256(Vector256<double> value) : IPanelVector<PanelVector256>
{
    public static int Lanes => Vector256<double>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PanelVector256 Broadcast(double value) => new(Vector256.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PanelVector256 Load(ref double source, int offset) => new(Vector256.LoadUnsafe(ref source, (nuint)offset));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PanelVector256 Fma(PanelVector256 x, PanelVector256 w, PanelVector256 acc) => new(Vector256.FusedMultiplyAdd(x.Value, w.Value, acc.Value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CopyTo(Span<double> destination) => Value.CopyTo(destination);
    private Vector256<double> Value { get; } = value;
}
