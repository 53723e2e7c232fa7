using PimQuant.Engine.Graph;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PimQuant.Engine.Execution;

// Activations, reductions and the operators that move or select elements, with ONNX semantics.
public static partial class StandardKernels
{
    private static string List(IEnumerable<long> values) => string.Join(",", values);

    /// <summary>An integer operand (starts, pads, shape...) as int64 values; ONNX allows int32 or int64.</summary>
    private static long[] Longs(Tensor t) => t.to_type(ScalarType.Int64).contiguous().data<long>().ToArray();

    /// <summary>max(0, min(1, alpha·x + beta)); PyTorch's hardsigmoid is alpha = 1/6, beta = 0.5.</summary>
    private static Tensor HardSigmoid(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _) =>
        i[0]!.mul(node.GetFloat("alpha", 0.2f)).add_(node.GetFloat("beta", 0.5f)).clamp_(0, 1);

    /// <summary>x where x ≥ 0, slope·x elsewhere; the slope broadcasts to x (PyTorch writes it as [C, 1, 1]).</summary>
    private static Tensor PRelu(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var (x, slope) = (i[0]!, i[1]!);
        var y = where(x < 0, x * slope, x);
        if (!y.shape.SequenceEqual(x.shape))
            throw new GraphException($"node '{node.Name}' (PRelu): slope [{List(slope.shape)}] does not broadcast to the input [{List(x.shape)}]");
        return y;
    }

    /// <summary>
    /// LayerNormalization (opset 17): normalises over the axes from <c>axis</c> (default -1) to the last, then scales
    /// and shifts; Scale and B broadcast to those axes. Only the first output (Y) is computed.
    /// </summary>
    private static Tensor LayerNorm(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var (x, scale, bias) = (i[0]!, i[1]!, i.Count > 2 ? i[2] : null);
        long axis = Axis(node, node.GetInt("axis", -1), x.dim());
        long[] normalised = x.shape[(int)axis..];
        float eps = node.GetFloat("epsilon", 1e-5f);
        // libtorch's fused affine needs weight and bias of exactly the normalised shape; otherwise broadcast after.
        if (scale.shape.SequenceEqual(normalised) && (bias is null || bias.shape.SequenceEqual(normalised)))
            return F.layer_norm(x, normalised, scale, bias, eps);
        var y = F.layer_norm(x, normalised, null, null, eps) * scale;
        return bias is null ? y : y + bias;
    }

    /// <summary>
    /// ReduceMean/Max/Sum: axes from the input (ReduceSum from opset 13, the others from 18) or the attribute;
    /// no axes reduce all of them unless noop_with_empty_axes is set.
    /// </summary>
    private static Tensor Reduce(Node node, IReadOnlyList<Tensor?> i, Func<Tensor, long[], bool, Tensor> reduce)
    {
        var x = i[0]!;
        long[] axes = AxesOf(node, i);
        bool keep = node.GetInt("keepdims", 1) != 0;
        if (axes.Length == 0)
        {
            if (node.GetInt("noop_with_empty_axes", 0) != 0) return x.clone();
            axes = Enumerable.Range(0, (int)x.dim()).Select(d => (long)d).ToArray();
        }
        var normalised = axes.Select(a => Axis(node, a, x.dim())).ToArray();
        if (normalised.Distinct().Count() != normalised.Length)
            throw new GraphException($"node '{node.Name}' ({node.OpType}): axes [{List(axes)}] repeat an axis");
        return reduce(x, normalised, keep);
    }

