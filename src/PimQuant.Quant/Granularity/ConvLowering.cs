using PimQuant.Engine.Graph;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PimQuant.Quant.Granularity;

/// <summary>
/// The im2col view of a 2-D convolution: every output position reads one input vector of length
/// K = (Cin/groups)·kh·kw per convolution group, in the order channel-major, then kh, then kw —
/// the row order of <see cref="WeightLowering"/>. The convolution is then y[n, g, :, l] =
/// M_gᵀ · x[n, g, :, l]. This is what a crossbar computes; dynamic activation groups and the
/// crossbar simulator work on these vectors.
/// </summary>
/// <param name="Kernel">kh, kw.</param>
/// <param name="Strides">Strides along h and w.</param>
/// <param name="Pads">ONNX pads: h_begin, w_begin, h_end, w_end (auto_pad already resolved).</param>
/// <param name="Dilations">Dilations along h and w.</param>
/// <param name="Groups">Convolution groups.</param>
public sealed record ConvLowering(long[] Kernel, long[] Strides, long[] Pads, long[] Dilations, int Groups)
{
    /// <summary>The lowering of Conv <paramref name="node"/> applied to an input of shape <paramref name="inputShape"/> (NCHW).</summary>
    /// <exception cref="GraphException">Not a 2-D convolution, or an auto_pad value ONNX does not define.</exception>
    public static ConvLowering Of(Node node, IReadOnlyList<long> inputShape, IReadOnlyList<long> weightShape)
    {
        if (inputShape.Count != 4 || weightShape.Count != 4)
            throw new GraphException($"node '{node.Name}' ({node.OpType}): only 2-D convolutions (rank 4, NCHW) can be lowered");
        long[] kernel = node.GetInts("kernel_shape") ?? [weightShape[2], weightShape[3]];
        long[] strides = node.GetInts("strides") ?? [1, 1];
        long[] dilations = node.GetInts("dilations") ?? [1, 1];
        return new ConvLowering(kernel, strides, ResolvePads(node, inputShape, kernel, strides, dilations), dilations, (int)node.GetInt("group", 1));
    }

    /// <summary>ONNX auto_pad: SAME_UPPER/SAME_LOWER pad so that out = ceil(in/stride), the odd pixel at the end (upper) or start (lower).</summary>
    private static long[] ResolvePads(Node node, IReadOnlyList<long> inputShape, long[] kernel, long[] strides, long[] dilations)
    {
        string autoPad = node.GetString("auto_pad", "NOTSET");
        switch (autoPad)
        {
            case "NOTSET": return node.GetInts("pads") ?? new long[4];
            case "VALID": return new long[4];
            case "SAME_UPPER" or "SAME_LOWER":
                var pads = new long[4];
                for (int d = 0; d < 2; d++)
                {
                    long size = inputShape[2 + d], outSize = (size + strides[d] - 1) / strides[d];
                    long total = Math.Max(0, (outSize - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - size);
                    long small = total / 2, large = total - small;
                    (pads[d], pads[d + 2]) = autoPad == "SAME_UPPER" ? (small, large) : (large, small);
                }
                return pads;
            default:
                throw new GraphException($"node '{node.Name}' ({node.OpType}): auto_pad '{autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
        }
    }

    /// <summary>Output height and width for an input of height <paramref name="h"/> and width <paramref name="w"/>.</summary>
    public (long Height, long Width) OutputSize(long h, long w) =>
        ((h + Pads[0] + Pads[2] - Dilations[0] * (Kernel[0] - 1) - 1) / Strides[0] + 1,
         (w + Pads[1] + Pads[3] - Dilations[1] * (Kernel[1] - 1) - 1) / Strides[1] + 1);

    /// <summary>
    /// The input vectors of <paramref name="x"/> (N, Cin, H, W): (N, groups, K, L) with L = Hout·Wout
    /// output positions in row-major order; zero padding appears as zeros in the vectors.
    /// </summary>
    public Tensor Unfold(Tensor x)
    {
        var padded = F.pad(x, [Pads[1], Pads[3], Pads[0], Pads[2]]);
        var columns = F.unfold(padded, (Kernel[0], Kernel[1]), (Dilations[0], Dilations[1]), (0, 0), (Strides[0], Strides[1]));
        return columns.reshape(x.shape[0], Groups, columns.shape[1] / Groups, columns.shape[2]);
    }

    /// <summary>
    /// The convolution of input vectors <paramref name="columns"/> (N, groups, K, L) with
    /// <paramref name="weight"/> (Cout, Cin/groups, kh, kw) and an optional bias, shaped
    /// (N, Cout, <paramref name="outHeight"/>, <paramref name="outWidth"/>).
    /// </summary>
    public Tensor Multiply(Tensor columns, Tensor weight, Tensor? bias, long outHeight, long outWidth)
    {
        long cout = weight.shape[0];
        var w = weight.reshape(Groups, cout / Groups, columns.shape[2]);
        var y = matmul(w.unsqueeze(0), columns).reshape(columns.shape[0], cout, outHeight, outWidth);
        return bias is null ? y : y + bias.reshape(1, cout, 1, 1);
    }
}
