using System.Collections.Frozen;
using PimQuant.Engine.Graph;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PimQuant.Engine.Execution;

/// <summary>The operators PimQuant executes, with ONNX semantics, on TorchSharp's operators.</summary>
public static partial class StandardKernels
{
    /// <summary>
    /// A standard kernel. <paramref name="fresh"/>: the result never shares storage with an input and no input is
    /// kept after the call, so the executor may let a later step overwrite the result, or overwrite an input
    /// whose last reader this is. <paramref name="inPlace"/>: the same operator written into its first input.
    /// </summary>
    internal sealed class Standard(Func<Node, IReadOnlyList<Tensor?>, ExecutionContext, Tensor> run, bool fresh = false,
        Func<Node, IReadOnlyList<Tensor?>, Tensor?>? inPlace = null) : INodeKernel
    {
        public Tensor Run(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context) => run(node, inputs, context);

        /// <summary>See the class summary.</summary>
        public bool Fresh => fresh;

        /// <summary>Writes the result into the first input and returns it, or returns null where it cannot (e.g. a broadcast that grows the first input).</summary>
        public Tensor? RunInPlace(Node node, IReadOnlyList<Tensor?> inputs) => inPlace?.Invoke(node, inputs);

        /// <summary>Whether <see cref="RunInPlace"/> can ever succeed.</summary>
        public bool HasInPlace => inPlace is not null;
    }

