using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Model;
using PimQuant.Quant.Quantizers;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Quant.Export;

/// <summary>A quantized model that cannot be written as ONNX QDQ; the message names the layer and the reason.</summary>
public sealed class QdqExportException(string message) : GraphException(message);

/// <summary>The QDQ graph and what the rewrite had to do differently for some layers.</summary>
/// <param name="Graph">The new graph (the caller disposes it).</param>
/// <param name="Notes">Per-layer remarks, e.g. weights written as float32 fake-quantized values.</param>
public sealed record QdqGraph(ModelGraph Graph, IReadOnlyList<string> Notes);

/// <summary>
/// Rewrites a <see cref="QuantizedModel"/> as an ONNX QDQ graph (opset ≥ 13), in which ONNX
/// Runtime computes what PimQuant's fake quantization computes:
/// <list type="bullet">
/// <item>each quantized input activation becomes x → [Clip] → QuantizeLinear → DequantizeLinear → layer,
/// int8 when signed, uint8 when unsigned, per tensor (or per channel, axis 1); the Clip to
/// [s·(qmin − z), s·(qmax − z)] is inserted when the format's range is narrower than the 8-bit type's
/// (fewer than 8 bits, or narrow range), because QuantizeLinear saturates to the type's range only;</item>
/// <item>each quantized weight becomes an int8 (uint8 when unsigned) tensor of codes → DequantizeLinear
/// (per tensor, or per output channel: axis 0 for Conv and Gemm with transB, 1 for MatMul); with a
/// precision map of integer groups (ONNX has no per-block type) the 8-bit type is the container of
/// every group: a narrower group's codes are a subset of its codes and the scales are the same, so
/// the dequantized values are identical;</item>
/// <item>a bias the layer quantizes (<see cref="BiasQuantization"/>) becomes int32 levels →
/// DequantizeLinear with scale s_x·s_w, so ONNX Runtime does not requantize it on its own;</item>
/// <item>a weight whose quantization QDQ cannot express (non-integer format, more than 8 bits, array or
/// OU-block scales) is written as its float32 fake-quantized values, which equal the quantized
/// weights exactly, and noted in <see cref="QdqGraph.Notes"/>.</item>
/// </list>
/// The metadata key <see cref="QdqImport.FormatsKey"/> records each integer weight's real format (int4n stored
/// as int8), so <see cref="QdqImport"/> reads the file back into the same quantizers.
/// Activations QDQ cannot express (dynamic groups, non-integer formats, more than 8 bits, stochastic
/// rounding, per-channel clipping) make the export fail with the layer named.
/// </summary>
public static class QdqExport
{
    /// <summary>The lowest opset with per-axis QuantizeLinear/DequantizeLinear.</summary>
    public const int MinimumOpset = 13;