    /// <summary>
    /// Pad (opset 11+: pads, constant_value and, from 18, axes as inputs; the importer takes no older opset).
    /// Modes constant, reflect and edge; negative pads crop, as in ONNX. An all-zero pad (PyTorch writes one
    /// before every AvgPool2d that counts padding) returns its input.
    /// </summary>
    private static Tensor Pad(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        long[] pads = Longs(i[1]!);
        long rank = x.dim();
        long[] axes = i.Count > 3 && i[3] is { } a ? Longs(a).Select(v => Axis(node, v, rank)).ToArray() : Enumerable.Range(0, (int)rank).Select(d => (long)d).ToArray();
        if (pads.Length != 2 * axes.Length)
            throw new GraphException($"node '{node.Name}' (Pad): pads [{List(pads)}] must hold 2 × {axes.Length} values for an input of rank {rank}");
        if (pads.All(v => v == 0)) return x.alias();
        // torch.nn.functional.pad takes (last_begin, last_end, previous_begin, previous_end, ...) from the last axis back.
        var begin = new long[rank]; var end = new long[rank];
        for (int k = 0; k < axes.Length; k++) (begin[axes[k]], end[axes[k]]) = (pads[k], pads[k + axes.Length]);
        int first = Enumerable.Range(0, (int)rank).First(d => begin[d] != 0 || end[d] != 0);
        var torchPads = new List<long>();
        for (long d = rank - 1; d >= first; d--) { torchPads.Add(begin[d]); torchPads.Add(end[d]); }
        string mode = node.GetString("mode", "constant");
        double value = i.Count > 2 && i[2] is { } v && v.numel() > 0 ? v.to_type(ScalarType.Float64).item<double>() : 0;
        return mode switch
        {
            "constant" => F.pad(x, [.. torchPads], PaddingModes.Constant, value),
            "reflect" => F.pad(x, [.. torchPads], PaddingModes.Reflect),
            "edge" => F.pad(x, [.. torchPads], PaddingModes.Replicate),
            _ => throw new GraphException($"node '{node.Name}' (Pad): mode '{mode}' is not one of constant, reflect, edge"),
        };
    }

    /// <summary>Slice (opset 10+: starts, ends, axes, steps as inputs), with ONNX's clamping of out-of-range bounds.</summary>
    private static Tensor Slice(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        if (i.Count < 3 || i[1] is null || i[2] is null)
            throw new GraphException($"node '{node.Name}' (Slice): starts and ends must be inputs (opset 10 and later)");
        long[] starts = Longs(i[1]!), ends = Longs(i[2]!);
        long[] axes = i.Count > 3 && i[3] is { } a ? Longs(a) : Enumerable.Range(0, starts.Length).Select(d => (long)d).ToArray();
        long[] steps = i.Count > 4 && i[4] is { } s ? Longs(s) : Ones(starts.Length);
        if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
            throw new GraphException($"node '{node.Name}' (Slice): starts, ends, axes and steps have lengths {starts.Length}, {ends.Length}, {axes.Length}, {steps.Length}; they must agree");
        for (int k = 0; k < starts.Length; k++)
        {
            long axis = Axis(node, axes[k], x.dim()), dim = x.shape[axis], step = steps[k];
            if (step == 0) throw new GraphException($"node '{node.Name}' (Slice): step 0 on axis {axes[k]}");
            long start = starts[k] < 0 ? starts[k] + dim : starts[k];
            long end = ends[k] < 0 ? ends[k] + dim : ends[k];
            if (step > 0)
            {
                start = Math.Clamp(start, 0, dim);
                end = Math.Clamp(end, start, dim);
                if (start != 0 || end != dim || step != 1) x = x.slice(axis, start, end, step);
            }
            else
            {
                // torch slices only forwards: pick the indices start, start+step, ... above end.
                start = Math.Clamp(start, 0, dim - 1);
                end = Math.Clamp(end, -1, dim - 1);
                x = x.index_select(axis, start > end ? arange(start, end, step, ScalarType.Int64) : empty(0, ScalarType.Int64));
            }
        }
        return x;
    }

    /// <summary>Expand: the input broadcast with the shape input (either may have the larger dimension).</summary>
    private static Tensor Expand(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        long[] shape = Longs(i[1]!);
        int rank = Math.Max((int)x.dim(), shape.Length);
        var result = new long[rank];
        for (int d = 1; d <= rank; d++)
        {
            long a = d <= x.dim() ? x.shape[^d] : 1, b = d <= shape.Length ? shape[^d] : 1;
            result[^d] = a == b || b == 1 ? a : a == 1 ? b
                : throw new GraphException($"node '{node.Name}' (Expand): shape [{List(shape)}] does not broadcast with the input [{List(x.shape)}]");
        }
        return x.expand(result);
    }

