using System.Text.Json.Serialization;
using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Cost;

/// <summary>
/// Exact event counts of one layer for one image, of a simulated run, or their sum over layers: the one
/// event record, which <see cref="DenseEventCounts"/> computes from a mapping and the functional simulator
/// counts from the data (with the data-dependent savings only it sees; the two agree wherever both apply).
/// Definitions:
/// <list type="bullet">
/// <item><b>OU read</b>: one read of one <c>OuBlock</c> for one streamed input digit of one
/// output pixel: its rows driven with that digit, its columns sensed.</item>
/// <item><b>Cell read</b>: one cell at the crossing of a driven wordline and a converted bitline
/// in one OU read (the block's rows × columns, programmed or not).</item>
/// <item><b>DAC drive</b>: one wordline driven with one digit in one OU read. Every row of the
/// block counts in the dense case; a simulator that leaves rows with a zero digit undriven
/// counts only the others.</item>
/// <item><b>ADC conversion</b>: one bitline's partial sum converted in one OU read (counted with
/// an ideal ADC too).</item>
/// <item><b>Shift-and-add</b>: one converted code shifted by 2^(d·t + bit) and added into its
/// output accumulator (G− codes subtracted): one per ADC conversion.</item>
/// <item><b>Digit sum</b>: with offset encoding or column flip, the sum of one streamed digit over
/// the rows of one OU row group of one array that belong to one conv group, for one output
/// pixel; computed once and shared by that row group's OU reads.</item>
/// <item><b>Buffer read bits</b>: the lowered input vector (groups·K inputs × activation bits)
/// read from the tile buffer once per output pixel. <b>Buffer write bits</b> and <b>router
/// bits</b>: the layer's Cout outputs × output bits written to the buffer, and sent once through
/// the on-chip network, per output pixel.</item>
/// <item><b>Digit selection</b>: one input of one output pixel examined by the logic that chooses at run time which of its
/// group's digits are streamed (a digit policy such as ReDy's: comparators, leading-one detection, statistics); once per
/// input and pixel, however the inputs are grouped. 0 without a digit policy.</item>
/// <item><b>Index read bits</b>: with a precision-aware mapping, the bits of the per-block precision table
/// (<see cref="Mapping.PrecisionTable"/>) the controller reads: before each OU-read round of a weight block (one per
/// streamed input digit of an output pixel) it reads the block's entry to know how many OUs to read, pruned blocks
/// included (their entry reads 0 and triggers no OU read). 0 for dense mappings, which keep no table.</item>
/// <item><b>Critical-path OU reads</b>: the most OU reads any one array of the layer performs
/// (arrays read in parallel, an array's OUs one after another); latency = this × read cycle.</item>
/// </list>
/// </summary>
public sealed record EventCounts
{
    /// <summary>No events.</summary>
    public static EventCounts Zero { get; } = new();

    /// <summary>Useful multiply-accumulates (pixels · groups · K · N); operations = 2 · MACs.</summary>
    public long Macs { get; init; }

    /// <summary>OU reads.</summary>
    public long OuReads { get; init; }

    /// <summary>Cells on a driven row and converted column, summed over OU reads.</summary>
    public long CellReads { get; init; }

    /// <summary>Wordline drives.</summary>
    public long DacDrives { get; init; }

    /// <summary>ADC conversions.</summary>
    public long AdcConversions { get; init; }

    /// <summary>Shift-and-add operations.</summary>
    public long ShiftAdds { get; init; }

    /// <summary>Digit sums for the offset term and column flip.</summary>
    public long DigitSums { get; init; }

    /// <summary>Bits read from the tile buffer.</summary>
    public long BufferReadBits { get; init; }

    /// <summary>Bits written to the tile buffer.</summary>
    public long BufferWriteBits { get; init; }

    /// <summary>Bits sent through the on-chip network.</summary>
    public long RouterBits { get; init; }

