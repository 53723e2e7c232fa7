using System.Numerics;

namespace PimQuant.Sim.Kernels;

/// <summary>A worker's state for a read-by-read path: per pixel, <typeparamref name="T"/> sums per bitline over a segment's
/// reads (strided so pixels' rows do not share L1 sets), and the logical sums of one pixel.</summary>
internal abstract class AccumulatingBlock<T>(RunContext run, int block, int stride) : PixelBlock(run, block) where T : struct, IBinaryInteger<T>
{
    /// <summary>Elements per pixel in <see cref="Accumulators"/>.</summary>
    public readonly int AccumulatorStride = stride;
    public readonly T[] Accumulators = new T[block * stride];
    public readonly long[] Logical = new long[run.Geometry.N];
}

/// <summary>
/// What a read-by-read path supplies to <see cref="ReadDriver"/>: how it lists the driven rows of one digit and reads one
/// row group into its accumulators. Implemented by structs, so the driver is specialised per path and the calls inline.
/// </summary>
internal interface IGroupReader<TWorkspace>
{
    /// <summary>Marks digit <paramref name="t"/> of pixel <paramref name="p"/> as not streamed in the current row group.</summary>
    void SkipDigit(TWorkspace ws, int p, int t);

    /// <summary>Prepares the read of streamed digit <paramref name="t"/> of pixel <paramref name="p"/> (the block's
    /// <paramref name="first"/> + p) in row group <paramref name="g"/>; returns the wordlines it drives with a non-zero digit.</summary>
    int SelectDigit(TWorkspace ws, int first, int p, int g, int t);

    /// <summary>Reads row group <paramref name="g"/> (converted by row tile <paramref name="rowTile"/>'s ADCs) for the block's
    /// <paramref name="count"/> pixels into their accumulators.</summary>
    void ReadGroup(TWorkspace ws, int g, int rowTile, int count);
}

/// <summary>
/// The loop the read-by-read paths share (bit-count and conductance): per digital segment, per OU row group, per pixel and
/// digit, which reads happen (the digit masks of the digit policy and the two's-complement split) and the event tally;
/// then the group's reads, and once per segment its factor (<see cref="PixelBlock.AddSegment"/>); the exact digital terms
/// last. A method that changes which reads happen changes the masks or this loop, never a path.
/// </summary>
internal static class ReadDriver
{
    /// <summary>Simulates the block of <paramref name="count"/> pixels from <paramref name="first"/> with <paramref name="reader"/>.</summary>
    public static void Process<TReader, TWorkspace, T>(TReader reader, RunContext run, TWorkspace ws, int first, int count)
        where TReader : struct, IGroupReader<TWorkspace> where TWorkspace : AccumulatingBlock<T> where T : struct, IBinaryInteger<T>
    {
        var layer = run.Layer;
        int digits = run.Config.Digits, groups = run.Geometry.RowGroupCount;
        ws.Prepare(run, first, count);
        for (int segment = 0; segment < layer.SegmentCount; segment++)
        {
            Array.Clear(ws.Accumulators, 0, count * ws.AccumulatorStride);
            for (int g = layer.SegmentFirstGroup[segment]; g < layer.SegmentFirstGroup[segment + 1]; g++)
            {
                for (int p = 0; p < count; p++)
                {
                    uint mask = ws.Masks[p * groups + g];
                    int nonzero = 0, zero = 0;
                    for (int t = 0; t < digits; t++)
                    {
                        if ((mask >> t & 1) == 0)
                        {
                            reader.SkipDigit(ws, p, t);
                            continue;
                        }
                        int driven = reader.SelectDigit(ws, first, p, g, t);
                        nonzero += driven;
                        if (driven == 0) zero++;
                    }
                    int streamed = BitOperations.PopCount(mask);
                    ws.Events.Record(g, streamed, digits - streamed, nonzero, zero);
                }
                reader.ReadGroup(ws, g, layer.SegmentTile[segment], count);
            }
            for (int p = 0; p < count; p++)
            {
                PixelBlock.SumSlices<T>(run, ws.Accumulators.AsSpan(p * ws.AccumulatorStride, run.Geometry.PhysicalColumns), ws.Logical);
                PixelBlock.AddSegment(run, segment, first + p, ws.Logical);
            }
        }
        ws.Finish(run, first, count);
    }
}
