using PimQuant.Sim;
using PimQuant.Hardware.Cost;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;

namespace PimQuant.Tests.Sim;

/// <summary>Event counts worked out by hand, and the counts of random layers against the reference.</summary>
public class EventCountTests
{
    // K = 5 rows on one 5-row crossbar, OU row groups of 3: g0 = rows 0..2, g1 = rows 3..4 (short).
    // Differential, bw = 2 → one slice, two polarities: 4 bitlines, OUs of 2 bitlines: OU0 = column 0
    // (G+, G−), OU1 = column 1. W col1 is 0 on rows 3..4, so OU1 of g1 holds only zeros and is skipped.
    // a = [1, 0, 0, 2, 3], 1-bit DAC: t0 = [1,0,0,0,1], t1 = [0,0,0,1,1].
    private static readonly int[] Weights = [1, 1, -1, 0, 0, -1, 1, 0, 1, 0];
    private static readonly byte[] Activations = [1, 0, 0, 2, 3];

    private static ProgrammedLayer Layer() => ProgrammedLayer.Program(CrossbarConfig.Create(new CrossbarSettings
    {
        Rows = 5, Cols = 4, OuRows = 3, OuCols = 2, CellBits = 1, DacBits = 1, AdcBits = 3, WeightEncoding = WeightEncoding.Differential,
        ColumnFlip = false, WeightBits = 2, ActivationBits = 2,
    }), Weights, 5, 2, new ProgramOptions { OuSkip = OuSkip.AllZero });

    [Fact]
    public void Hand_sized_layer()
    {
        var layer = Layer();
        var y = new double[2];
        var events = layer.Run(Activations, y, 1, SimConfiguration.Default);
        // g0: 2 OUs × 2 digits = 4 reads, 8 conversions, 4·3 = 12 drives; non-zero drives t0: 1 row × 2 OUs = 2,
        //     t1: 0 (both reads see an all-zero digit).
        // g1: 1 OU × 2 digits = 2 reads, 4 conversions, 2·2 = 4 drives; non-zero t0: 1, t1: 2 → 3;
        //     OU1 skipped: 1 read per digit = 2.
        // Cell reads: g0 4 reads × 3 rows × 2 bitlines = 24, g1 2 × 2 × 2 = 8. One array: it performs all 6 reads.
        // Differential without flip: no digit sums.
        Assert.Equal(new EventCounts
        {
            OuReads = 6, ZeroInputReads = 2, AdcConversions = 12, ShiftAdds = 12, DacDrives = 16, NonzeroDacDrives = 5, OuSkippedReads = 2,
            CellReads = 32, CriticalPathOuReads = 6,
        }, events);
        Assert.Equal(12, events.ShiftAdds);
        // Lossless (p ≤ 3 ≤ 2^3 − 1, skipped OU all zero): a·W = [1 + 2 + 3, 1] = [6, 1].
        Assert.True(layer.IsLossless);
        Assert.Equal([6.0, 1.0], y);
    }

    [Fact]
    public void Hand_sized_layer_with_a_digit_schedule()
    {
        // Skip digit 1 of g0 (it is zero on every row of g0, as ReDy's leading-zero rule would find):
        // g0 now reads 2 (t0 only), 4 conversions, 6 drives, 2 non-zero; 2 reads are skipped by the policy.
        var y = new double[2];
        var events = Layer().Run(Activations, y, 1, SimConfiguration.Default, new RunOptions { DigitPolicy = new SkipDigit(group: 0, digit: 1) });
        // Cell reads 2 × 6 + 8 = 20. The policy examines each of the pixel's K = 5 inputs once: 5 digit selections.
        Assert.Equal(new EventCounts
        {
            OuReads = 4, ZeroInputReads = 0, AdcConversions = 8, ShiftAdds = 8, DacDrives = 10, NonzeroDacDrives = 5, OuSkippedReads = 2, DigitSkippedReads = 2,
            CellReads = 20, CriticalPathOuReads = 4, DigitSelections = 5,
        }, events);
        Assert.Equal([6.0, 1.0], y);
        foreach (var path in SimCases.AllPaths.Where(Layer().Supports))
        {
            var c = new SimCase(Layer().Config, Weights, 5, 2, Activations, 1, new ProgramOptions { OuSkip = OuSkip.AllZero });
            Assert.Equal(events, SimCases.Run(Layer(), c, path, policy: new SkipDigit(0, 1)).Events);
        }
    }

    [Fact]
    public void Precision_table_reads_are_counted_per_streamed_round_of_a_row_group()
    {
        // A table of 3-bit entries, 2 in row group 0 and 1 in row group 1 (e.g. a pruned block's entry among them: entries are
        // read whatever they say). One pixel, 2 digits: g0 2 rounds × 2 × 3 = 12 bits, g1 2 × 1 × 3 = 6: 18 bits.
        var options = new ProgramOptions { OuSkip = OuSkip.AllZero, PrecisionIndex = new PrecisionIndex(3, [2, 1]) };
        var layer = ProgrammedLayer.Program(Layer().Config, Weights, 5, 2, options);
        var y = new double[2];
        var events = layer.Run(Activations, y, 1, SimConfiguration.Default);
        Assert.Equal(18, events.IndexReadBits);
        Assert.Equal(Layer().Run(Activations, new double[2], 1) with { IndexReadBits = 18 }, events);
        // A digit the policy does not stream reads no entry: g0 skips digit 1, 6 bits fewer.
        Assert.Equal(12, layer.Run(Activations, y, 1, SimConfiguration.Default, new RunOptions { DigitPolicy = new SkipDigit(group: 0, digit: 1) }).IndexReadBits);
        // The lossless count from digit statistics (every digit streamed) reads the same table.
        Assert.Equal(18, layer.EventsOfAllDigits(DigitStatistics.Of(Activations, 1, layer)).IndexReadBits);
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(Layer().Config, Weights, 5, 2, options with { PrecisionIndex = new PrecisionIndex(3, [2]) }));
    }

    [Fact]
    public void Counting_can_be_turned_off()
    {
        var y = new double[2];
        Assert.Equal(EventCounts.Zero, Layer().Run(Activations, y, 1, SimConfiguration.Default, new RunOptions { CountEvents = false }));
        Assert.Equal([6.0, 1.0], y);
    }

    private sealed class SkipDigit(int group, int digit) : IInputDigitPolicy
    {
        public void SelectDigits(long pixel, ReadOnlySpan<byte> activations, LayerGeometry geometry, Span<uint> digitMasks)
            => digitMasks[group] &= ~(1u << digit);
    }
}
