using PimQuant.Quant.Granularity;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PimQuant.Sim;

/// <summary>A 2-D convolution's window over an NCHW input (docs/hardware.md §0): the convolution's one lowering
/// (<see cref="ConvLowering"/>: kernel, strides, pads, dilations, groups) applied to an input of
/// <see cref="Channels"/> × <see cref="Height"/> × <see cref="Width"/>. Every output pixel reads one vector of
/// K = (Channels / Groups)·kh·kw codes per convolution group, channel-major, then kh, then kw (the row order of
/// <see cref="WeightLowering"/>); positions outside the input read the padding code.</summary>
public sealed record ConvWindow
{
    /// <summary>The convolution's lowering (ONNX pads resolved).</summary>
    public required ConvLowering Convolution { get; init; }
    /// <summary>Input channels of all groups.</summary>
    public required int Channels { get; init; }
    /// <summary>Input height.</summary>
    public required int Height { get; init; }
    /// <summary>Input width.</summary>
    public required int Width { get; init; }

    /// <summary>kh.</summary>
    public int KernelHeight => (int)Convolution.Kernel[0];
    /// <summary>kw.</summary>
    public int KernelWidth => (int)Convolution.Kernel[1];
    /// <summary>Stride along the height.</summary>
    public int StrideHeight => (int)Convolution.Strides[0];
    /// <summary>Stride along the width.</summary>
    public int StrideWidth => (int)Convolution.Strides[1];
    /// <summary>Dilation along the height.</summary>
    public int DilationHeight => (int)Convolution.Dilations[0];
    /// <summary>Dilation along the width.</summary>
    public int DilationWidth => (int)Convolution.Dilations[1];
    /// <summary>Padding rows above.</summary>
    public int PadTop => (int)Convolution.Pads[0];
    /// <summary>Padding columns on the left.</summary>
    public int PadLeft => (int)Convolution.Pads[1];
    /// <summary>Padding rows below.</summary>
    public int PadBottom => (int)Convolution.Pads[2];
    /// <summary>Padding columns on the right.</summary>
    public int PadRight => (int)Convolution.Pads[3];
    /// <summary>Convolution groups.</summary>
    public int Groups => Convolution.Groups;

    /// <summary>Input channels of one group.</summary>
    public int ChannelsPerGroup => Channels / Groups;
    /// <summary>K: the length of one group's input vector.</summary>
    public int K => ChannelsPerGroup * KernelHeight * KernelWidth;
    /// <summary>Output height.</summary>
    public int OutHeight => (PaddedHeight - DilationHeight * (KernelHeight - 1) - 1) / StrideHeight + 1;
    /// <summary>Output width.</summary>
    public int OutWidth => (PaddedWidth - DilationWidth * (KernelWidth - 1) - 1) / StrideWidth + 1;
    /// <summary>Output pixels (input vectors per group) of one image.</summary>
    public int Pixels => OutHeight * OutWidth;

    internal int PaddedHeight => Height + PadTop + PadBottom;
    internal int PaddedWidth => Width + PadLeft + PadRight;

    internal void Validate()
    {
        var c = Convolution;
        if (c.Kernel.Length != 2 || c.Strides.Length != 2 || c.Dilations.Length != 2 || c.Pads.Length != 4)
            throw new ArgumentException($"conv window: a 2-D convolution has 2 kernel sizes, strides and dilations and 4 pads ({this})");
        if (Channels < 1 || Height < 1 || Width < 1 || KernelHeight < 1 || KernelWidth < 1)
            throw new ArgumentException($"conv window: channels, height, width and kernel must be ≥ 1 ({this})");
        if (StrideHeight < 1 || StrideWidth < 1 || DilationHeight < 1 || DilationWidth < 1)
            throw new ArgumentException($"conv window: strides and dilations must be ≥ 1 ({this})");
        if (PadTop < 0 || PadLeft < 0 || PadBottom < 0 || PadRight < 0)
            throw new ArgumentException($"conv window: pads must be ≥ 0 ({this})");
        if (Groups < 1 || Channels % Groups != 0)
            throw new ArgumentException($"conv window: {Channels} channels do not split into {Groups} groups");
        if (PaddedHeight < DilationHeight * (KernelHeight - 1) + 1 || PaddedWidth < DilationWidth * (KernelWidth - 1) + 1)
            throw new ArgumentException($"conv window: the kernel is larger than the padded input ({this})");
    }
}

