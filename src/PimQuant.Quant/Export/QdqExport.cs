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
/// Rewrites a <see cref="QuantizedModel"/> as an ONNX QDQ graph (opset ≥ 13; 21 when a weight needs it), in which
/// ONNX Runtime computes what PimQuant's fake quantization computes:
/// <list type="bullet">
/// <item>each quantized input activation becomes x → [Clip] → QuantizeLinear → DequantizeLinear → layer,
/// int8 when signed, uint8 when unsigned, per tensor (or per channel, axis 1); the Clip to
/// [s·(qmin − z), s·(qmax − z)] is inserted when the format's range is narrower than the 8-bit type's
/// (fewer than 8 bits, or narrow range), because QuantizeLinear saturates to the type's range only;</item>
/// <item>each integer weight becomes a tensor of codes → DequantizeLinear: int8 (uint8 when unsigned) up to 8 bits,
/// int16 for 9 to 16 bits (unsigned up to 15: int16 holds every such code); per tensor, or per output channel (axis 0
/// for Conv and Gemm with transB, 1 for MatMul); scales per array or OU block as a blocked DequantizeLinear
/// (<c>block_size</c> = the tile's rows) over the codes as an (output channels × K) matrix — (K × output channels) for
/// MatMul — followed by a Reshape to a convolution's weight shape. Int16 codes and blocks need opset
/// <see cref="BlockedOpset"/>, to which the graph is raised (noted) only then. With a precision map of integer groups
/// (ONNX has no per-block type) the storage type is the container of every group: a narrower group's codes are a
/// subset of its codes and the scales are the same, so the dequantized values are identical;</item>
/// <item>a bias the layer quantizes (<see cref="BiasQuantization"/>) becomes int32 levels →
/// DequantizeLinear with scale s_x·s_w, so ONNX Runtime does not requantize it on its own;</item>
/// <item>a weight without integer codes DequantizeLinear can hold (a non-integer format or group format, e.g.
/// power-of-two or APoT levels, or unsigned 16-bit codes, which need uint16) is written as its float32
/// fake-quantized values, which equal the quantized weights exactly, and noted in <see cref="QdqGraph.Notes"/>.</item>
/// </list>
/// Metadata lets <see cref="QdqImport"/> read the file back into the same quantizers: <see cref="QdqImport.FormatsKey"/>
/// records each integer weight's real format (int4n stored as int8), <see cref="QdqImport.ScaleGroupsKey"/> the
/// tiles of blocked scales (the columns that share a scale), <see cref="QdqImport.PrecisionKey"/> precision maps.
/// Activations QDQ cannot express (dynamic groups, non-integer formats, more than 8 bits, stochastic
/// rounding, per-channel clipping) make the export fail with the layer named.
/// </summary>
public static class QdqExport
{
    /// <summary>The lowest opset with per-axis QuantizeLinear/DequantizeLinear.</summary>
    public const int MinimumOpset = 13;

    /// <summary>The lowest opset with blocked DequantizeLinear (<c>block_size</c>) and int16 codes; written only when a weight needs it.</summary>
    public const int BlockedOpset = 21;

