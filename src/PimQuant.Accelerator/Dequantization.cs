using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace PimQuant.Accelerator;

/// <summary>The digital side after a lossless crossbar layer's integer product: y = Y·scale[n] + bias[n], per output column.</summary>
internal static class Dequantization
{
    /// <summary>y = Y·s_x·s_w[n] + b[n] over the integer results, in float64, rounded once to float32: the arithmetic
    /// of <see cref="CrossbarLayerKernel"/>'s simulated product (and of libtorch's separate multiply and add), in one pass that keeps the
    /// product's layout (NCHW or channels-last).</summary>
    public static unsafe Tensor Apply(Tensor product, double[] scale, float[] bias, ParallelOptions parallelism)
    {
        bool channelsLast = IsChannelsLast(product);
        var physical = channelsLast ? product.permute(0, 2, 3, 1) : product.contiguous();
        var result = empty(physical.shape, ScalarType.Float32);
        int images = (int)physical.shape[0], columns = scale.Length;
        long positions = physical.numel() / images / columns;
        var offset = bias.Select(b => (double)b).ToArray();
        // Both live in native memory, which the GC never moves.
        var target = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(result.bytes));
        var source = Unsafe.AsPointer(ref MemoryMarshal.GetReference(physical.bytes));
        bool single = physical.dtype == ScalarType.Float32;
        Parallel.For(0, images, parallelism, n =>
        {
            long first = n * positions * columns;
            if (single) Affine((float*)source + first, target + first, positions, channelsLast, scale, offset);
            else Affine((double*)source + first, target + first, positions, channelsLast, scale, offset);
        });
        return channelsLast ? result.permute(0, 3, 1, 2) : result;
    }

    /// <summary>One image: t = (float)(y·scale[c] + bias[c]) with c the column of each element (channels-last: the
    /// fastest index; else the slowest, <paramref name="positions"/> elements each). Multiply and add round apart, as
    /// libtorch's separate operators do (never fused), then once to float32.</summary>
    private static unsafe void Affine<T>(T* y, float* t, long positions, bool channelsLast, double[] scale, double[] bias) where T : unmanaged
    {
        int columns = scale.Length;
        if (channelsLast)
            for (long p = 0; p < positions * columns; p += columns)
            {
                int i = 0;
                if (Avx.IsSupported)
                    for (; i + 8 <= columns; i += 8)
                        Vector256.Narrow(Load(y + p + i) * Vector256.Create(scale.AsSpan(i, 4)) + Vector256.Create(bias.AsSpan(i, 4)),
                            Load(y + p + i + 4) * Vector256.Create(scale.AsSpan(i + 4, 4)) + Vector256.Create(bias.AsSpan(i + 4, 4))).Store(t + p + i);
                for (; i < columns; i++) t[p + i] = (float)(Scalar(y + p + i) * scale[i] + bias[i]);
            }
        else
            for (int c = 0; c < columns; c++)
            {
                long first = c * positions, i = 0;
                var factor = Vector256.Create(scale[c]);
                var offset = Vector256.Create(bias[c]);
                if (Avx.IsSupported)
                    for (; i + 8 <= positions; i += 8)
                        Vector256.Narrow(Load(y + first + i) * factor + offset, Load(y + first + i + 4) * factor + offset).Store(t + first + i);
                for (; i < positions; i++) t[first + i] = (float)(Scalar(y + first + i) * scale[c] + bias[c]);
            }
    }

    /// <summary>One pixel of a simulated product: t[j] = (float)((y[j] − offset[j])·scale[j] + bias[j]), the subtraction,
    /// multiplication and addition rounded apart in float64 (never fused), then once to float32; four columns per 256-bit
    /// vector. <see cref="RowScalar"/> is its reference.</summary>
    public static unsafe void Row(ReadOnlySpan<double> y, ReadOnlySpan<double> offset, ReadOnlySpan<double> scale, ReadOnlySpan<double> bias, float* t)
    {
        int i = 0;
        if (Avx.IsSupported)
            for (; i + 8 <= y.Length; i += 8)
                Vector256.Narrow((Vector256.Create(y[i..]) - Vector256.Create(offset[i..])) * Vector256.Create(scale[i..]) + Vector256.Create(bias[i..]),
                    (Vector256.Create(y[(i + 4)..]) - Vector256.Create(offset[(i + 4)..])) * Vector256.Create(scale[(i + 4)..]) + Vector256.Create(bias[(i + 4)..])).Store(t + i);
        RowScalar(y[i..], offset[i..], scale[i..], bias[i..], t + i);
    }

    /// <summary>The plain definition of <see cref="Row"/>.</summary>
    public static unsafe void RowScalar(ReadOnlySpan<double> y, ReadOnlySpan<double> offset, ReadOnlySpan<double> scale, ReadOnlySpan<double> bias, float* t)
    {
        for (int j = 0; j < y.Length; j++) t[j] = (float)((y[j] - offset[j]) * scale[j] + bias[j]);
    }

    private static unsafe Vector256<double> Load<T>(T* y) where T : unmanaged =>
        typeof(T) == typeof(float) ? Avx.ConvertToVector256Double(Vector128.Load((float*)y)) : Vector256.Load((double*)y);

    private static unsafe double Scalar<T>(T* y) where T : unmanaged => typeof(T) == typeof(float) ? *(float*)y : *(double*)y;

    /// <summary>A rank-4 tensor whose memory is NHWC (and not also plain NCHW, as when C = 1).</summary>
    public static bool IsChannelsLast(Tensor t) => t.dim() == 4 && !t.is_contiguous() && t.permute(0, 2, 3, 1).is_contiguous();
}
