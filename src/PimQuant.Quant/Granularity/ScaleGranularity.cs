namespace PimQuant.Quant.Granularity;

/// <summary>
/// Which elements share one scale (and zero point). Weight groups are rectangles of the lowered
/// weight matrix (<see cref="WeightLowering"/>): K = (Cin/groups)·kh·kw rows by Cout columns.
/// Activation groups are the whole tensor, one input channel, or — computed at run time — a run of
/// consecutive elements of each im2col input vector.
/// </summary>
public abstract record ScaleGranularity
{
    private protected ScaleGranularity() { }

    /// <summary>One scale for the whole tensor.</summary>
    public static PerTensor Tensor { get; } = new();

    /// <summary>One scale per output channel (weights: a column of the lowered matrix) or input channel (activations).</summary>
    public static PerChannel Channel { get; } = new();

    /// <summary>The YAML/report name of the kind: tensor, channel, array, ou, dynamic.</summary>
    public abstract string Kind { get; }

    /// <summary>One scale for the whole tensor.</summary>
    public sealed record PerTensor : ScaleGranularity
    {
        /// <inheritdoc/>
        public override string Kind => "tensor";
        /// <inheritdoc/>
        public override string ToString() => Kind;
    }

    /// <summary>One scale per channel.</summary>
    public sealed record PerChannel : ScaleGranularity
    {
        /// <inheritdoc/>
        public override string Kind => "channel";
        /// <inheritdoc/>
        public override string ToString() => Kind;
    }

    /// <summary>One weight scale per crossbar array: a tile of <paramref name="Rows"/> × <paramref name="Columns"/> of the lowered matrix (CIMQ's array-wise granularity).</summary>
    public sealed record PerArray(int Rows, int Columns) : ScaleGranularity
    {
        /// <inheritdoc/>
        public override string Kind => "array";
        /// <inheritdoc/>
        public override string ToString() => $"array {Rows}x{Columns}";
    }

    /// <summary>One weight scale per operation unit: a tile of <paramref name="Rows"/> × <paramref name="Columns"/> of the lowered matrix (BWQ's 9×8 blocks).</summary>
    public sealed record PerOuBlock(int Rows, int Columns) : ScaleGranularity
    {
        /// <inheritdoc/>
        public override string Kind => "ou";
        /// <inheritdoc/>
        public override string ToString() => $"ou {Rows}x{Columns}";
    }

    /// <summary>
    /// Activation scales computed at run time for every group of <paramref name="Size"/> consecutive
    /// elements of each im2col input vector (one output position, one convolution group), from the
    /// group's own maximum magnitude (ReDy's reading: a group is the slice driving one crossbar's rows).
    /// </summary>
    public sealed record DynamicGroup(int Size) : ScaleGranularity
    {
        /// <inheritdoc/>
        public override string Kind => "dynamic";
        /// <inheritdoc/>
        public override string ToString() => $"dynamic {Size}";
    }
}