    /// <summary>Kernels by operator type.</summary>
    public static FrozenDictionary<string, INodeKernel> ByOpType { get; } = new Dictionary<string, INodeKernel>
    {
        ["Conv"] = new Standard(Conv, fresh: true),
        ["Gemm"] = new Standard(Gemm, fresh: true),
        ["MatMul"] = new Standard((n, i, _) => MatMul(n, i[0]!, i[1]!), fresh: true),
        ["BatchNormalization"] = new Standard(BatchNorm, fresh: true),
        ["Relu"] = new Standard((_, i, _) => F.relu(i[0]!), fresh: true, inPlace: (_, i) => i[0]!.relu_()),
        ["Clip"] = new Standard(Clip),
        ["MaxPool"] = new Standard(MaxPool, fresh: true),
        ["AveragePool"] = new Standard(AveragePool, fresh: true),
        ["GlobalAveragePool"] = new Standard((_, i, _) => i[0]!.mean(Enumerable.Range(2, (int)i[0]!.dim() - 2).Select(d => (long)d).ToArray(), keepdim: true), fresh: true),
        ["Add"] = new Standard((_, i, _) => i[0]! + i[1]!, fresh: true, inPlace: (_, i) => KeepsShape(i) ? i[0]!.add_(i[1]!) : null),
        ["Sub"] = new Standard((_, i, _) => i[0]! - i[1]!, fresh: true),
        ["Mul"] = new Standard((_, i, _) => i[0]! * i[1]!, fresh: true),
        ["Div"] = new Standard(Div, fresh: true),
        ["Concat"] = new Standard((n, i, _) => cat(i.Select(t => t!).ToArray(), Axis(n, n.GetInt("axis", 0), i[0]!.dim())), fresh: true),
        ["Flatten"] = new Standard(Flatten),
        ["Reshape"] = new Standard(Reshape),
        ["Transpose"] = new Standard(Transpose),
        ["Identity"] = new Standard((_, i, _) => i[0]!.alias()),
        ["Dropout"] = new Standard(Dropout),
        ["Softmax"] = new Standard((n, i, _) => F.softmax(i[0]!, Axis(n, n.GetInt("axis", -1), i[0]!.dim())), fresh: true),
        // Activations and gates of MobileNetV3, EfficientNet (SiLU = x·sigmoid(x), squeeze-excite) and others.
        ["Sigmoid"] = new Standard((_, i, _) => i[0]!.sigmoid(), fresh: true),
        ["Tanh"] = new Standard((_, i, _) => i[0]!.tanh(), fresh: true),
        ["HardSigmoid"] = new Standard(HardSigmoid, fresh: true),
        ["HardSwish"] = new Standard((_, i, _) => F.hardswish(i[0]!), fresh: true),
        ["LeakyRelu"] = new Standard((n, i, _) => F.leaky_relu(i[0]!, n.GetFloat("alpha", 0.01f)), fresh: true),
        ["PRelu"] = new Standard(PRelu, fresh: true),
        ["ReduceMean"] = new Standard((n, i, _) => Reduce(n, i, (x, axes, keep) => x.mean(axes, keep)), fresh: true),
        ["ReduceMax"] = new Standard((n, i, _) => Reduce(n, i, (x, axes, keep) => x.amax(axes, keep)), fresh: true),
        ["ReduceSum"] = new Standard((n, i, _) => Reduce(n, i, (x, axes, keep) => x.sum(axes, keep)), fresh: true),
        // ConvNeXt: LayerNorm (written out as ReduceMean, Sub, Pow, Sqrt, Div before opset 17) and GELU as Erf.
        ["LayerNormalization"] = new Standard(LayerNorm, fresh: true),
        ["Pow"] = new Standard((_, i, _) => i[0]!.pow(i[1]!).to_type(i[0]!.dtype), fresh: true),
        ["Sqrt"] = new Standard((_, i, _) => i[0]!.sqrt(), fresh: true),
        ["Erf"] = new Standard((_, i, _) => i[0]!.erf(), fresh: true),
        ["Pad"] = new Standard(Pad),
        ["Slice"] = new Standard(Slice),
        ["Expand"] = new Standard(Expand),
        ["Resize"] = new Standard(Resize, fresh: true),
        // Shape arithmetic, as PyTorch's exporter emits it; constant folding evaluates these.
        ["Shape"] = new Standard((_, i, _) => tensor(i[0]!.shape, ScalarType.Int64)),
        ["Gather"] = new Standard(Gather),
        ["Unsqueeze"] = new Standard(Unsqueeze),
        ["Squeeze"] = new Standard(Squeeze),
        ["Cast"] = new Standard(Cast),
        // QDQ models (ONNX Runtime's and PyTorch's quantization tools, PimQuant's export).
        ["QuantizeLinear"] = new Standard(QdqKernels.Quantize, fresh: true),
        ["DequantizeLinear"] = new Standard(QdqKernels.Dequantize, fresh: true),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Whether a + b has a's shape and dtype, so it can be written into a.</summary>
    private static bool KeepsShape(IReadOnlyList<Tensor?> i)
    {
        var (a, b) = (i[0]!, i[1]!);
        if (a.dtype != b.dtype || b.dim() > a.dim()) return false;
        for (int d = 1; d <= b.dim(); d++)
            if (b.shape[^d] != a.shape[^d] && b.shape[^d] != 1) return false;
        return true;
    }

    /// <summary>ONNX pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...] for a spatial op, resolving auto_pad.</summary>
    internal static long[] ResolvePads(Node node, long[] inputShape, long[] kernel, long[] strides, long[] dilations)
    {
        int spatial = kernel.Length;
        string autoPad = node.GetString("auto_pad", "NOTSET");
        if (autoPad is "NOTSET")
        {
            var given = node.GetInts("pads") ?? new long[2 * spatial];
            if (given.Length != 2 * spatial || given.Any(p => p < 0))
                throw new GraphException($"node '{node.Name}' ({node.OpType}): attribute 'pads' = [{string.Join(",", given)}] must hold {2 * spatial} non-negative values");
            return given;
        }
        if (autoPad is "VALID")
            return new long[2 * spatial];
        if (autoPad is not ("SAME_UPPER" or "SAME_LOWER"))
            throw new GraphException($"node '{node.Name}' ({node.OpType}): auto_pad '{autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
        var pads = new long[2 * spatial];
        for (int d = 0; d < spatial; d++)
        {
            long size = inputShape[2 + d];
            long outSize = (size + strides[d] - 1) / strides[d];
            long effective = (kernel[d] - 1) * dilations[d] + 1;
            long total = Math.Max(0, (outSize - 1) * strides[d] + effective - size);
            long small = total / 2, large = total - small;
            (pads[d], pads[d + spatial]) = autoPad == "SAME_UPPER" ? (small, large) : (large, small);
        }
        return pads;
    }

    /// <summary>Splits ONNX pads into symmetric padding for torch and, if uneven, an explicit pre-pad.</summary>
    private static (Tensor input, long[] symmetric) ApplyPads(Tensor input, long[] pads, double value)
    {
        int spatial = pads.Length / 2;
        bool even = true;
        for (int d = 0; d < spatial; d++) even &= pads[d] == pads[d + spatial];
        if (even) return (input, pads[..spatial]);
        // torch.nn.functional.pad takes (last_begin, last_end, prev_begin, prev_end, ...).
        var torchPads = new long[2 * spatial];
        for (int d = 0; d < spatial; d++)
        {
            torchPads[2 * (spatial - 1 - d)] = pads[d];
            torchPads[2 * (spatial - 1 - d) + 1] = pads[d + spatial];
        }
        return (F.pad(input, torchPads, PaddingModes.Constant, value), new long[spatial]);
    }

    /// <summary>An axis attribute normalised to [0, rank), or a GraphException naming the node (ONNX allows [-rank, rank), or [-rank, rank] for Flatten's split point).</summary>
    private static long Axis(Node node, long axis, long rank, bool inclusiveEnd = false)
    {
        long limit = inclusiveEnd ? rank + 1 : rank;
        long normalised = axis < 0 ? axis + rank : axis;
        if (normalised < 0 || normalised >= limit)
            throw new GraphException($"node '{node.Name}' ({node.OpType}): axis {axis} is out of range for rank {rank}");
        return normalised;
    }

    /// <summary>A per-spatial-dimension attribute (strides, dilations, kernel_shape) with its length checked.</summary>
    private static long[] Spatial(Node node, string name, long[]? value, int spatial, long fallback, bool positive = true)
    {
        if (value is null) return Enumerable.Repeat(fallback, spatial).ToArray();
        if (value.Length != spatial || (positive && value.Any(v => v < 1)))
            throw new GraphException($"node '{node.Name}' ({node.OpType}): attribute '{name}' = [{string.Join(",", value)}] must hold {spatial} positive values");
        return value;
    }

    private static long[] Ones(int n) => Enumerable.Repeat(1L, n).ToArray();

    private static void Require2d(Node node, Tensor x)
    {
        if (x.dim() != 4)
            throw new GraphException($"node '{node.Name}' ({node.OpType}): only 2-D spatial inputs (rank 4, NCHW) are supported, got rank {x.dim()}");
    }

    private static Tensor Conv(Node node, IReadOnlyList<Tensor?> i, ExecutionContext ctx)
    {
        var x = i[0]!; var w = i[1]!;
        Require2d(node, x);
        if (w.dim() != 4)
            throw new GraphException($"node '{node.Name}' (Conv): weight has shape [{string.Join(",", w.shape)}], expected rank 4 (Cout, Cin/group, kh, kw)");
        // kernel_shape is optional for Conv: the weight's spatial dimensions are the kernel.
        long[] kernel = node.GetInts("kernel_shape") is { } given ? Spatial(node, "kernel_shape", given, 2, 1) : w.shape[2..];
        if (!kernel.SequenceEqual(w.shape[2..]))
            throw new GraphException($"node '{node.Name}' (Conv): kernel_shape [{string.Join(",", kernel)}] does not match the weight's [{string.Join(",", w.shape[2..])}]");
        long[] strides = Spatial(node, "strides", node.GetInts("strides"), 2, 1);
        long[] dilations = Spatial(node, "dilations", node.GetInts("dilations"), 2, 1);
        var (padded, pads) = ApplyPads(x, ResolvePads(node, x.shape, kernel, strides, dilations), 0);
        return F.conv2d(padded, ctx.ChannelsLast ? ToChannelsLast(w) : w, i.Count > 2 ? i[2] : null, strides, pads, dilations, node.GetInt("group", 1));
    }

    /// <summary>
    /// The same NCHW tensor with channels-last (NHWC) strides; no copy if it has them already. libtorch's
    /// oneDNN convolution reorders NCHW operands into a blocked layout and the result back on every call;
    /// given a channels-last weight it runs its NHWC kernels instead, and returns a channels-last result,
    /// which the elementwise operators keep, so the next convolution reorders nothing.
    /// </summary>
    private static Tensor ToChannelsLast(Tensor t) => t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    private static Tensor Gemm(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        float alpha = node.GetFloat("alpha", 1f), beta = node.GetFloat("beta", 1f);
        bool transA = node.GetInt("transA", 0) != 0, transB = node.GetInt("transB", 0) != 0;
        var a = transA ? i[0]!.t() : i[0]!;
        var c = i.Count > 2 ? i[2] : null;
        if (transB && alpha == 1f && (c is null || beta == 1f))
            return F.linear(a, i[1]!, c);
        var y = MatMul(node, a, transB ? i[1]!.t() : i[1]!);
        if (alpha != 1f) y = y * alpha;
        if (c is not null) y = y + (beta == 1f ? c : c * beta);
        return y;
    }

    /// <summary>
    /// torch.matmul with its operand shapes checked first: TorchSharp's native matmul does not catch
    /// libtorch's shape error, which then terminates the process instead of raising an exception.
    /// </summary>
    private static Tensor MatMul(Node node, Tensor a, Tensor b)
    {
        if (a.dim() == 0 || b.dim() == 0)
            throw new GraphException($"node '{node.Name}' ({node.OpType}): operands must have rank ≥ 1, got [{string.Join(",", a.shape)}] and [{string.Join(",", b.shape)}]");
        long inner = a.shape[^1], other = b.dim() == 1 ? b.shape[0] : b.shape[^2];
        if (inner != other)
            throw new GraphException($"node '{node.Name}' ({node.OpType}): shapes [{string.Join(",", a.shape)}] and [{string.Join(",", b.shape)}] cannot be multiplied");
        return matmul(a, b);
    }

    private static Tensor BatchNorm(Node node, IReadOnlyList<Tensor?> i, ExecutionContext ctx)
    {
        float eps = node.GetFloat("epsilon", 1e-5f);
        // ONNX: running = running * momentum + batch * (1 - momentum); torch's momentum is the other weight.
        float momentum = node.GetFloat("momentum", 0.9f);
        return F.batch_norm(i[0]!, i[3]!, i[4]!, i[1]!, i[2]!, ctx.Training, 1.0 - momentum, eps);
    }

    private static Tensor Clip(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        // Opset >= 11 passes the bounds as inputs; opset 6 as attributes.
        Scalar? min = i.Count > 1 && i[1] is { } lo ? lo.item<float>() : node.Attributes.ContainsKey("min") ? node.GetFloat("min", 0) : null;
        Scalar? max = i.Count > 2 && i[2] is { } hi ? hi.item<float>() : node.Attributes.ContainsKey("max") ? node.GetFloat("max", 0) : null;
        return (min, max) switch
        {
            (null, null) => i[0]!.alias(),
            (_, null) => i[0]!.clamp_min(min!),
            (null, _) => i[0]!.clamp_max(max!),
            _ => i[0]!.clamp(min!, max!),
        };
    }

    private static Tensor MaxPool(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        Require2d(node, x);
        long[] kernel = Spatial(node, "kernel_shape", node.GetInts("kernel_shape") ?? throw new GraphException($"node '{node.Name}' (MaxPool): kernel_shape is required"), 2, 1);
        long[] strides = Spatial(node, "strides", node.GetInts("strides"), 2, 1);
        long[] dilations = Spatial(node, "dilations", node.GetInts("dilations"), 2, 1);
        if (node.GetInt("storage_order", 0) != 0)
            throw new GraphException($"node '{node.Name}' (MaxPool): storage_order=1 is not supported");
        var (padded, pads) = ApplyPads(x, ResolvePads(node, x.shape, kernel, strides, dilations), double.NegativeInfinity);
        return F.max_pool2d(padded, kernel, strides, pads, dilations, node.GetInt("ceil_mode", 0) != 0);
    }

    private static Tensor AveragePool(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        Require2d(node, x);
        long[] kernel = Spatial(node, "kernel_shape", node.GetInts("kernel_shape") ?? throw new GraphException($"node '{node.Name}' (AveragePool): kernel_shape is required"), 2, 1);
        long[] strides = Spatial(node, "strides", node.GetInts("strides"), 2, 1);
        bool countPad = node.GetInt("count_include_pad", 0) != 0;
        // Opset 19 added dilations to AveragePool; torch's avg_pool2d has none.
        if (Spatial(node, "dilations", node.GetInts("dilations"), 2, 1).Any(d => d != 1))
            throw new GraphException($"node '{node.Name}' (AveragePool): dilations other than 1 are not supported");
        long[] onnxPads = ResolvePads(node, x.shape, kernel, strides, Ones(2));
        bool even = onnxPads[0] == onnxPads[2] && onnxPads[1] == onnxPads[3];
        if (!even && !countPad)
            throw new GraphException($"node '{node.Name}' (AveragePool): asymmetric pads need count_include_pad=1");
        var (padded, pads) = ApplyPads(x, onnxPads, 0);
        return F.avg_pool2d(padded, kernel, strides, pads, node.GetInt("ceil_mode", 0) != 0, countPad);
    }

    private static Tensor Div(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var (a, b) = (i[0]!, i[1]!);
        // ONNX integer division truncates; shape arithmetic relies on it.
        return a.is_floating_point() ? a / b : a.div(b, RoundingMode.trunc);
    }

    private static Tensor Flatten(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        long axis = Axis(node, node.GetInt("axis", 1), x.dim(), inclusiveEnd: true);
        long outer = 1;
        for (int d = 0; d < axis; d++) outer *= x.shape[d];
        return x.reshape(outer, outer == 0 ? 0 : -1);
    }

    private static Tensor Reshape(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        long[] shape = i[1]!.data<long>().ToArray();
        bool allowZero = node.GetInt("allowzero", 0) != 0;
        for (int d = 0; d < shape.Length; d++)
            if (shape[d] == 0 && !allowZero)
            {
                if (d >= x.dim())
                    throw new GraphException($"node '{node.Name}' (Reshape): shape entry {d} is 0 but the input has rank {x.dim()}");
                shape[d] = x.shape[d];
            }
        return x.reshape(shape);
    }

    private static Tensor Transpose(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        long[] perm = node.GetInts("perm") ?? Enumerable.Range(0, (int)x.dim()).Reverse().Select(d => (long)d).ToArray();
        if (perm.Length != x.dim() || !perm.Order().SequenceEqual(Enumerable.Range(0, (int)x.dim()).Select(d => (long)d)))
            throw new GraphException($"node '{node.Name}' (Transpose): perm [{string.Join(",", perm)}] is not a permutation of the input's {x.dim()} axes");
        return x.permute(perm);
    }

    private static Tensor Dropout(Node node, IReadOnlyList<Tensor?> i, ExecutionContext ctx)
    {
        if (!ctx.Training) return i[0]!.alias();
        double ratio = i.Count > 1 && i[1] is { } r ? r.item<float>() : node.GetFloat("ratio", 0.5f);
        return F.dropout(i[0]!, ratio, training: true);
    }

    private static Tensor Gather(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var data = i[0]!; var indices = i[1]!;
        long axis = Axis(node, node.GetInt("axis", 0), data.dim());
        var idx = indices.to_type(ScalarType.Int64);
        idx = where(idx < 0, idx + data.shape[axis], idx);
        var flat = data.index_select(axis, idx.flatten());
        var shape = data.shape[..(int)axis].Concat(indices.shape).Concat(data.shape[((int)axis + 1)..]).ToArray();
        return flat.reshape(shape);
    }

    private static long[] AxesOf(Node node, IReadOnlyList<Tensor?> i) =>
        i.Count > 1 && i[1] is { } t ? t.data<long>().ToArray() : node.GetInts("axes") ?? [];

    private static Tensor Unsqueeze(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        long[] axes = AxesOf(node, i);
        long rank = x.dim() + axes.Length;
        var sorted = axes.Select(a => a < 0 ? a + rank : a).Order().ToArray();
        foreach (var a in sorted) x = x.unsqueeze(a);
        return x;
    }

    private static Tensor Squeeze(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        var x = i[0]!;
        long[] axes = AxesOf(node, i);
        if (axes.Length == 0) return x.squeeze();
        foreach (var a in axes.Select(a => a < 0 ? a + x.dim() : a).OrderDescending()) x = x.squeeze(a);
        return x;
    }

    private static Tensor Cast(Node node, IReadOnlyList<Tensor?> i, ExecutionContext _)
    {
        long to = node.GetInt("to", 1);
        var type = to switch
        {
            1 => ScalarType.Float32,
            6 => ScalarType.Int32,
            7 => ScalarType.Int64,
            11 => ScalarType.Float64,
            _ => throw new GraphException($"node '{node.Name}' (Cast): target type {to} is not supported"),
        };
        return i[0]!.to_type(type);
    }
}
