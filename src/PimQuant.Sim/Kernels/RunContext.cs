using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using PimQuant.Hardware.Cost;

namespace PimQuant.Sim.Kernels;

/// <summary>The inputs of one <see cref="ProgrammedLayer.Run"/> call.</summary>
internal sealed class RunContext(ProgrammedLayer layer, ReadOnlyMemory<byte> activations, Memory<double> output, int pixels,
    SimConfiguration configuration, RunOptions options)
{
    public ProgrammedLayer Layer { get; } = layer;
    public CrossbarConfig Config { get; } = layer.Config;
    public LayerGeometry Geometry { get; } = layer.Geometry;
    public ReadOnlyMemory<byte> Activations { get; } = activations;
    public Memory<double> Output { get; } = output;
    public int Pixels { get; } = pixels;
    public SimConfiguration Configuration { get; } = configuration;
    public RunOptions Options { get; } = options;
    public int PlaneStride { get; } = DigitPlanes.Stride(layer.Geometry.K);
    public uint AllDigits { get; } = (1u << layer.Config.Digits) - 1;
    /// <summary>Per digit mask (at most 8 digits), the code bits its digits cover (<see cref="ExactKernel.DigitBits"/>).</summary>
    public byte[] KeepBits { get; } = Enumerable.Range(0, 1 << layer.Config.Digits).Select(m => (byte)ExactKernel.DigitBits((uint)m, layer.Config.DacBits)).ToArray();

    /// <summary>Pixels per work item: the configured block, smaller when per-column accumulators of a
    /// wide layer would no longer fit in the L2 cache.</summary>
    public int BlockPixelsFor(long bytesPerPixel) =>
        (int)Math.Clamp(Math.Min(Configuration.BlockPixels, (512L << 10) / Math.Max(1, bytesPerPixel)), 1, Configuration.BlockPixels);
}

/// <summary>Event counts of one worker, per OU row group; every read of a row group converts the same
/// bitlines and drives the same wordlines, so per-read quantities are multiplied in at the end.
/// Integer sums: merging workers in any order gives the same totals.</summary>
internal sealed class EventTally(int groups)
{
    private readonly long[] _streamed = new long[groups], _skipped = new long[groups], _nonzero = new long[groups], _zero = new long[groups];

    /// <summary>Books one (pixel, row group): <paramref name="streamed"/> digits read, <paramref name="skipped"/>
    /// not read, Σ over read digits of the wordlines driven non-zero, and how many read digits were zero on
    /// every row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Record(int group, long streamed, long skipped, long nonzeroRows, long zeroDigits)
    {
        _streamed[group] += streamed;
        _skipped[group] += skipped;
        _nonzero[group] += nonzeroRows;
        _zero[group] += zeroDigits;
    }

    /// <summary>Removes <paramref name="slots"/> unread digits from every row group: after adding the tallies of
    /// two runs over the same pixels with complementary digit sets, each unread digit was counted twice.</summary>
    public void RemoveSkipped(long slots)
    {
        for (int g = 0; g < _skipped.Length; g++) _skipped[g] -= slots;
    }

    public void Add(EventTally other)
    {
        for (int g = 0; g < _streamed.Length; g++)
        {
            _streamed[g] += other._streamed[g]; _skipped[g] += other._skipped[g];
            _nonzero[g] += other._nonzero[g]; _zero[g] += other._zero[g];
        }
    }