/// <summary>
/// The codes one convolution group of a layer streams: a batch of NCHW code images seen through a
/// <see cref="ConvWindow"/>. <see cref="Gather"/> writes the input vectors pixel-major (what
/// <see cref="ProgrammedLayer.Run"/> reads); <see cref="CountDigits"/> gives the digit statistics of those
/// vectors straight from the images, without forming them, which is all the events of streaming every
/// digit depend on.
/// </summary>
public sealed class ConvInput
{
    /// <summary>A view of <paramref name="count"/> images (NCHW bytes, <see cref="ConvWindow.Channels"/> × H × W
    /// each) through <paramref name="window"/>, for convolution group <paramref name="group"/>; positions outside
    /// the image read <paramref name="padding"/> (the zero point's code).</summary>
    /// <exception cref="ArgumentException">An invalid window, group or too few codes.</exception>
    public ConvInput(ReadOnlyMemory<byte> images, int count, ConvWindow window, int group, byte padding)
    {
        ArgumentNullException.ThrowIfNull(window);
        window.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (group < 0 || group >= window.Groups) throw new ArgumentException($"group {group} is outside [0, {window.Groups})", nameof(group));
        if (images.Length < (long)count * window.Channels * window.Height * window.Width)
            throw new ArgumentException($"expected {(long)count * window.Channels * window.Height * window.Width} codes ({count} images of {window.Channels}×{window.Height}×{window.Width})", nameof(images));
        Images = images; Count = count; Window = window; Group = group; Padding = padding;
    }

    /// <summary>The images' codes.</summary>
    public ReadOnlyMemory<byte> Images { get; }
    /// <summary>Images.</summary>
    public int Count { get; }
    /// <summary>The window.</summary>
    public ConvWindow Window { get; }
    /// <summary>The convolution group.</summary>
    public int Group { get; }
    /// <summary>The code read outside the image.</summary>
    public byte Padding { get; }
    /// <summary>Input vectors: images × output pixels, in (image, output row, output column) order.</summary>
    public int Pixels => Count * Window.Pixels;

