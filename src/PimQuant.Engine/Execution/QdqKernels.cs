using PimQuant.Engine.Graph;
using static TorchSharp.torch;

namespace PimQuant.Engine.Execution;

/// <summary>
/// ONNX QuantizeLinear and DequantizeLinear as standard kernels, so the executor runs a QDQ graph as ONNX
/// defines it (opset 21): QuantizeLinear y = saturate(round(x / y_scale) + y_zero_point), rounding half to even,
/// the type that of y_zero_point, else the <c>output_dtype</c> attribute, else uint8; DequantizeLinear
/// y = (x − x_zero_point)·x_scale. The scale and zero point are per tensor (a scalar or one element), per axis
/// (1-D along <c>axis</c>, default 1) or blocked (<c>block_size</c> B &gt; 0: the rank of x, x's shape except
/// ceil(D/B) along <c>axis</c>, each value covering B consecutive elements, the last block possibly shorter).
/// Types: int8, uint8 and int16 (int32 for DequantizeLinear of biases); uint16, int4 and float8 tensors are
/// refused when the file is read (TorchSharp has no such tensors).
/// </summary>
internal static class QdqKernels
{
    /// <summary>ONNX TensorProto element types <c>output_dtype</c> may name here.</summary>
    private const int OnnxUint8 = 2, OnnxInt8 = 3, OnnxInt16 = 5;

    /// <summary>A scale or zero point broadcast against <paramref name="x"/> as the node's axis and block size say.</summary>
    private static Tensor AlongAxis(Node node, Tensor parameter, Tensor x)
    {
        long block = node.GetInt("block_size", 0);
        if (block < 0) throw new GraphException($"node '{node.Name}' ({node.OpType}): block_size {block} is negative");
        // One value (a scalar or a 1-element vector) is per tensor, as ONNX Runtime reads it.
        if (block == 0 && parameter.numel() == 1 && parameter.dim() <= 1) return parameter.reshape([]);
        long axis = node.GetInt("axis", 1);
        if (axis < -x.dim() || axis >= x.dim())
            throw new GraphException($"node '{node.Name}' ({node.OpType}): axis {axis} is outside the input's rank {x.dim()}");
        if (axis < 0) axis += x.dim();
        if (block == 0)
        {
            if (parameter.dim() != 1 || parameter.shape[0] != x.shape[axis])
                throw new GraphException($"node '{node.Name}' ({node.OpType}): a per-axis scale or zero point has one value per element of axis {axis} ({x.shape[axis]}), got shape [{string.Join(", ", parameter.shape)}]");
            var shape = Enumerable.Repeat(1L, (int)x.dim()).ToArray();
            shape[axis] = parameter.shape[0];
            return parameter.reshape(shape);
        }
        // Blocked quantization: the parameter has x's shape with ceil(D/B) along the axis.
        var expected = x.shape.ToArray();
        expected[axis] = (expected[axis] + block - 1) / block;
        if (!parameter.shape.SequenceEqual(expected))
            throw new GraphException($"node '{node.Name}' ({node.OpType}): with block_size {block} along axis {axis} the scale and zero point have shape [{string.Join(", ", expected)}], got [{string.Join(", ", parameter.shape)}]");
        return parameter.repeat_interleave(block, axis).narrow(axis, 0, x.shape[axis]);
    }

    /// <summary>QuantizeLinear.</summary>
    public static Tensor Quantize(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context)
    {
        var x = inputs[0]!;
        var scale = AlongAxis(node, inputs[1]!, x);
        var zero = inputs.Count > 2 ? inputs[2] : null;
        long outputType = node.GetInt("output_dtype", 0);
        var type = zero?.dtype ?? outputType switch
        {
            0 or OnnxUint8 => ScalarType.Byte,
            OnnxInt8 => ScalarType.Int8,
            OnnxInt16 => ScalarType.Int16,
            _ => throw new GraphException($"node '{node.Name}' (QuantizeLinear): output_dtype {outputType} is not supported (int8, uint8, int16)"),
        };
        var (min, max) = type switch
        {
            ScalarType.Int8 => (-128L, 127L),
            ScalarType.Byte => (0L, 255L),
            ScalarType.Int16 => (-32768L, 32767L),
            _ => throw new GraphException($"node '{node.Name}' (QuantizeLinear): zero point type {type} is not supported (int8, uint8, int16)"),
        };
        var rounded = (x / scale).round();
        if (zero is not null) rounded = rounded + AlongAxis(node, zero, x).to_type(ScalarType.Float32);
        return rounded.clamp(min, max).to_type(type);
    }

    /// <summary>DequantizeLinear.</summary>
    public static Tensor Dequantize(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context)
    {
        var x = inputs[0]!;
        var values = x.to_type(ScalarType.Float32);
        if (inputs.Count > 2 && inputs[2] is { } zero) values = values - AlongAxis(node, zero, x).to_type(ScalarType.Float32);
        return values * AlongAxis(node, inputs[1]!, x);
    }
}