    /// <summary>The events of the tallied reads; <paramref name="digitSelections"/> inputs examined by a digit policy.</summary>
    public EventCounts ToEvents(ProgrammedLayer layer, long digitSelections = 0)
    {
        var geometry = layer.Geometry;
        int arrays = layer.EventArrays;
        long reads = 0, zero = 0, conversions = 0, drives = 0, nonzero = 0, digitSkipped = 0, ouSkipped = 0, cells = 0, digitSums = 0, indexBits = 0;
        var arrayReads = new long[Math.Max(1, arrays)];
        bool needsDigitSums = layer.Config.WeightEncoding == WeightEncoding.Offset || layer.Config.ColumnFlip;
        for (int g = 0; g < _streamed.Length; g++)
        {
            long perDigit = layer.ReadsPerGroup[g];
            reads += _streamed[g] * perDigit;
            zero += _zero[g] * perDigit;
            // A reference column is converted with every read.
            conversions += _streamed[g] * (layer.ColumnsPerGroup[g] + (layer.Config.ReferenceColumn ? perDigit : 0));
            drives += _streamed[g] * perDigit * geometry.GroupRows[g];
            cells += _streamed[g] * layer.ColumnsPerGroup[g] * geometry.GroupRows[g];
            nonzero += _nonzero[g] * perDigit;
            digitSkipped += _skipped[g] * perDigit;
            ouSkipped += _streamed[g] * layer.SkippedOusPerGroup[g];
            // Each streamed round of the group reads its blocks' precision entries, pruned blocks' too.
            indexBits += _streamed[g] * layer.IndexBitsPerGroup[g];
            for (int a = 0; a < arrays; a++)
            {
                int ous = layer.ReadsPerGroupArray[(long)g * arrays + a];
                arrayReads[a] += _streamed[g] * ous;
                if (needsDigitSums && ous > 0) digitSums += _streamed[g];
            }
        }
        // Each conversion is shifted and added once.
        return new EventCounts
        {
            OuReads = reads, ZeroInputReads = zero, AdcConversions = conversions, ShiftAdds = conversions, DacDrives = drives,
            NonzeroDacDrives = nonzero, DigitSkippedReads = digitSkipped, OuSkippedReads = ouSkipped,
            CellReads = cells, DigitSums = digitSums, CriticalPathOuReads = arrayReads.Max(), DigitSelections = digitSelections,
            IndexReadBits = indexBits,
        };
    }
}

/// <summary>A kernel over blocks of pixels, ImageSharp-style: a struct holding the run, with one
/// workspace per worker thread so the hot loop allocates nothing.</summary>
internal interface IBlockKernel<TWorkspace> where TWorkspace : PixelBlock
{
    int BlockPixels { get; }
    TWorkspace CreateWorkspace();
    void Process(int first, int count, TWorkspace workspace);
}

internal static class BlockRunner
{
    /// <summary>Runs <paramref name="kernel"/> over all pixels, in parallel over blocks. Every output
    /// element is written by exactly one block, and draws are keyed by pixel, so the result does not
    /// depend on the number of threads.</summary>
    public static EventTally Run<TKernel, TWorkspace>(TKernel kernel, RunContext run)
        where TKernel : struct, IBlockKernel<TWorkspace> where TWorkspace : PixelBlock
    {
        int block = kernel.BlockPixels, blocks = (run.Pixels + block - 1) / block;
        int threads = Math.Min(run.Configuration.Threads, blocks);
        var total = new EventTally(run.Geometry.RowGroupCount);
        if (threads <= 1)
        {
            var workspace = kernel.CreateWorkspace();
            for (int b = 0; b < blocks; b++) kernel.Process(b * block, Math.Min(block, run.Pixels - b * block), workspace);
            total.Add(workspace.Events);
        }
        else
        {
            var gate = new object();
            Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, kernel.CreateWorkspace,
                (b, _, workspace) =>
                {
                    kernel.Process(b * block, Math.Min(block, run.Pixels - b * block), workspace);
                    return workspace;
                },
                workspace => { lock (gate) total.Add(workspace.Events); });
        }
        return total;
    }
}

/// <summary>Per-worker state shared by the paths: the block's digit planes and digit masks, the exact
/// digital terms per pixel (column-flip recovery and offset, from the streamed activations), and the
/// worker's event tally.</summary>
internal class PixelBlock
{
    public readonly byte[] Planes;
    public readonly uint[] Masks;
    public readonly long[] ExactTerms;
    /// <summary>With digital scales: per pixel, the exact terms of each segment times its scales, summed in segment order.</summary>
    public readonly double[]? ScaledTerms;
    /// <summary>Scratch with digital scales: one segment's integer exact terms.</summary>
    private readonly long[]? _segmentTerms;
    public readonly EventTally Events;
    /// <summary>Scratch: per digit, the wordlines of a row group driven with a non-zero digit.</summary>
    public readonly int[] NonzeroRows;
    private readonly int _planeBytes;