    /// <summary>Bits of the per-block precision table read by the controller (0 without a table).</summary>
    public long IndexReadBits { get; init; }

    /// <summary>OU reads of the busiest array (summed over layers in a total).</summary>
    public long CriticalPathOuReads { get; init; }

    /// <summary>Of <see cref="OuReads"/>, reads whose input digits were all zero (what zero-skipping would save); counted by
    /// the simulator from the data, 0 in dense counts.</summary>
    public long ZeroInputReads { get; init; }

    /// <summary>Of <see cref="DacDrives"/>, wordlines driven with a non-zero digit; counted by the simulator, 0 in dense counts.</summary>
    public long NonzeroDacDrives { get; init; }

    /// <summary>OU reads a digit policy did not perform (not in <see cref="OuReads"/>); counted by the simulator.</summary>
    public long DigitSkippedReads { get; init; }

    /// <summary>Inputs a digit policy examined to choose the digits streamed; counted by the simulator, 0 in dense counts.</summary>
    public long DigitSelections { get; init; }

    /// <summary>OU reads not performed because an OU skip policy skips the OU (not in <see cref="OuReads"/>); counted by the simulator.</summary>
    public long OuSkippedReads { get; init; }

    /// <summary>Buffer bytes read.</summary>
    [JsonIgnore] // derived from the bits, which are what a serialized record holds
    public double BufferReadBytes => BufferReadBits / 8.0;

    /// <summary>Buffer bytes written.</summary>
    [JsonIgnore] // derived from the bits, which are what a serialized record holds
    public double BufferWriteBytes => BufferWriteBits / 8.0;

    /// <summary>Router bytes.</summary>
    [JsonIgnore] // derived from the bits, which are what a serialized record holds
    public double RouterBytes => RouterBits / 8.0;

    /// <summary>The count an event is priced on (bits for buffer, router and index events).</summary>
    public long Of(EventKind kind) => kind switch
    {
        EventKind.OuRead => OuReads,
        EventKind.CellRead => CellReads,
        EventKind.DacDrive => DacDrives,
        EventKind.AdcConversion => AdcConversions,
        EventKind.ShiftAdd => ShiftAdds,
        EventKind.DigitSum => DigitSums,
        EventKind.BufferRead => BufferReadBits,
        EventKind.BufferWrite => BufferWriteBits,
        EventKind.RouterTransfer => RouterBits,
        EventKind.DigitSelection => DigitSelections,
        EventKind.IndexRead => IndexReadBits,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Field-wise sum (critical paths add: layers one after another).</summary>
    public static EventCounts operator +(EventCounts a, EventCounts b) => new()
    {
        Macs = a.Macs + b.Macs,
        OuReads = a.OuReads + b.OuReads,
        CellReads = a.CellReads + b.CellReads,
        DacDrives = a.DacDrives + b.DacDrives,
        AdcConversions = a.AdcConversions + b.AdcConversions,
        ShiftAdds = a.ShiftAdds + b.ShiftAdds,
        DigitSums = a.DigitSums + b.DigitSums,
        BufferReadBits = a.BufferReadBits + b.BufferReadBits,
        BufferWriteBits = a.BufferWriteBits + b.BufferWriteBits,
        RouterBits = a.RouterBits + b.RouterBits,
        IndexReadBits = a.IndexReadBits + b.IndexReadBits,
        CriticalPathOuReads = a.CriticalPathOuReads + b.CriticalPathOuReads,
        ZeroInputReads = a.ZeroInputReads + b.ZeroInputReads,
        NonzeroDacDrives = a.NonzeroDacDrives + b.NonzeroDacDrives,
        DigitSkippedReads = a.DigitSkippedReads + b.DigitSkippedReads,
        OuSkippedReads = a.OuSkippedReads + b.OuSkippedReads,
        DigitSelections = a.DigitSelections + b.DigitSelections,
    };
}
