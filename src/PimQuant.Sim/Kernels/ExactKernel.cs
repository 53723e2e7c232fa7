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
        public readonly double[] Inputs = new double[block * run.Geometry.K];
        public readonly byte[] Interleaved = new byte[DigitPlanes.InterleavedLength(run.Geometry.K)];
    }

    public Workspace CreateWorkspace() => new(run, BlockPixels);

    public void Process(int first, int count, Workspace ws)
    {
        var geometry = run.Geometry;
        var cfg = run.Config;
        int k = geometry.K, n = geometry.N;
        bool counting = run.Options.CountEvents, masked = run.Options.DigitPolicy is not null;
        bool interleaved = counting && DigitPlanes.CanUseGroupPatterns(run);
        if (counting || masked) ws.Prepare(run, first, count, exactTerms: false, planes: counting && !interleaved);
        var activations = run.Activations.Span;
        for (int p = 0; p < count; p++)
        {
            var row = activations.Slice((first + p) * k, k);
            var inputs = ws.Inputs.AsSpan(p * k, k);
            for (int i = 0; i < k; i++) inputs[i] = row[i];
            if (!counting && !masked) continue;
            if (interleaved) DigitPlanes.BuildInterleaved(row, ws.Interleaved, run.Configuration);
            for (int g = 0; g < geometry.RowGroupCount; g++)
            {
                uint mask = ws.Masks[p * geometry.RowGroupCount + g];
                int start = geometry.GroupStart[g], rows = geometry.GroupRows[g];
                if (mask != run.AllDigits)
                {
                    int keep = DigitBits(mask, cfg.DacBits);
                    for (int i = start; i < start + rows; i++) inputs[i] = row[i] & keep;
                }
                if (!counting) continue;
                if (interleaved)
                {
                    ws.RecordPatterns(run, g, mask, DigitPlanes.GroupPatterns(ws.Interleaved, start, rows, mask));
                    continue;
                }
                DigitPlanes.NonzeroRows(ref ws.PixelPlanes(p), run.PlaneStride, cfg.ActivationBits, cfg.DacBits, cfg.Digits, start, rows, ws.NonzeroRows);
                ws.Record(run, g, mask, ws.NonzeroRows);
            }
        }
        var output = run.Output.Span.Slice(first * n, count * n);
        var weights = run.Layer.ExactWeights;
        if (run.Configuration.Use512) Multiply512(ws.Inputs, weights, output, count, k, n);
        else if (run.Configuration.Use256) Multiply256(ws.Inputs, weights, output, count, k, n);
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

    internal static void Multiply512(ReadOnlySpan<double> a, ReadOnlySpan<double> w, Span<double> y, int pixels, int k, int n)
    {
        ref double a0 = ref MemoryMarshal.GetReference(a);
        Span<double> tile = stackalloc double[4 * 16];
        for (int j = 0; j < n; j += 16)
        {
            ref double panel = ref Unsafe.Add(ref MemoryMarshal.GetReference(w), (nint)j * k);
            int p = 0;
            for (; p + 4 <= pixels; p += 4)
            {
                Vector512<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
                ref double ap = ref Unsafe.Add(ref a0, p * k);
                for (int i = 0; i < k; i++)
                {
                    ref double wr = ref Unsafe.Add(ref panel, i * 16);
                    var lo = Vector512.LoadUnsafe(ref wr);
                    var hi = Vector512.LoadUnsafe(ref wr, 8);
                    var x = Vector512.Create(Unsafe.Add(ref ap, i));
                    c00 = Vector512.FusedMultiplyAdd(x, lo, c00); c01 = Vector512.FusedMultiplyAdd(x, hi, c01);
                    x = Vector512.Create(Unsafe.Add(ref ap, k + i));
                    c10 = Vector512.FusedMultiplyAdd(x, lo, c10); c11 = Vector512.FusedMultiplyAdd(x, hi, c11);
                    x = Vector512.Create(Unsafe.Add(ref ap, 2 * k + i));
                    c20 = Vector512.FusedMultiplyAdd(x, lo, c20); c21 = Vector512.FusedMultiplyAdd(x, hi, c21);
                    x = Vector512.Create(Unsafe.Add(ref ap, 3 * k + i));
                    c30 = Vector512.FusedMultiplyAdd(x, lo, c30); c31 = Vector512.FusedMultiplyAdd(x, hi, c31);
                }
                c00.CopyTo(tile); c01.CopyTo(tile[8..]); c10.CopyTo(tile[16..]); c11.CopyTo(tile[24..]);
                c20.CopyTo(tile[32..]); c21.CopyTo(tile[40..]); c30.CopyTo(tile[48..]); c31.CopyTo(tile[56..]);
                Store(tile, y, p, 4, j, n);
            }
            for (; p < pixels; p++)
            {
                Vector512<double> c0 = default, c1 = default;
                for (int i = 0; i < k; i++)
                {
                    ref double wr = ref Unsafe.Add(ref panel, i * 16);
                    var x = Vector512.Create(Unsafe.Add(ref a0, p * k + i));
                    c0 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wr), c0);
                    c1 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wr, 8), c1);
                }
                c0.CopyTo(tile); c1.CopyTo(tile[8..]);
                Store(tile, y, p, 1, j, n);
            }
        }
    }

    internal static void Multiply256(ReadOnlySpan<double> a, ReadOnlySpan<double> w, Span<double> y, int pixels, int k, int n)
    {
        ref double a0 = ref MemoryMarshal.GetReference(a);
        Span<double> tile = stackalloc double[4 * 16];
        for (int j = 0; j < n; j += 8)
        {
            ref double panel = ref Unsafe.Add(ref MemoryMarshal.GetReference(w), (nint)(j / 16 * 16) * k + j % 16);
            int p = 0;
            for (; p + 4 <= pixels; p += 4)
            {
                Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
                ref double ap = ref Unsafe.Add(ref a0, p * k);
                for (int i = 0; i < k; i++)
                {
                    ref double wr = ref Unsafe.Add(ref panel, i * 16);
                    var lo = Vector256.LoadUnsafe(ref wr);
                    var hi = Vector256.LoadUnsafe(ref wr, 4);
                    var x = Vector256.Create(Unsafe.Add(ref ap, i));
                    c00 = Vector256.FusedMultiplyAdd(x, lo, c00); c01 = Vector256.FusedMultiplyAdd(x, hi, c01);
                    x = Vector256.Create(Unsafe.Add(ref ap, k + i));
                    c10 = Vector256.FusedMultiplyAdd(x, lo, c10); c11 = Vector256.FusedMultiplyAdd(x, hi, c11);
                    x = Vector256.Create(Unsafe.Add(ref ap, 2 * k + i));
                    c20 = Vector256.FusedMultiplyAdd(x, lo, c20); c21 = Vector256.FusedMultiplyAdd(x, hi, c21);
                    x = Vector256.Create(Unsafe.Add(ref ap, 3 * k + i));
                    c30 = Vector256.FusedMultiplyAdd(x, lo, c30); c31 = Vector256.FusedMultiplyAdd(x, hi, c31);
                }
                c00.CopyTo(tile); c01.CopyTo(tile[4..]); c10.CopyTo(tile[16..]); c11.CopyTo(tile[20..]);
                c20.CopyTo(tile[32..]); c21.CopyTo(tile[36..]); c30.CopyTo(tile[48..]); c31.CopyTo(tile[52..]);
                Store(tile, y, p, 4, j, n, 8);
            }
            for (; p < pixels; p++)
            {
                Vector256<double> c0 = default, c1 = default;
                for (int i = 0; i < k; i++)
                {
                    ref double wr = ref Unsafe.Add(ref panel, i * 16);
                    var x = Vector256.Create(Unsafe.Add(ref a0, p * k + i));
                    c0 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref wr), c0);
                    c1 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref wr, 4), c1);
                }
                c0.CopyTo(tile); c1.CopyTo(tile[4..]);
                Store(tile, y, p, 1, j, n, 8);
            }
        }
    }

    // The register tile holds 16 columns per pixel; columns past N are padding and are dropped.
    private static void Store(ReadOnlySpan<double> tile, Span<double> y, int pixel, int pixels, int column, int n, int width = 16)
    {
        int columns = Math.Min(width, n - column);
        for (int q = 0; q < pixels; q++) tile.Slice(q * 16, columns).CopyTo(y.Slice((pixel + q) * n + column, columns));
    }
}