    public PixelBlock(RunContext run, int block)
    {
        _planeBytes = run.Config.ActivationBits * run.PlaneStride;
        Planes = new byte[block * _planeBytes];
        Masks = new uint[block * run.Geometry.RowGroupCount];
        ExactTerms = new long[block * run.Geometry.N];
        if (run.Layer.SegmentScales is not null)
        {
            ScaledTerms = new double[block * run.Geometry.N];
            _segmentTerms = new long[run.Geometry.N];
        }
        Events = new EventTally(run.Geometry.RowGroupCount);
        NonzeroRows = new int[run.Config.Digits];
    }

    public ref byte PixelPlanes(int p) => ref Planes[p * _planeBytes];

    /// <summary>Builds digit planes and digit masks for pixels [first, first + count), clears the block's
    /// outputs, and computes the exact digital terms of every pixel:
    /// E_j = Σ_g w_g·(flip correction of g, j) − 2^(bw−1)·Σ_g w_g, with w_g = Σ_(i in g) a'_i (with digital scales, per
    /// segment and scaled: <see cref="ScaleExactTerms"/>).</summary>
    public void Prepare(RunContext run, int first, int count, bool exactTerms = true, bool planes = true)
    {
        var geometry = run.Geometry;
        var layer = run.Layer;
        int k = geometry.K, n = geometry.N, groups = geometry.RowGroupCount, bits = run.Config.ActivationBits, stride = run.PlaneStride;
        var activations = run.Activations.Span;
        var policy = run.Options.DigitPolicy;
        long offset = run.Config.WeightEncoding == WeightEncoding.Offset ? 1L << (run.Config.WeightBits - 1) : 0;
        for (int p = 0; p < count; p++)
        {
            var row = activations.Slice((first + p) * k, k);
            if (planes) DigitPlanes.Build(row, bits, Planes.AsSpan(p * _planeBytes, _planeBytes), stride, run.Configuration);
            var masks = Masks.AsSpan(p * groups, groups);
            masks.Fill(run.AllDigits);
            if (policy is not null)
            {
                policy.SelectDigits(run.Options.FirstPixel + first + p, row, geometry, masks);
                for (int g = 0; g < groups; g++) masks[g] &= run.AllDigits;
            }
            if (!exactTerms) continue;
            if (layer.SegmentScales is { } scales)
            {
                ScaleExactTerms(run, row, masks, offset, scales, ScaledTerms!.AsSpan(p * n, n));
                continue;
            }
            var terms = ExactTerms.AsSpan(p * n, n);
            long total = 0;
            if (policy is null && layer.FlipCorrections.Length == 0)
            {
                total = DigitPlanes.Sum(row);
            }
            else
            {
                terms.Clear();
                for (int g = 0; g < groups; g++) total += AddGroupTerms(run, row, masks[g], g, terms);
            }
            long offsetTerm = offset * total;
            if (layer.FlipCorrections.Length == 0 && policy is null) terms.Fill(-offsetTerm);
            else for (int j = 0; j < n; j++) terms[j] -= offsetTerm;
        }
        run.Output.Span.Slice(first * n, count * n).Clear();
    }

    /// <summary>One row group's share of a pixel's exact terms: returns w_g, the streamed part of its activations summed, and
    /// adds w_g·(flip correction of g, j) to <paramref name="terms"/>.</summary>
    private static long AddGroupTerms(RunContext run, ReadOnlySpan<byte> row, uint mask, int g, Span<long> terms)
    {
        var layer = run.Layer;
        int keep = mask == run.AllDigits ? 0xFF : ExactKernel.DigitBits(mask, run.Config.DacBits);
        long w = 0;
        foreach (byte a in row.Slice(run.Geometry.GroupStart[g], run.Geometry.GroupRows[g])) w += a & keep;
        int flip = layer.FlipGroup[g];
        if (flip < 0 || w == 0) return w;
        var correction = layer.FlipCorrections[flip];
        for (int j = 0; j < terms.Length; j++) terms[j] += w * correction[j];
        return w;
    }

