using PimQuant.Engine.Graph;
using static TorchSharp.torch;

namespace PimQuant.Engine.Execution;

/// <summary>
/// ONNX QuantizeLinear and DequantizeLinear (opset 13: per-tensor, or per-axis with a 1-D scale;
/// int8/uint8, and int32 for DequantizeLinear of biases) as standard kernels, so the executor runs a
/// QDQ graph as ONNX defines it:
/// QuantizeLinear y = saturate(round(x / y_scale) + y_zero_point), rounding half to even, the type
/// that of y_zero_point (uint8 when absent); DequantizeLinear y = (x − x_zero_point)·x_scale.
/// </summary>
internal static class QdqKernels
{

    /// <summary>A per-axis parameter reshaped to broadcast along the node's axis (default 1) of <paramref name="x"/>.</summary>
    private static Tensor AlongAxis(Node node, Tensor parameter, Tensor x)
    {
        if (parameter.dim() == 0 || parameter.numel() == 1 && parameter.dim() == 1 && x.dim() == 0) return parameter.reshape([]);
        long axis = node.GetInt("axis", 1);
        if (axis < 0) axis += x.dim();
        var shape = Enumerable.Repeat(1L, (int)x.dim()).ToArray();
        shape[axis] = parameter.shape[0];
        return parameter.reshape(shape);
    }

    /// <summary>QuantizeLinear.</summary>
    public static Tensor Quantize(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context)
    {
        var x = inputs[0]!;
        var scale = AlongAxis(node, inputs[1]!, x);
        var zero = inputs.Count > 2 ? inputs[2] : null;
        var type = zero?.dtype ?? ScalarType.Byte;
        var (min, max) = type switch
        {
            ScalarType.Int8 => (-128, 127),
            ScalarType.Byte => (0, 255),
            _ => throw new GraphException($"node '{node.Name}' (QuantizeLinear): zero point type {type} is not supported (int8, uint8)"),
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
