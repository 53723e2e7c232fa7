using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Quantizers;
using static TorchSharp.torch;
using ExecutionContext = PimQuant.Engine.Execution.ExecutionContext;

namespace PimQuant.Quant.Model;

/// <summary>
/// Runs a quantized Conv, Gemm or MatMul: quantizes input 0 (activation), input 1 (weight) and,
/// where the accumulator has a per-channel scale, input 2 (bias, <see cref="BiasQuantization"/>) as
/// the model's mode and the layer's switches say, then calls the standard kernel. Dynamic activation
/// groups need the im2col vectors, so a dynamically quantized Conv is computed as a matrix product
/// of the lowered weight and the quantized vectors (<see cref="ConvLowering"/>).
/// </summary>
internal sealed class QuantizedLayerKernel(QuantizedModel model, QuantizedLayer layer) : INodeKernel
{
    public Tensor Run(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context)
    {
        var standard = StandardKernels.ByOpType[node.OpType];
        switch (model.Mode)
        {
            case QuantizationMode.FullPrecision:
                return standard.Run(node, inputs, context);
            case QuantizationMode.Calibration:
                if (layer.QuantizeActivation) layer.Activation?.Observe(inputs[0]!);
                return standard.Run(node, inputs, context);
        }
        var x = inputs[0]!;
        var w = inputs[1]!;
        if (layer.Weight is { } wq && layer.QuantizeWeight) w = wq.Quantize(w, context.Training);
        var args = inputs.ToArray();
        args[1] = w;
        if (layer.QuantizesBias && layer.QuantizeWeight && layer.QuantizeActivation && args.Length > 2 && args[2] is { } bias)
            args[2] = BiasQuantization.FakeQuantize(bias, layer.Activation!.Scale(), layer.Weight!.Scale());
        if (layer.Activation is { } aq && layer.QuantizeActivation)
        {
            if (aq.IsDynamic)
            {
                if (node.OpType == "Conv") return DynamicConv(node, aq, x, w, inputs.Count > 2 ? inputs[2] : null, context.Training);
                // A linear layer's input rows are its im2col vectors.
                var columns = x.reshape(-1, 1, x.shape[^1], 1);
                args[0] = aq.QuantizeColumns(columns, context.Training).reshape(x.shape);
            }
            else
            {
                var dropping = model.Dropping;
                args[0] = aq.Quantize(x, context.Training, dropping?.Probability ?? 0, dropping?.Generator, layer.DropValue);
            }
        }
        return standard.Run(node, args, context);
    }

    /// <summary>
    /// im2col elements one chunk of images may unfold to (16 MB of float32). A batch's im2col vectors are
    /// K·L per image (ResNet-20's 16-channel 3×3 layers: 144 × 784), and quantizing them makes several copies:
    /// a whole batch of 256 at once held about 2 GB in one kernel. Each image's groups are independent, so
    /// chunks give the same result.
    /// </summary>
    private const long ColumnBudget = 4L << 20;

    private static Tensor DynamicConv(Node node, ActivationQuantizer quantizer, Tensor x, Tensor weight, Tensor? bias, bool training)
    {
        var lowering = ConvLowering.Of(node, x.shape, weight.shape);
        var (height, width) = lowering.OutputSize(x.shape[2], x.shape[3]);
        long perImage = x.shape[1] * lowering.Kernel.Aggregate(1L, (a, b) => a * b) * height * width;
        long images = Math.Max(1, ColumnBudget / Math.Max(1, perImage));
        if (x.shape[0] <= images)
            return lowering.Multiply(quantizer.QuantizeColumns(lowering.Unfold(x), training), weight, bias, height, width);
        var outputs = new List<Tensor>();
        foreach (var part in x.split(images))
        {
            using var chunk = NewDisposeScope();
            outputs.Add(lowering.Multiply(quantizer.QuantizeColumns(lowering.Unfold(part), training), weight, bias, height, width).MoveToOuterDisposeScope());
        }
        return cat(outputs, 0);
    }
}
