using static TorchSharp.torch;

namespace PimQuant.Quant.Granularity;

/// <summary>How a layer stores its weight tensor.</summary>
public enum WeightOrientation
{
    /// <summary>Output channels first: Conv (Cout, Cin/groups, kh, kw) and Gemm with transB (out, in).</summary>
    OutputFirst,
    /// <summary>Inputs first: MatMul and Gemm without transB, (in, out).</summary>
    InputFirst,
}

/// <summary>
/// The one lowering of a layer (docs/hardware.md §0), read alike by quantization, the mapping, the cost model
/// and the simulator. The lowered weight matrix M a crossbar holds: K rows (the reduction: (Cin/groups)·kh·kw
/// for a convolution, in im2col order — channel-major, then kh, then kw — or the input features of a linear
/// layer) by N = Cout columns. With convolution groups, the groups' K × Cout/groups matrices stand side by
/// side, group g owning columns [g·Cout/groups, (g+1)·Cout/groups). For
/// <see cref="WeightOrientation.OutputFirst"/>, M[k, n] = w.reshape(Cout, K)[n, k], so M = w.reshape(Cout, K)ᵀ;
/// for <see cref="WeightOrientation.InputFirst"/>, M = w.
/// <para>The same matrix seen from the input side: the ordinary im2col vector over all Cin channels has
/// <see cref="InputRows"/> = groups·K entries, and the groups sit block-diagonally in an <see cref="InputRows"/> ×
/// N matrix whose cells off the diagonal blocks do not exist (<see cref="Holds"/>): the view the crossbar
/// mapping tiles.</para>
/// </summary>
public sealed record WeightLowering
{
    /// <summary>Describes the lowering of a weight of shape <paramref name="weightShape"/>.</summary>
    /// <exception cref="ArgumentException">The shape does not fit the orientation or the group count.</exception>
    public WeightLowering(IReadOnlyList<long> weightShape, WeightOrientation orientation, int convolutionGroups = 1)
    {
        if (weightShape.Count < 2) throw new ArgumentException($"a weight needs at least 2 dimensions, got [{string.Join(", ", weightShape)}]", nameof(weightShape));
        if (orientation == WeightOrientation.InputFirst && weightShape.Count != 2)
            throw new ArgumentException($"an (in, out) weight has 2 dimensions, got [{string.Join(", ", weightShape)}]", nameof(weightShape));
        if (convolutionGroups < 1) throw new ArgumentOutOfRangeException(nameof(convolutionGroups), convolutionGroups, "at least 1");
        WeightShape = [.. weightShape];
        Orientation = orientation;
        ConvolutionGroups = convolutionGroups;
        long rows = orientation == WeightOrientation.OutputFirst ? weightShape.Skip(1).Aggregate(1L, (a, d) => a * d) : weightShape[0];
        long columns = orientation == WeightOrientation.OutputFirst ? weightShape[0] : weightShape[1];
        if (columns % convolutionGroups != 0)
            throw new ArgumentException($"{columns} output channels do not divide into {convolutionGroups} groups", nameof(convolutionGroups));
        Rows = checked((int)rows);
        Columns = checked((int)columns);
    }

    /// <summary>The weight tensor's shape.</summary>
    public IReadOnlyList<long> WeightShape { get; }

    /// <summary>How the weight tensor is laid out.</summary>
    public WeightOrientation Orientation { get; }

    /// <summary>Convolution groups (1 for linear layers).</summary>
    public int ConvolutionGroups { get; }

    /// <summary>K, the rows of M: the length of one input vector.</summary>
    public int Rows { get; }

    /// <summary>N, the columns of M: output channels over all groups.</summary>
    public int Columns { get; }

    /// <summary>Columns per convolution group.</summary>
    public int ColumnsPerGroup => Columns / ConvolutionGroups;

    /// <summary>Kernel height kh (1 for a linear layer).</summary>
    public int KernelHeight => Orientation == WeightOrientation.OutputFirst && WeightShape.Count > 2 ? (int)WeightShape[2] : 1;

    /// <summary>Kernel width kw (1 for a linear layer or a 1-D convolution).</summary>
    public int KernelWidth => Orientation == WeightOrientation.OutputFirst && WeightShape.Count > 3 ? (int)WeightShape[3] : 1;

    /// <summary>Weights held: K·N.</summary>
    public long Weights => (long)Rows * Columns;

    /// <summary>groups·K = Cin·kh·kw: the length of the im2col vector over all input channels, the rows of the
    /// block-diagonal view.</summary>
    public int InputRows => ConvolutionGroups * Rows;

    /// <summary>The convolution group of logical column (output channel) <paramref name="column"/>.</summary>
    public int GroupOfColumn(int column) => column / ColumnsPerGroup;

    /// <summary>The convolution group of block-diagonal row <paramref name="inputRow"/>.</summary>
    public int GroupOfInputRow(int inputRow) => inputRow / Rows;

    /// <summary>True when block-diagonal (<paramref name="inputRow"/>, <paramref name="column"/>) holds a weight (same group).</summary>
    public bool Holds(int inputRow, int column) => GroupOfInputRow(inputRow) == GroupOfColumn(column);

    /// <summary>The block-diagonal rows [Start, Start + Count) holding column <paramref name="column"/>'s weights.</summary>
    public (int Start, int Count) InputRowsOfColumn(int column) => (GroupOfColumn(column) * Rows, Rows);

    /// <summary>The block-diagonal row of input channel <paramref name="channel"/> (0..Cin−1) at kernel position
    /// (<paramref name="ky"/>, <paramref name="kx"/>): (channel·kh + ky)·kw + kx, i.e. im2col order.</summary>
    public int InputRowOf(int channel, int ky, int kx) => (channel * KernelHeight + ky) * KernelWidth + kx;

    /// <summary>Same shape, orientation and groups (the shape compared element by element).</summary>
    public bool Equals(WeightLowering? other) =>
        other is not null && Orientation == other.Orientation && ConvolutionGroups == other.ConvolutionGroups
        && WeightShape.SequenceEqual(other.WeightShape);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Orientation, ConvolutionGroups, Rows, Columns, WeightShape.Count);

    /// <summary>The lowering of a Conv weight (Cout, Cin/groups, kh, kw).</summary>
    public static WeightLowering ForConv(IReadOnlyList<long> weightShape, int groups) => new(weightShape, WeightOrientation.OutputFirst, groups);

    /// <summary>M (K × N) from a weight tensor of <see cref="WeightShape"/>.</summary>
    public Tensor ToLowered(Tensor weight) =>
        Orientation == WeightOrientation.OutputFirst ? weight.reshape(Columns, Rows).t() : weight;

    /// <summary>The weight tensor from M (K × N), contiguous (a strided view would change how kernels sum).</summary>
    public Tensor FromLowered(Tensor lowered) =>
        (Orientation == WeightOrientation.OutputFirst ? lowered.t().reshape([.. WeightShape]) : lowered).contiguous();

    /// <summary>The flat (row-major) index in the weight tensor of M[row, column].</summary>
    public long WeightIndex(int row, int column) =>
        Orientation == WeightOrientation.OutputFirst ? (long)column * Rows + row : (long)row * Columns + column;
}
