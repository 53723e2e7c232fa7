using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using static TorchSharp.torch;
using ExecutionContext = PimQuant.Engine.Execution.ExecutionContext;

namespace PimQuant.Quant.Export;

/// <summary>
/// ONNX QuantizeLinear and DequantizeLinear (opset 13: per-tensor, or per-axis with a 1-D scale;
/// int8/uint8) as executor kernels, so PimQuant runs a QDQ graph itself:
/// QuantizeLinear y = saturate(round(x / y_scale) + y_zero_point), rounding half to even, the type
/// that of y_zero_point (uint8 when absent); DequantizeLinear y = (x − x_zero_point)·x_scale.
/// Use <see cref="Overrides"/> as the executor's <see cref="KernelOverrides"/>.
/// </summary>
public static class QdqKernels
{
    /// <summary>The QDQ kernel for a QuantizeLinear or DequantizeLinear node, null for any other.</summary>
    public static INodeKernel? Overrides(Node node) => node.OpType switch
    {
        "QuantizeLinear" => Quantize.Instance,
        "DequantizeLinear" => Dequantize.Instance,
        _ => null,
    };

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

    private sealed class Quantize : INodeKernel
    {
        public static readonly Quantize Instance = new();

        public Tensor Run(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context)
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
    }

    private sealed class Dequantize : INodeKernel
    {
        public static readonly Dequantize Instance = new();

        public Tensor Run(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context)
        {
            var x = inputs[0]!;
            var values = x.to_type(ScalarType.Float32);
            if (inputs.Count > 2 && inputs[2] is { } zero) values = values - AlongAxis(node, zero, x).to_type(ScalarType.Float32);
            return values * AlongAxis(node, inputs[1]!, x);
        }
    }
}