    /// <summary>
    /// Resize (opset 11+) in nearest mode over the spatial axes of an NCHW input, with every ONNX coordinate
    /// transformation but tf_crop_and_resize and every nearest rounding mode: the source index of each output
    /// row and column is computed here once, and the pixels are gathered with index_select.
    /// </summary>
    private static Tensor Resize(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        Require2d(node, x);
        string mode = node.GetString("mode", "nearest");
        if (mode != "nearest")
            throw new GraphException($"node '{node.Name}' (Resize): mode '{mode}' is not supported, only 'nearest'");
        if (node.GetInts("axes") is not null || node.GetInt("antialias", 0) != 0 || node.GetString("keep_aspect_ratio_policy", "stretch") != "stretch")
            throw new GraphException($"node '{node.Name}' (Resize): the opset-18 attributes axes, antialias and keep_aspect_ratio_policy are not supported");
        float[]? scales = i.Count > 2 && i[2] is { } sc && sc.numel() > 0 ? sc.to_type(ScalarType.Float32).data<float>().ToArray() : null;
        long[]? sizes = i.Count > 3 && i[3] is { } sz && sz.numel() > 0 ? Longs(sz) : null;
        if ((scales is null) == (sizes is null))
            throw new GraphException($"node '{node.Name}' (Resize): exactly one of scales and sizes must be given");
        if ((scales?.Length ?? sizes!.Length) != 4)
            throw new GraphException($"node '{node.Name}' (Resize): scales or sizes must hold 4 values for an NCHW input");
        bool keepsBatchAndChannels = scales is not null ? scales[0] == 1 && scales[1] == 1 : sizes![0] == x.shape[0] && sizes[1] == x.shape[1];
        if (!keepsBatchAndChannels)
            throw new GraphException($"node '{node.Name}' (Resize): only the spatial axes may be resized, but {(scales is not null ? $"scales are [{string.Join(",", scales)}]" : $"sizes are [{List(sizes!)}]")} for an input [{List(x.shape)}]");
        string transform = node.GetString("coordinate_transformation_mode", "half_pixel");
        string rounding = node.GetString("nearest_mode", "round_prefer_floor");
        var result = x;
        for (int axis = 2; axis < 4; axis++)
        {
            long inSize = x.shape[axis];
            long outSize = sizes is not null ? sizes[axis] : (long)Math.Floor(inSize * (double)scales![axis]);
            double scale = scales is not null ? scales[axis] : (double)outSize / inSize;
            var source = new long[outSize];
            for (long o = 0; o < outSize; o++)
            {
                double at = transform switch
                {
                    "half_pixel" => (o + 0.5) / scale - 0.5,
                    "pytorch_half_pixel" => outSize > 1 ? (o + 0.5) / scale - 0.5 : 0,
                    "align_corners" => outSize == 1 ? 0 : o * (inSize - 1) / (double)(outSize - 1),
                    "asymmetric" => o / scale,
                    "tf_half_pixel_for_nn" => (o + 0.5) / scale,
                    _ => throw new GraphException($"node '{node.Name}' (Resize): coordinate_transformation_mode '{transform}' is not supported"),
                };
                bool tie = at == Math.Floor(at) + 0.5;
                double nearest = rounding switch
                {
                    "round_prefer_floor" => tie ? Math.Floor(at) : Math.Round(at),
                    "round_prefer_ceil" => tie ? Math.Ceiling(at) : Math.Round(at),
                    "floor" => Math.Floor(at),
                    "ceil" => Math.Ceiling(at),
                    _ => throw new GraphException($"node '{node.Name}' (Resize): nearest_mode '{rounding}' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil"),
                };
                source[o] = Math.Clamp((long)nearest, 0, inSize - 1);
            }
            result = result.index_select(axis, tensor(source, ScalarType.Int64));
        }
        return result;
    }
}