    /// <summary>With digital scales, one pixel's exact terms: per segment the integer E_j of its row groups, times the
    /// segment's scale of column j, summed over segments in order.</summary>
    private void ScaleExactTerms(RunContext run, ReadOnlySpan<byte> row, ReadOnlySpan<uint> masks, long offset, double[] scales, Span<double> terms)
    {
        var layer = run.Layer;
        var geometry = run.Geometry;
        int n = geometry.N;
        var segmentTerms = _segmentTerms!.AsSpan();
        terms.Clear();
        for (int segment = 0; segment < layer.SegmentCount; segment++)
        {
            segmentTerms.Clear();
            long total = 0;
            for (int g = layer.SegmentFirstGroup[segment]; g < layer.SegmentFirstGroup[segment + 1]; g++)
                total += AddGroupTerms(run, row, masks[g], g, segmentTerms);
            var scale = scales.AsSpan(segment * n, n);
            for (int j = 0; j < n; j++) terms[j] += scale[j] * (segmentTerms[j] - offset * total);
        }
    }

    /// <summary>Adds the exact digital terms after all segments.</summary>
    public void Finish(RunContext run, int first, int count)
    {
        int n = run.Geometry.N;
        var output = run.Output.Span.Slice(first * n, count * n);
        if (ScaledTerms is not null)
        {
            var scaled = ScaledTerms.AsSpan(0, count * n);
            for (int e = 0; e < output.Length; e++) output[e] += scaled[e];
            return;
        }
        var terms = ExactTerms.AsSpan(0, count * n);
        for (int e = 0; e < output.Length; e++) output[e] += terms[e];
    }

    /// <summary>Books the events of one (pixel, row group) from the per-digit counts of wordlines
    /// driven with a non-zero digit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Record(RunContext run, int g, uint mask, ReadOnlySpan<int> nonzeroRows)
    {
        int nonzero = 0, zero = 0;
        for (int t = 0; t < nonzeroRows.Length; t++)
        {
            if ((mask >> t & 1) == 0) continue;
            nonzero += nonzeroRows[t];
            if (nonzeroRows[t] == 0) zero++;
        }
        int streamed = BitOperations.PopCount(mask);
        Events.Record(g, streamed, nonzeroRows.Length - streamed, nonzero, zero);
    }

    /// <summary>Books the events of one (pixel, row group) from its 8 digit patterns (unstreamed ones 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void RecordPatterns(RunContext run, int g, uint mask, Vector128<ushort> patterns)
    {
        var u64 = patterns.AsUInt64();
        int nonzero = BitOperations.PopCount(u64.GetElement(0)) + BitOperations.PopCount(u64.GetElement(1));
        int streamed = BitOperations.PopCount(mask);
        // Zero lanes (2 mask bits each) are the streamed all-zero digits plus the 8 − streamed unstreamed ones.
        int zero = BitOperations.PopCount(Vector128.Equals(patterns, Vector128<ushort>.Zero).AsByte().ExtractMostSignificantBits()) / 2 - (8 - streamed);
        Events.Record(g, streamed, run.Config.Digits - streamed, nonzero, zero);
    }

    /// <summary>y[j] += factor(segment, j)·sum[j] for one pixel: the once-per-segment multiplication by the ADC step (and
    /// digital scale).</summary>
    public static void AddSegment(RunContext run, int segment, int pixel, ReadOnlySpan<long> logicalSums)
    {
        int n = run.Geometry.N;
        var steps = run.Layer.StepPerColumn.AsSpan(segment * n, n);
        var y = run.Output.Span.Slice(pixel * n, n);
        for (int j = 0; j < n; j++) y[j] += steps[j] * logicalSums[j];
    }

    /// <summary>Logical tile sums from per-bitline tile sums that already carry sign·2^(c·s): the sum over
    /// each logical column's slices × polarities bitlines.</summary>
    public static void SumSlices<T>(RunContext run, ReadOnlySpan<T> physical, Span<long> logical) where T : struct, IBinaryInteger<T>
    {
        int perWeight = run.Geometry.Slices * run.Geometry.Polarities;
        for (int j = 0, pc = 0; j < logical.Length; j++)
        {
            long sum = 0;
            for (int q = 0; q < perWeight; q++, pc++) sum += long.CreateTruncating(physical[pc]);
            logical[j] = sum;
        }
    }
}