    /// <summary>Builds the QDQ graph of <paramref name="model"/> as it quantizes in evaluation (hard rounding).</summary>
    /// <exception cref="QdqExportException">A layer's activation quantization has no QDQ form.</exception>
    public static QdqGraph Rewrite(QuantizedModel model)
    {
        var source = model.Graph;
        var graph = new ModelGraph(source.Name, Math.Max(MinimumOpset, source.Opset));
        var notes = new List<string>();
        var formats = new List<(string, IntegerFormat)>();
        try
        {
            graph.Inputs.AddRange(source.Inputs);
            graph.Outputs.AddRange(source.Outputs);
            foreach (var (key, value) in source.Metadata) graph.Metadata[key] = value;
            foreach (var (key, value) in source.ValueShapes) graph.ValueShapes[key] = value;
            foreach (var (name, init) in source.Initializers) graph.AddInitializer(name, init.Value, init.Kind);
            foreach (var node in source.Nodes)
            {
                if (model.Layer(node.Name) is not { } layer)
                {
                    graph.Nodes.Add(node);
                    continue;
                }
                var inputs = node.Inputs.ToArray();
                if (layer.Activation is { } activation)
                    inputs[0] = QuantizeActivation(graph, layer, activation, inputs[0]);
                if (layer.Weight is { } weight)
                    inputs[1] = QuantizeWeight(graph, layer, weight, model.WeightOf(layer), notes, formats);
                if (layer.QuantizesBias && node.InputAt(2) is { } bias && source.Initializers.TryGetValue(bias, out var b))
                    inputs[2] = QuantizeBias(graph, layer, bias, b.Value);
                graph.Nodes.Add(node with { Inputs = [.. inputs] });
            }
            DeadNodeElimination.Run(graph);
            // int8 storage says 8 bits; the real widths let QdqImport recover the quantizers exactly.
            if (formats.Count > 0) graph.Metadata[QdqImport.FormatsKey] = QdqImport.FormatsOf(formats);
            else graph.Metadata.Remove(QdqImport.FormatsKey);
            return new QdqGraph(graph, notes);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    private static QdqExportException Refuse(QuantizedLayer layer, string reason) =>
        new($"layer {layer.Name}: its input activation cannot be written as QDQ: {reason}");

    private static string QuantizeActivation(ModelGraph graph, QuantizedLayer layer, ActivationQuantizer quantizer, string input)
    {
        var spec = quantizer.Spec;
        if (quantizer.IsDynamic) throw Refuse(layer, "dynamic per-group scales are computed at run time");
        if (spec.Format is not IntegerFormat format) throw Refuse(layer, $"{spec.Format.Name} is not an integer format");
        if (format.Bits > 8) throw Refuse(layer, $"{format.Bits} bits exceed int8/uint8 (opset {MinimumOpset} QDQ)");
        if (spec.Rounding == RoundingMode.Stochastic) throw Refuse(layer, "stochastic rounding (QuantizeLinear rounds to nearest)");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var scale = quantizer.Scale().detach().reshape(-1);
        var zero = quantizer.ZeroPoint?.detach().reshape(-1) ?? zeros_like(scale);
        bool perChannel = scale.numel() > 1 || spec.Granularity is ScaleGranularity.PerChannel;
        var storage = format.Signed ? ScalarType.Int8 : ScalarType.Byte;
        (long low, long high) = format.Signed ? (-128L, 127L) : (0L, 255L);
        string x = input;
        if (format.QMin > low || format.QMax < high)
        {
            if (perChannel) throw Refuse(layer, $"{format.Name} per channel needs a per-channel clip, which QDQ cannot express");
            float zp = zero.item<float>(), s = scale.item<float>();
            string min = Constant(graph, $"{layer.Name}.input_clip_min", tensor(s * (format.QMin - zp)));
            string max = Constant(graph, $"{layer.Name}.input_clip_max", tensor(s * (format.QMax - zp)));
            x = Add(graph, $"{layer.Name}.input_clip", "Clip", [x, min, max], null);
        }
        var scaleValue = perChannel ? scale : scale.reshape([]);
        string scaleName = Constant(graph, $"{layer.Name}.input_scale", scaleValue);
        string zeroName = Constant(graph, $"{layer.Name}.input_zero_point", (perChannel ? zero : zero.reshape([])).to_type(storage));
        var axis = perChannel ? new AttributeValue.Int(1) : null;
        string q = Add(graph, $"{layer.Name}.input_quantize", "QuantizeLinear", [x, scaleName, zeroName], axis);
        return Add(graph, $"{layer.Name}.input_dequantize", "DequantizeLinear", [q, scaleName, zeroName], axis);
    }

    private static string QuantizeWeight(ModelGraph graph, QuantizedLayer layer, WeightQuantizer quantizer, Tensor weight, List<string> notes,
        List<(string, IntegerFormat)> weightFormats)
    {
        var integers = quantizer.ToIntegers(weight);
        var lowering = integers.Lowering;
        using var scope = NewDisposeScope();
        bool qdq = integers.Format is IntegerFormat && integers.GroupFormats.All(f => f is null or IntegerFormat { Bits: <= 8 })
            && quantizer.Spec.Granularity is ScaleGranularity.PerTensor or ScaleGranularity.PerChannel;
        if (!qdq)
        {
            var values = lowering.FromLowered(tensor(integers.Dequantize(), [lowering.Rows, lowering.Columns]));
            string formats = string.Join(", ", integers.GroupFormats.OfType<NumberFormat>().Select(f => f.Name).Distinct());
            notes.Add($"layer {layer.Name}: weight written as float32 fake-quantized values ({formats}, {quantizer.Spec.Granularity} scales have no opset-{MinimumOpset} QDQ form)");
            string baked = graph.UniqueName($"{layer.Plan.Layer.WeightName}_fake_quantized");
            graph.AddInitializer(baked, values, InitializerKind.Parameter);
            return baked;
        }
        weightFormats.Add((layer.Name, (IntegerFormat)integers.Format));
        var storage = integers.Format.Signed ? ScalarType.Int8 : ScalarType.Byte;
        var codes = lowering.FromLowered(tensor(integers.Codes.ToArray(), [lowering.Rows, lowering.Columns])).to_type(storage);
        string codesName = graph.UniqueName($"{layer.Plan.Layer.WeightName}_quantized");
        graph.AddInitializer(codesName, codes, InitializerKind.Constant);
        bool perChannel = quantizer.Spec.Granularity is ScaleGranularity.PerChannel;
        var scale = tensor(integers.Scales.ToArray());
        var zero = tensor(integers.ZeroPoints.ToArray()).to_type(storage);
        string scaleName = Constant(graph, $"{layer.Name}.weight_scale", perChannel ? scale : scale.reshape([]));
        string zeroName = Constant(graph, $"{layer.Name}.weight_zero_point", perChannel ? zero : zero.reshape([]));
        var axis = perChannel ? new AttributeValue.Int(lowering.Orientation == WeightOrientation.OutputFirst ? 0 : 1) : null;
        return Add(graph, $"{layer.Name}.weight_dequantize", "DequantizeLinear", [codesName, scaleName, zeroName], axis);
    }

    /// <summary>The bias as int32 levels at scale s_x·s_w → DequantizeLinear (along the bias's last axis, the output channels).</summary>
    private static string QuantizeBias(ModelGraph graph, QuantizedLayer layer, string biasName, Tensor bias)
    {
        var (levels, scales) = layer.IntegerBias(bias)!.Value;
        using var scope = NewDisposeScope();
        string levelsName = graph.UniqueName($"{biasName}_quantized");
        graph.AddInitializer(levelsName, tensor(levels, bias.shape), InitializerKind.Constant);
        bool perChannel = scales.Length > 1;
        string scaleName = Constant(graph, $"{layer.Name}.bias_scale", perChannel ? tensor(scales) : tensor(scales[0]));
        var axis = perChannel ? new AttributeValue.Int(bias.dim() - 1) : null;
        return Add(graph, $"{layer.Name}.bias_dequantize", "DequantizeLinear", [levelsName, scaleName], axis);
    }

    private static string Constant(ModelGraph graph, string stem, Tensor value)
    {
        string name = graph.UniqueName(stem);
        graph.AddInitializer(name, value, InitializerKind.Constant);
        return name;
    }

    /// <summary>Appends a node named after <paramref name="stem"/> whose output is named the same; returns the output.</summary>
    private static string Add(ModelGraph graph, string stem, string opType, string[] inputs, AttributeValue? axis)
    {
        string name = graph.UniqueName(stem);
        graph.Nodes.Add(Node.Create(name, opType, inputs, [name], axis is null ? null : [KeyValuePair.Create("axis", axis)]));
        return name;
    }
}
