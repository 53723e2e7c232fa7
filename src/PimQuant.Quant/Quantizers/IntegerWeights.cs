using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;

namespace PimQuant.Quant.Quantizers;

/// <summary>
/// The integer view of a quantized weight, laid out as the lowered matrix M the crossbar holds
/// (K rows × N columns, row-major, see <see cref="WeightLowering"/>), with its scale groups explicit.
/// For element (k, n) in group g = <see cref="GroupOf"/>(k, n):
/// <list type="bullet">
/// <item>integer formats: the code c is the stored integer in [qmin, qmax], the level is c − z_g,
/// and the weight is s_g·(c − z_g) (z_g = 0 when symmetric);</item>
/// <item>power-of-two, APoT and float formats: the code is the format's bit pattern
/// (<see cref="NumberFormat.LevelOf"/>), z_g = 0, and the weight is s_g·level, the level being an
/// exact sum of signed powers of two (<see cref="NumberFormat.Terms"/>).</item>
/// </list>
/// The products are computed in float32 exactly as fake quantization computes them, so
/// <see cref="Dequantize"/> equals the fake-quantized weight bit for bit.
/// With a precision map (<see cref="Precision"/>) each element's code and level belong to its
/// precision group's format (<see cref="FormatAt"/>, <see cref="BitsAt"/>); a pruned group's codes
/// and levels are 0. Without one, every element has <see cref="Format"/> and there is one precision group.
/// </summary>
public sealed record IntegerWeights
{
    internal IntegerWeights(NumberFormat format, WeightPrecision? precision, WeightLowering lowering, WeightGroupLayout layout, int[] codes, float[] levels, float[] scales, int[] zeroPoints)
    {
        Format = format;
        Precision = precision;
        if (precision is null)
        {
            PrecisionGroups = [new ScaleGroup(0, lowering.Rows, 0, lowering.Columns)];
            PrecisionGroupOfElement = new int[codes.Length];
            GroupFormats = [format];
        }
        else
        {
            var groups = WeightGroupLayout.Rectangles(lowering, precision.Granularity);
            PrecisionGroups = groups;
            PrecisionGroupOfElement = WeightGroupLayout.GroupOfElements(lowering, groups);
            GroupFormats = precision.Formats;
        }
        Lowering = lowering;
        Groups = layout.Groups;
        GroupOfElement = layout.GroupOfElement;
        Codes = codes;
        Levels = levels;
        Scales = scales;
        ZeroPoints = zeroPoints;
    }

    /// <summary>The quantizer's number format: every element's without a precision map, the family and sign of every group's with one.</summary>
    public NumberFormat Format { get; }

    /// <summary>The precision map the weights were quantized with, or null (all <see cref="Format"/>).</summary>
    public WeightPrecision? Precision { get; }

    /// <summary>The precision groups (the map's, or one group of all of M); <see cref="GroupFormats"/>[p] belongs to group p.</summary>
    public IReadOnlyList<ScaleGroup> PrecisionGroups { get; }

    /// <summary>The precision group of each element of M, row-major.</summary>
    public IReadOnlyList<int> PrecisionGroupOfElement { get; }

    /// <summary>The format of each precision group; null for a pruned group (0 bits, all codes 0).</summary>
    public IReadOnlyList<NumberFormat?> GroupFormats { get; }

    /// <summary>The format of element <paramref name="index"/> of M (row-major), null when pruned.</summary>
    public NumberFormat? FormatOfElement(int index) => GroupFormats[PrecisionGroupOfElement[index]];

    /// <summary>The format of M[row, column], null when its group is pruned.</summary>
    public NumberFormat? FormatAt(int row, int column) => FormatOfElement(row * Columns + column);

    /// <summary>The bits of M[row, column] (sign included), 0 when its group is pruned.</summary>
    public int BitsAt(int row, int column) => FormatAt(row, column)?.Bits ?? 0;

    /// <summary>Bits per weight averaged over M (configured bits, a pruned group counting 0).</summary>
    public double MeanBits => Precision?.MeanBits(Lowering) ?? Format.Bits;

    /// <summary>The lowering (K, N, convolution groups, weight shape).</summary>
    public WeightLowering Lowering { get; }

    /// <summary>K.</summary>
    public int Rows => Lowering.Rows;

    /// <summary>N.</summary>
    public int Columns => Lowering.Columns;

    /// <summary>The scale groups; <see cref="Scales"/>[g] and <see cref="ZeroPoints"/>[g] belong to group g.</summary>
    public IReadOnlyList<ScaleGroup> Groups { get; }

    /// <summary>The group of each element of M, row-major.</summary>
    public IReadOnlyList<int> GroupOfElement { get; }

    /// <summary>The codes of M, row-major (index k·N + n).</summary>
    public IReadOnlyList<int> Codes { get; }

    /// <summary>The levels of M, row-major: code − zero point for integers, the decoded value otherwise.</summary>
    public IReadOnlyList<float> Levels { get; }

    /// <summary>The scale of each group.</summary>
    public IReadOnlyList<float> Scales { get; }

    /// <summary>The zero point of each group (0 when symmetric).</summary>
    public IReadOnlyList<int> ZeroPoints { get; }

    /// <summary>The group of M[row, column].</summary>
    public int GroupOf(int row, int column) => GroupOfElement[row * Columns + column];

    /// <summary>The code of M[row, column].</summary>
    public int CodeAt(int row, int column) => Codes[row * Columns + column];

    /// <summary>The weight value of M[row, column]: scale·level in float32.</summary>
    public float ValueAt(int row, int column) => Scales[GroupOf(row, column)] * Levels[row * Columns + column];

    /// <summary>M dequantized, row-major K × N.</summary>
    public float[] Dequantize()
    {
        var values = new float[Codes.Count];
        for (int i = 0; i < values.Length; i++) values[i] = Scales[GroupOfElement[i]] * Levels[i];
        return values;
    }
}