    /// <summary>Writes the <see cref="Pixels"/> input vectors, K codes each, row-major into <paramref name="vectors"/>.</summary>
    public void Gather(Memory<byte> vectors, SimConfiguration? configuration = null)
    {
        configuration ??= SimConfiguration.Default;
        configuration.Validate();
        var w = Window;
        int k = w.K, pixels = w.Pixels;
        if (vectors.Length < (long)Pixels * k) throw new ArgumentException($"expected room for {(long)Pixels * k} codes", nameof(vectors));
        int hp = w.PaddedHeight, wp = w.PaddedWidth, kh = w.KernelHeight, kw = w.KernelWidth, dw = w.DilationWidth;
        int outHeight = w.OutHeight, outWidth = w.OutWidth, sh = w.StrideHeight * wp, sw = w.StrideWidth;
        // The padded-image offset of each window row (channel, ky) from the window's origin.
        var rowOffsets = new int[w.ChannelsPerGroup * kh];
        for (int c = 0; c < w.ChannelsPerGroup; c++)
            for (int ky = 0; ky < kh; ky++) rowOffsets[c * kh + ky] = c * hp * wp + ky * w.DilationHeight * wp;
        Parallel.For(0, Count, new ParallelOptions { MaxDegreeOfParallelism = configuration.Threads },
            () => new byte[PaddedBytes + Slack], (n, _, padded) =>
            {
                Pad(n, padded);
                var output = vectors.Span.Slice(n * pixels * k, pixels * k);
                ref byte source = ref MemoryMarshal.GetArrayDataReference(padded);
                ref byte target = ref MemoryMarshal.GetReference(output);
                ref int offsets = ref MemoryMarshal.GetArrayDataReference(rowOffsets);
                int windowRows = rowOffsets.Length;
                // A window row of up to 8 adjacent codes is one 8-byte copy (the source has slack behind it; the bytes written past
                // the row are overwritten by the next one), except near the end of this image's vectors, which another image's follow.
                int e = 0, wide = dw == 1 && kw <= 8 ? output.Length - 8 : -1;
                for (int oy = 0; oy < outHeight; oy++)
                    for (int ox = 0; ox < outWidth; ox++)
                    {
                        ref byte origin = ref Unsafe.Add(ref source, oy * sh + ox * sw);
                        if (e + k <= wide)
                        {
                            for (int r = 0; r < windowRows; r++, e += kw)
                                Unsafe.WriteUnaligned(ref Unsafe.Add(ref target, e), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref origin, Unsafe.Add(ref offsets, r))));
                            continue;
                        }
                        for (int r = 0; r < windowRows; r++)
                            for (int kx = 0; kx < kw; kx++) Unsafe.Add(ref target, e++) = Unsafe.Add(ref origin, Unsafe.Add(ref offsets, r) + kx * dw);
                    }
                return padded;
            }, _ => { });
    }

    /// <summary>The digit statistics of the vectors <see cref="Gather"/> writes, for <paramref name="layer"/>'s row
    /// groups (all digits streamed): equal to <see cref="DigitStatistics.Of"/> over those vectors. A row group covers
    /// consecutive im2col rows: the channels it holds whole are first summed (nonzero digits) and or-ed (digit
    /// presence) per input position, then read through the kh × kw window, so a pixel costs about kh·kw reads per
    /// row group instead of its rows.</summary>
    public DigitStatistics CountDigits(ProgrammedLayer layer, SimConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(layer);
        configuration ??= SimConfiguration.Default;
        configuration.Validate();
        var w = Window;
        var geometry = layer.Geometry;
        if (geometry.K != w.K) throw new ArgumentException($"layer '{layer.Name}' has K = {geometry.K} rows, the window's vectors {w.K} codes", nameof(layer));
        int groups = geometry.RowGroupCount, area = w.KernelHeight * w.KernelWidth;
        int hp = w.PaddedHeight, wp = w.PaddedWidth, plane = hp * wp;
        var nonzeroDigits = DigitStatistics.NonzeroDigitTable(layer.Config);
        int digits = layer.Config.Digits;

        // Per row group: its whole channels [first, last) and the padded-image offsets of its other rows.
        var whole = new (int First, int Last)[groups];
        var partial = new int[groups][];
        var windowOffsets = new int[area];
        for (int ky = 0; ky < w.KernelHeight; ky++)
            for (int kx = 0; kx < w.KernelWidth; kx++) windowOffsets[ky * w.KernelWidth + kx] = ky * w.DilationHeight * wp + kx * w.DilationWidth;
        for (int g = 0; g < groups; g++)
        {
            int start = geometry.GroupStart[g], end = start + geometry.GroupRows[g];
            int first = (start + area - 1) / area, last = Math.Max(first, end / area);
            whole[g] = (first, last);
            var rows = new List<int>();
            for (int r = start; r < end; r++)
                if (r / area < first || r / area >= last) rows.Add(r / area * plane + windowOffsets[r % area]);
            partial[g] = rows.ToArray();
        }

        // 1-bit digits are the code's bits, so nonzero digits are a popcount, which 32 output pixels of a row
        // count at once (stride 1: their windows are consecutive bytes). Sums fit 16-bit lanes.
        bool vector = configuration.Use256 && layer.Config.DacBits == 1 && w.StrideWidth == 1
            && (long)Enumerable.Range(0, groups).Max(g => geometry.GroupRows[g]) * digits < ushort.MaxValue;
        var total = new DigitStatistics(groups);
        var gate = new object();
        Parallel.For(0, Count, new ParallelOptions { MaxDegreeOfParallelism = configuration.Threads },
            // Slack after each buffer: a row's last vector may read past the plane (those lanes are discarded).
            () => (Padded: new byte[PaddedBytes + Slack], Sums: vector ? [] : new int[plane], Sums16: vector ? new ushort[plane + Slack] : [],
                   Ors: new byte[plane + Slack], Counts: new DigitStatistics(groups)),
            (n, _, local) =>
            {
                Pad(n, local.Padded);
                for (int g = 0; g < groups; g++)
                {
                    var (first, last) = whole[g];
                    var (nonzero, zero) = vector
                        ? CountGroupVector256(local.Padded, local.Sums16, local.Ors, first, last, partial[g], windowOffsets, digits)
                        : CountGroupScalar(local.Padded, local.Sums, local.Ors, first, last, partial[g], windowOffsets, nonzeroDigits, digits);
                    local.Counts.Record(g, nonzero, zero);
                }
                local.Counts.Vectors += w.Pixels;
                return local;
            },
            local => { lock (gate) total.Add(local.Counts); });
        return total;
    }

    private const int Slack = 64;

    /// <summary>One image, one row group: the whole channels are summed (nonzero digits) and or-ed per padded position,
    /// then each output pixel reads them through its window, plus the group's other rows one by one.</summary>
    private (long Nonzero, long Zero) CountGroupScalar(ReadOnlySpan<byte> padded, Span<int> sums, Span<byte> ors, int first, int last,
        ReadOnlySpan<int> rows, ReadOnlySpan<int> window, ReadOnlySpan<int> table, int digits)
    {
        var w = Window;
        int wp = w.PaddedWidth;
        bool hasWhole = last > first;
        if (hasWhole) WholeChannels(padded, sums, ors, first, last, table);
        long nonzero = 0, zero = 0;
        for (int oy = 0; oy < w.OutHeight; oy++)
            for (int ox = 0, origin = oy * w.StrideHeight * wp; ox < w.OutWidth; ox++, origin += w.StrideWidth)
            {
                int sum = 0, any = 0;
                if (hasWhole)
                    foreach (int offset in window) { sum += sums[origin + offset]; any |= ors[origin + offset]; }
                foreach (int offset in rows) { int code = padded[origin + offset]; sum += table[code]; any |= code; }
                nonzero += sum;
                zero += digits - table[any];
            }
        return (nonzero, zero);
    }

    private void WholeChannels(ReadOnlySpan<byte> padded, Span<int> sums, Span<byte> ors, int first, int last, ReadOnlySpan<int> table)
    {
        int plane = Window.PaddedHeight * Window.PaddedWidth;
        sums[..plane].Clear(); ors[..plane].Clear();
        for (int c = first; c < last; c++)
        {
            var codes = padded.Slice(c * plane, plane);
            for (int i = 0; i < codes.Length; i++) { sums[i] += table[codes[i]]; ors[i] |= codes[i]; }
        }
    }

    /// <summary><see cref="CountGroupScalar"/> for 1-bit digits and stride 1, 32 output pixels of a row at a time.</summary>
    private (long Nonzero, long Zero) CountGroupVector256(byte[] padded, ushort[] sums, byte[] ors, int first, int last,
        int[] rows, int[] window, int digits)
    {
        var w = Window;
        int wp = w.PaddedWidth, plane = w.PaddedHeight * wp;
        bool hasWhole = last > first;
        if (hasWhole)
        {
            Array.Clear(sums, 0, plane); Array.Clear(ors, 0, plane);
            for (int c = first; c < last; c++)
                for (int i = 0; i < plane; i += Vector256<byte>.Count)
                {
                    var codes = Vector256.LoadUnsafe(ref padded[c * plane + i]);
                    var (low, high) = Vector256.Widen(PopCount(codes));
                    (Vector256.LoadUnsafe(ref sums[i]) + low).StoreUnsafe(ref sums[i]);
                    (Vector256.LoadUnsafe(ref sums[i + 16]) + high).StoreUnsafe(ref sums[i + 16]);
                    (Vector256.LoadUnsafe(ref ors[i]) | codes).StoreUnsafe(ref ors[i]);
                }
        }
        long nonzero = 0, zero = 0;
        Span<ushort> counts = stackalloc ushort[32];
        Span<byte> present = stackalloc byte[32];
        for (int oy = 0; oy < w.OutHeight; oy++)
            for (int ox = 0; ox < w.OutWidth; ox += 32)
            {
                int origin = oy * w.StrideHeight * wp + ox, lanes = Math.Min(32, w.OutWidth - ox);
                Vector256<ushort> low = default, high = default;
                Vector256<byte> any = default;
                if (hasWhole)
                    foreach (int offset in window)
                    {
                        low += Vector256.LoadUnsafe(ref sums[origin + offset]);
                        high += Vector256.LoadUnsafe(ref sums[origin + offset + 16]);
                        any |= Vector256.LoadUnsafe(ref ors[origin + offset]);
                    }
                foreach (int offset in rows)
                {
                    var codes = Vector256.LoadUnsafe(ref padded[origin + offset]);
                    var (l, h) = Vector256.Widen(PopCount(codes));
                    low += l; high += h; any |= codes;
                }
                low.CopyTo(counts); high.CopyTo(counts[16..]);
                PopCount(any).CopyTo(present);
                for (int lane = 0; lane < lanes; lane++) { nonzero += counts[lane]; zero += digits - present[lane]; }
            }
        return (nonzero, zero);
    }

    /// <summary>Bits set in each byte: two 4-bit table lookups.</summary>
    private static Vector256<byte> PopCount(Vector256<byte> v)
    {
        var table = Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        var nibble = Vector256.Create((byte)0x0F);
        return Avx2.Shuffle(table, v & nibble) + Avx2.Shuffle(table, Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & nibble);
    }

    private int PaddedBytes => Window.ChannelsPerGroup * Window.PaddedHeight * Window.PaddedWidth;

    /// <summary>Copies image <paramref name="n"/>'s channels of this group into a padded (C/groups) × Hp × Wp buffer.</summary>
    private void Pad(int n, byte[] padded)
    {
        var w = Window;
        int cg = w.ChannelsPerGroup, hw = w.Height * w.Width, wp = w.PaddedWidth, hp = w.PaddedHeight;
        bool bordered = w.PadTop + w.PadBottom + w.PadLeft + w.PadRight > 0;
        if (bordered) padded.AsSpan(0, cg * hp * wp).Fill(Padding);
        var image = Images.Span.Slice((n * w.Channels + Group * cg) * hw, cg * hw);
        for (int c = 0; c < cg; c++)
            for (int y = 0; y < w.Height; y++)
                image.Slice(c * hw + y * w.Width, w.Width).CopyTo(padded.AsSpan((c * hp + y + w.PadTop) * wp + w.PadLeft, w.Width));
    }
}