    /// <summary>Builds the QDQ graph of <paramref name="model"/> as it quantizes in evaluation (hard rounding).</summary>
    /// <exception cref="QdqExportException">A layer's activation quantization has no QDQ form.</exception>
    public static QdqGraph Rewrite(QuantizedModel model)
    {
        var source = model.Graph;
        var graph = new ModelGraph(source.Name, Math.Max(MinimumOpset, source.Opset));
        var notes = new List<string>();
        var records = new WeightRecords();
        var needOpset21 = new List<string>();
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
                {
                    (inputs[1], bool opset21) = QuantizeWeight(graph, layer, weight, model.WeightOf(layer), notes, records);
                    if (opset21) needOpset21.Add(layer.Name);
                }
                if (layer.QuantizesBias && node.InputAt(2) is { } bias && source.Initializers.TryGetValue(bias, out var b))
                    inputs[2] = QuantizeBias(graph, layer, bias, b.Value);
                graph.Nodes.Add(node with { Inputs = [.. inputs] });
            }
            DeadNodeElimination.Run(graph);
            if (needOpset21.Count > 0 && graph.Opset < BlockedOpset)
            {
                graph.Opset = BlockedOpset;
                notes.Add($"opset raised to {BlockedOpset} for the blocked or int16 DequantizeLinear of {string.Join(", ", needOpset21)}");
            }
            // int8 storage says 8 bits, int16 16; the real widths, scale tiles and precision maps let QdqImport recover the quantizers exactly.
            SetOrRemove(graph, QdqImport.FormatsKey, records.Formats.Count == 0 ? null : QdqImport.FormatsOf(records.Formats));
            SetOrRemove(graph, QdqImport.ScaleGroupsKey, records.ScaleGroups.Count == 0 ? null : QdqImport.ScaleGroupsOf(records.ScaleGroups));
            SetOrRemove(graph, QdqImport.PrecisionKey, records.Precisions.Count == 0 ? null : QdqImport.PrecisionsOf(records.Precisions));
            return new QdqGraph(graph, notes);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    private static void SetOrRemove(ModelGraph graph, string key, string? value)
    {
        if (value is null) graph.Metadata.Remove(key);
        else graph.Metadata[key] = value;
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

    /// <summary>
    /// The weight's codes → DequantizeLinear, or its float32 fake-quantized values when it has no integer codes QDQ can
    /// hold (noted). Codes of up to 8 bits are stored as int8/uint8, wider ones as int16; scales per tensor or channel
    /// are a scalar or per-axis DequantizeLinear, scales per array or OU block a blocked one (opset 21) over the 2-D
    /// codes: each R × C tile's scale is its columns' scale of its block of R rows, so the scale tensor holds one value
    /// per (output channel, block of R rows of K), the last block the remaining K mod R rows, and a Reshape gives a
    /// convolution's weight its shape. Returns the weight's name in the graph and whether the layer needs opset 21.
    /// </summary>
    private static (string Name, bool NeedsOpset21) QuantizeWeight(ModelGraph graph, QuantizedLayer layer, WeightQuantizer quantizer, Tensor weight,
        List<string> notes, WeightRecords records)
    {
        var integers = quantizer.ToIntegers(weight);
        var lowering = integers.Lowering;
        var granularity = quantizer.Spec.Granularity;
        using var scope = NewDisposeScope();
        var formats = integers.GroupFormats.Prepend(integers.Format).OfType<NumberFormat>().ToList();
        var integerFormats = formats.OfType<IntegerFormat>().ToList();
        string? floatReason = integerFormats.Count < formats.Count
            ? $"{string.Join(", ", formats.Where(f => f is not IntegerFormat).Select(f => f.Name).Distinct())} levels are no integer codes DequantizeLinear can scale"
            : integerFormats.Any(f => f.QMax > short.MaxValue)
                ? "unsigned 16-bit codes need uint16 storage, which PimQuant cannot hold (TorchSharp has no uint16 tensor)"
                : null;
        if (floatReason is not null)
        {
            var values = lowering.FromLowered(tensor(integers.Dequantize(), [lowering.Rows, lowering.Columns]));
            notes.Add($"layer {layer.Name}: weight written as float32 fake-quantized values ({floatReason})");
            string baked = graph.UniqueName($"{layer.Plan.Layer.WeightName}_fake_quantized");
            graph.AddInitializer(baked, values, InitializerKind.Parameter);
            return (baked, false);
        }
        var format = (IntegerFormat)integers.Format;
        records.Formats.Add((layer.Name, format));
        if (integers.Precision is { } precision) records.Precisions.Add((layer.Name, precision));
        bool wide = integerFormats.Any(f => f.Bits > 8);
        var storage = wide ? ScalarType.Int16 : format.Signed ? ScalarType.Int8 : ScalarType.Byte;
        var lowered = tensor(integers.Codes.ToArray(), [lowering.Rows, lowering.Columns]);
        var scale = tensor(integers.Scales.ToArray());
        var zero = tensor(integers.ZeroPoints.ToArray());
        string stem = layer.Plan.Layer.WeightName;
        if (TileRows(granularity) is not { } tileRows)
        {
            string codesName = graph.UniqueName($"{stem}_quantized");
            graph.AddInitializer(codesName, lowering.FromLowered(lowered).to_type(storage), InitializerKind.Constant);
            bool perChannel = granularity is ScaleGranularity.PerChannel;
            string scaleName = Constant(graph, $"{layer.Name}.weight_scale", perChannel ? scale : scale.reshape([]));
            string zeroName = Constant(graph, $"{layer.Name}.weight_zero_point", (perChannel ? zero : zero.reshape([])).to_type(storage));
            var axis = perChannel ? new AttributeValue.Int(lowering.Orientation == WeightOrientation.OutputFirst ? 0 : 1) : null;
            return (Add(graph, $"{layer.Name}.weight_dequantize", "DequantizeLinear", [codesName, scaleName, zeroName], axis), wide);
        }
        records.ScaleGroups.Add((layer.Name, granularity));
        // A tile taller than K is one block of all K rows.
        int block = Math.Min(tileRows, lowering.Rows), blocks = (lowering.Rows + block - 1) / block;
        var blockScales = new float[lowering.Columns * blocks];
        var blockZeros = new int[blockScales.Length];
        for (int g = 0; g < integers.Groups.Count; g++)
        {
            var tile = integers.Groups[g];
            for (int n = tile.ColumnStart; n < tile.ColumnStart + tile.ColumnCount; n++)
                (blockScales[n * blocks + tile.RowStart / block], blockZeros[n * blocks + tile.RowStart / block]) = (integers.Scales[g], integers.ZeroPoints[g]);
        }
        // Output-first weights (Conv, Gemm with transB) as (N, K), blocked along K (axis 1); input-first ones (K, N) along axis 0.
        bool outputFirst = lowering.Orientation == WeightOrientation.OutputFirst;
        var codes = (outputFirst ? lowered.t() : lowered).contiguous().to_type(storage);
        var scales = tensor(blockScales, [lowering.Columns, blocks]);
        var zeros = tensor(blockZeros, [lowering.Columns, blocks]).to_type(storage);
        if (!outputFirst) (scales, zeros) = (scales.t().contiguous(), zeros.t().contiguous());
        string blockedCodes = graph.UniqueName($"{stem}_quantized");
        graph.AddInitializer(blockedCodes, codes, InitializerKind.Constant);
        string blockedScale = Constant(graph, $"{layer.Name}.weight_scale", scales);
        string blockedZero = Constant(graph, $"{layer.Name}.weight_zero_point", zeros);
        string dequantized = AddWith(graph, $"{layer.Name}.weight_dequantize", "DequantizeLinear", [blockedCodes, blockedScale, blockedZero],
            [("axis", new AttributeValue.Int(outputFirst ? 1 : 0)), ("block_size", new AttributeValue.Int(block))]);
        if (lowering.WeightShape.Count == 2) return (dequantized, true);
        string shape = Constant(graph, $"{layer.Name}.weight_shape", tensor(lowering.WeightShape.ToArray()));
        return (Add(graph, $"{layer.Name}.weight_reshape", "Reshape", [dequantized, shape], null), true);
    }

    /// <summary>The rows of a scale tile (array or OU block), or null for scales per tensor or channel.</summary>
    private static int? TileRows(ScaleGranularity granularity) => granularity switch
    {
        ScaleGranularity.PerArray a => a.Rows,
        ScaleGranularity.PerOuBlock o => o.Rows,
        _ => null,
    };

    /// <summary>What the metadata records about the integer weights written.</summary>
    private sealed record WeightRecords
    {
        public List<(string Layer, IntegerFormat Format)> Formats { get; } = [];
        public List<(string Layer, ScaleGranularity Granularity)> ScaleGroups { get; } = [];
        public List<(string Layer, WeightPrecision Precision)> Precisions { get; } = [];
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
    private static string Add(ModelGraph graph, string stem, string opType, string[] inputs, AttributeValue? axis) =>
        AddWith(graph, stem, opType, inputs, axis is null ? [] : [("axis", axis)]);

    /// <summary>Appends a node with <paramref name="attributes"/>, named and output as <paramref name="stem"/> makes unique.</summary>
    private static string AddWith(ModelGraph graph, string stem, string opType, string[] inputs, (string Name, AttributeValue Value)[] attributes)
    {
        string name = graph.UniqueName(stem);
        graph.Nodes.Add(Node.Create(name, opType, inputs, [name], attributes.Length == 0 ? null : [.. attributes.Select(a => KeyValuePair.Create(a.Name, a.Value))]));
        return name;
    }
}
