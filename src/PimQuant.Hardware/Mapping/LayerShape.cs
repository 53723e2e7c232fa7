using PimQuant.Quant.Granularity;

namespace PimQuant.Hardware.Mapping;

/// <summary>Kind of a layer that runs on crossbars.</summary>
public enum LayerKind
{
    /// <summary>Convolution (grouped and depthwise included).</summary>
    Conv,
    /// <summary>Fully connected (Gemm / MatMul with a constant weight).</summary>
    Linear,
}

/// <summary>
/// The shape of one crossbar layer: all the mapping and the cost model need (no weights, no
/// graph). A linear layer is a 1×1 convolution with one output pixel per input row.
/// </summary>
public sealed record LayerShape
{
    /// <summary>Creates and validates a shape.</summary>
    public LayerShape(string name, LayerKind kind, int inChannels, int outChannels, int kernelH, int kernelW, int groups, long outputPixels)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kernelH, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kernelW, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(groups, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputPixels, 1);
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"layer '{name}': {inChannels} input and {outChannels} output channels are not both divisible by {groups} groups");
        if (kind == LayerKind.Linear && (kernelH != 1 || kernelW != 1 || groups != 1))
            throw new ArgumentException($"layer '{name}': a linear layer has a 1×1 kernel and one group");
        Name = name;
        Kind = kind;
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelH = kernelH;
        KernelW = kernelW;
        Groups = groups;
        OutputPixels = outputPixels;
    }

    /// <summary>A convolution producing an <paramref name="outH"/>×<paramref name="outW"/> output per image.</summary>
    public static LayerShape Conv(string name, int inChannels, int outChannels, int kernelH, int kernelW, int outH, int outW, int groups = 1) =>
        new(name, LayerKind.Conv, inChannels, outChannels, kernelH, kernelW, groups, checked((long)outH * outW));

    /// <summary>A depthwise convolution (groups = channels, channel multiplier <paramref name="multiplier"/>).</summary>
    public static LayerShape Depthwise(string name, int channels, int kernelH, int kernelW, int outH, int outW, int multiplier = 1) =>
        Conv(name, channels, channels * multiplier, kernelH, kernelW, outH, outW, groups: channels);

    /// <summary>A linear layer; <paramref name="rows"/> input vectors per image (1 for a classifier head).</summary>
    public static LayerShape Linear(string name, int inFeatures, int outFeatures, long rows = 1) =>
        new(name, LayerKind.Linear, inFeatures, outFeatures, 1, 1, 1, rows);

    /// <summary>Layer name (the graph node's).</summary>
    public string Name { get; }

    /// <summary>Conv or linear.</summary>
    public LayerKind Kind { get; }

    /// <summary>Input channels (features for linear).</summary>
    public int InChannels { get; }

    /// <summary>Output channels (features for linear).</summary>
    public int OutChannels { get; }

    /// <summary>Kernel height.</summary>
    public int KernelH { get; }

    /// <summary>Kernel width.</summary>
    public int KernelW { get; }

    /// <summary>Convolution groups (= channels for depthwise).</summary>
    public int Groups { get; }

    /// <summary>Input vectors per image: output pixels H_out·W_out for conv, rows for linear.</summary>
    public long OutputPixels { get; }

    /// <summary>True for a depthwise convolution (one input channel per group).</summary>
    public bool IsDepthwise => Kind == LayerKind.Conv && Groups > 1 && Groups == InChannels;

    /// <summary>K: rows of one group's matrix, (Cin/groups)·kh·kw.</summary>
    public int RowsPerGroup => InChannels / Groups * KernelH * KernelW;

    /// <summary>N: columns of one group's matrix, Cout/groups.</summary>
    public int ColumnsPerGroup => OutChannels / Groups;

    /// <summary>The layer's lowering: the weight (Cout, Cin/groups, kh, kw) of a convolution, (out, in) of a linear
    /// layer, output channels first.</summary>
    public WeightLowering Lowering => Kind == LayerKind.Linear
        ? new WeightLowering([OutChannels, InChannels], WeightOrientation.OutputFirst)
        : WeightLowering.ForConv([OutChannels, InChannels / Groups, KernelH, KernelW], Groups);

    /// <summary>Multiply-accumulates per image: pixels · groups · K · N.</summary>
    public long Macs => OutputPixels * Groups * (long)RowsPerGroup * ColumnsPerGroup;
}