/// <summary>Digit statistics of a set of input vectors against a layer's OU row groups, with every digit
/// streamed: what the events of reading them depend on (<see cref="ProgrammedLayer.EventsOfAllDigits"/>).</summary>
public sealed class DigitStatistics
{
    private readonly long[] _nonzero, _zero;

    internal DigitStatistics(int groups) { _nonzero = new long[groups]; _zero = new long[groups]; }

    /// <summary>Input vectors counted.</summary>
    public long Vectors { get; internal set; }
    /// <summary>Per row group: Σ over vectors of the (row, digit) pairs whose digit is non-zero (non-zero DAC drives).</summary>
    public IReadOnlyList<long> NonzeroDigits => _nonzero;
    /// <summary>Per row group: Σ over vectors of the digits that are zero on every row of the group.</summary>
    public IReadOnlyList<long> ZeroDigits => _zero;

    /// <summary>The statistics of <paramref name="pixels"/> vectors of K codes each, row-major: the reference
    /// <see cref="ConvInput.CountDigits"/> equals.</summary>
    public static DigitStatistics Of(ReadOnlyMemory<byte> vectors, int pixels, ProgrammedLayer layer, SimConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(layer);
        configuration ??= SimConfiguration.Default;
        configuration.Validate();
        var geometry = layer.Geometry;
        int k = geometry.K, groups = geometry.RowGroupCount, digits = layer.Config.Digits;
        if (vectors.Length < (long)pixels * k) throw new ArgumentException($"expected {(long)pixels * k} activation codes", nameof(vectors));
        var nonzeroDigits = NonzeroDigitTable(layer.Config);
        var total = new DigitStatistics(groups) { Vectors = pixels };
        var gate = new object();
        Parallel.For(0, pixels, new ParallelOptions { MaxDegreeOfParallelism = configuration.Threads }, () => new DigitStatistics(groups),
            (p, _, local) =>
            {
                var a = vectors.Span.Slice(p * k, k);
                for (int g = 0; g < groups; g++)
                {
                    int nonzero = 0, any = 0;
                    foreach (byte code in a.Slice(geometry.GroupStart[g], geometry.GroupRows[g])) { nonzero += nonzeroDigits[code]; any |= code; }
                    local.Record(g, nonzero, digits - nonzeroDigits[any]);
                }
                return local;
            },
            local => { lock (gate) total.Add(local); });
        return total;
    }

    /// <summary>Per code 0..255: how many of its <c>digits</c> d-bit digits are non-zero. A digit is zero on
    /// every row of a group exactly when it is zero in the or of the rows' codes.</summary>
    internal static int[] NonzeroDigitTable(CrossbarConfig config)
    {
        var table = new int[256];
        for (int code = 0; code < 256; code++)
            for (int t = 0; t < config.Digits; t++)
                if ((code >> (config.DacBits * t) & config.DigitMax) != 0) table[code]++;
        return table;
    }

    internal void Record(int group, long nonzero, long zero) { _nonzero[group] += nonzero; _zero[group] += zero; }

    internal void Add(DigitStatistics other)
    {
        Vectors += other.Vectors;
        for (int g = 0; g < _nonzero.Length; g++) { _nonzero[g] += other._nonzero[g]; _zero[g] += other._zero[g]; }
    }
}
