using System.Globalization;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Quant.Config;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Model;
using PimQuant.Quant.Quantizers;
using static TorchSharp.torch;

namespace PimQuant.Quant.Export;

/// <summary>A QDQ model whose quantization has no <see cref="QuantizedModel"/> form; the message names the node and the reason.</summary>
public sealed class QdqImportException(string message) : GraphException(message);

/// <summary>A QDQ model read back as a <see cref="QuantizedModel"/>.</summary>
/// <param name="Graph">The float graph the model quantizes (weights dequantized, the layers' QDQ pairs removed); the caller disposes it after the model.</param>
/// <param name="Model">The quantized model, its quantizers holding the file's scales and zero points (never calibrated again).</param>
/// <param name="Notes">What the import had to assume, e.g. a weight's bit-width taken from its 8-bit storage.</param>
public sealed record ImportedQdq(ModelGraph Graph, QuantizedModel Model, IReadOnlyList<string> Notes);

/// <summary>
/// Reads an ONNX QDQ graph (opset ≥ 13: PimQuant's own <see cref="QdqExport"/>, and the QDQ that ONNX Runtime's
/// quantization tool and PyTorch's export write) into a <see cref="QuantizedModel"/>, recovering the integer
/// weights, scales and zero points exactly:
/// <list type="bullet">
/// <item>a DequantizeLinear of an int8/uint8/int16 initializer feeding a Conv, Gemm or MatMul weight becomes the
/// layer's weight quantizer (per tensor, or per output channel when the axis is the output channels) with
/// the file's scales and zero points, and the float weight s·(c − z), from which the quantizer gives back the
/// codes c; a blocked DequantizeLinear (opset 21) of the codes as an (output channels × K) matrix, blocked along K
/// and reshaped to a convolution's weight (as <see cref="QdqExport"/> writes scales per array or OU block), gives
/// the quantizer with the declared tiles (<see cref="ScaleGroupsKey"/>; without one, OU blocks of block_size rows by
/// one column); PyTorch's export writes the float weight behind a QuantizeLinear → DequantizeLinear pair instead, whose
/// codes are that QuantizeLinear of the constant, computed as ONNX defines it;</item>
/// <item>a QuantizeLinear → DequantizeLinear pair (optionally after a constant Clip, as <see cref="QdqExport"/>
/// writes for formats narrower than 8 bits) on a layer's input becomes the layer's activation quantizer;</item>
/// <item>an int32 bias behind a DequantizeLinear becomes its float value level·scale, which the layer quantizes
/// back to the same level (<see cref="BiasQuantization"/>); a float bias (PyTorch's) is quantized to int32 levels
/// at s_x·s_w like the integer model's, which the notes say;</item>
/// <item>QDQ pairs elsewhere (ONNX Runtime also quantizes the outputs of Relu, Add and pooling) stay in the
/// graph, run digitally by the executor's QuantizeLinear and DequantizeLinear kernels as ONNX Runtime runs them.</item>
/// </list>
/// Bit-widths: the storage type says 8 (or 16) bits unless the file says more. A layer's input Clip to
/// s·(qmin − z)..s·(qmax − z) gives the activation's exact integer range; the weights' formats and precision maps
/// of a file PimQuant wrote are in its metadata (<see cref="FormatsKey"/>, <see cref="PrecisionKey"/>), checked
/// against the codes.
/// </summary>
public static class QdqImport
{
    /// <summary>
    /// Metadata key <see cref="QdqExport"/> writes: the weight format of every layer with integer weight codes,
    /// <c>LAYER=FORMAT</c> separated by semicolons, FORMAT an <see cref="IntegerFormat.Name"/> such as int4n.
    /// </summary>
    public const string FormatsKey = "pimquant.qdq.weight_formats";

    /// <summary>
    /// Metadata key <see cref="QdqExport"/> writes for weights with scales per array or OU block (a blocked DequantizeLinear,
    /// which holds one scale per output channel and block of rows): the tile, <c>LAYER=array 128x32</c> or <c>LAYER=ou 9x8</c>,
    /// separated by semicolons, so the columns sharing a scale are known.
    /// </summary>
    public const string ScaleGroupsKey = "pimquant.qdq.weight_scale_groups";

    /// <summary>
    /// Metadata key <see cref="QdqExport"/> writes for weights with a precision map: <c>LAYER=GROUPS:FORMATS</c> separated by
    /// semicolons, GROUPS the map's granularity (tensor, channel, array RxC, ou RxC) and FORMATS one integer format name per
    /// group in <see cref="WeightGroupLayout"/>'s order, 0 for a pruned group, a run of equal ones written FORMAT*COUNT.
    /// </summary>
    public const string PrecisionKey = "pimquant.qdq.weight_precision";

    /// <summary>Whether <paramref name="graph"/> holds QuantizeLinear or DequantizeLinear nodes.</summary>
    public static bool IsQdq(ModelGraph graph) => graph.Nodes.Any(n => n.OpType is "QuantizeLinear" or "DequantizeLinear");

    /// <summary>The weight formats of the layers with integer QDQ weights, in <see cref="FormatsKey"/>'s form.</summary>
    internal static string FormatsOf(IEnumerable<(string Layer, IntegerFormat Format)> layers) =>
        string.Join(";", layers.Select(l => $"{l.Layer}={l.Format.Name}"));

    /// <summary>The scale tiles of the layers with blocked weights, in <see cref="ScaleGroupsKey"/>'s form.</summary>
    internal static string ScaleGroupsOf(IEnumerable<(string Layer, ScaleGranularity Granularity)> layers) =>
        string.Join(";", layers.Select(l => $"{l.Layer}={l.Granularity}"));

    /// <summary>The precision maps of the layers that have one, in <see cref="PrecisionKey"/>'s form.</summary>
    internal static string PrecisionsOf(IEnumerable<(string Layer, WeightPrecision Precision)> layers) =>
        string.Join(";", layers.Select(l => $"{l.Layer}={l.Precision.Granularity}:{string.Join(",", Runs(l.Precision.Formats))}"));

    private static IEnumerable<string> Runs(IReadOnlyList<NumberFormat?> formats)
    {
        for (int i = 0; i < formats.Count;)
        {
            int j = i;
            while (j < formats.Count && Equals(formats[j], formats[i])) j++;
            string name = formats[i]?.Name ?? "0";
            yield return j - i == 1 ? name : $"{name}*{j - i}";
            i = j;
        }
    }

    /// <summary>Reads <paramref name="qdq"/> (left unchanged) as a quantized model on a new float graph.</summary>
    /// <param name="qdq">The QDQ graph, as imported from ONNX.</param>
    /// <param name="seed">The model's seed (no random choice is made for integer formats with nearest rounding).</param>
    /// <exception cref="QdqImportException">A QDQ construct with no quantized-model form (the node named).</exception>
    public static ImportedQdq Read(ModelGraph qdq, long seed = 0)
    {
        var graph = new ModelGraph(qdq.Name, qdq.Opset);
        QuantizedModel? model = null;
        try
        {
            var notes = new List<string>();
            var declared = new Declared(DeclaredFormats(qdq), DeclaredScaleGroups(qdq), DeclaredPrecisions(qdq));
            graph.Inputs.AddRange(qdq.Inputs);
            graph.Outputs.AddRange(qdq.Outputs);
            foreach (var (key, value) in qdq.Metadata) graph.Metadata[key] = value;
            foreach (var (key, value) in qdq.ValueShapes) graph.ValueShapes[key] = value;
            foreach (var (name, init) in qdq.Initializers) graph.AddInitializer(name, init.Value.clone(), init.Kind);
            var producers = qdq.Producers();
            var consumers = qdq.Consumers();

            // Weights and biases: DequantizeLinear of an integer initializer becomes a float initializer; a blocked one's
            // 2-D codes may be followed by a constant Reshape to a convolution's weight shape (as QdqExport writes it).
            var weights = new Dictionary<string, QdqTensor>(StringComparer.Ordinal);
            var reshapes = new HashSet<string>(StringComparer.Ordinal);
            foreach (var node in qdq.Nodes.Where(n => n.OpType == "DequantizeLinear" && qdq.Initializers.ContainsKey(n.Inputs[0])))
            {
                var parameters = QdqTensor.Of(qdq, node);
                string name = FloatName(graph, node), output = node.Output;
                var value = parameters.Dequantize(qdq.Initializers[node.Inputs[0]].Value);
                if (parameters.BlockSize is not null && consumers.GetValueOrDefault(output) is [{ OpType: "Reshape" } reshape]
                    && reshape.Inputs[0] == output && reshape.InputAt(1) is { } shapeName && qdq.Initializers.TryGetValue(shapeName, out var target)
                    && target.Value.data<long>().ToArray() is var shape && shape.All(d => d > 0) && shape.Aggregate(1L, (a, d) => a * d) == value.numel())
                {
                    value = value.reshape(shape);
                    reshapes.Add(reshape.Name);
                    output = reshape.Output;
                }
                graph.AddInitializer(name, value, InitializerKind.Parameter);
                weights[output] = parameters with { FloatName = name };
            }
            // PyTorch's export of fake-quantized weights: float initializer → QuantizeLinear → DequantizeLinear. The codes
            // are the QuantizeLinear of the constant, computed here as ONNX defines it; the float weight becomes s·(c − z).
            foreach (var node in qdq.Nodes.Where(n => n.OpType == "DequantizeLinear"))
            {
                if (producers.GetValueOrDefault(node.Inputs[0]) is not { OpType: "QuantizeLinear" } q
                    || !qdq.Initializers.TryGetValue(q.Inputs[0], out var floats) || !floats.Value.is_floating_point()
                    || consumers[q.Output].Count != 1) continue;
                var quantize = QdqTensor.Of(qdq, q);
                // Kept with the weight's parameters (not disposed here), which check them against the declared formats.
                var codes = quantize.Quantize(floats.Value);
                var parameters = QdqTensor.Of(qdq, node, codes);
                if (!quantize.SameAs(parameters)) throw new QdqImportException($"node '{q.Name}' (QuantizeLinear): its scale or zero point differs from '{node.Name}''s, which dequantizes it");
                using var dequantized = parameters.Dequantize(codes);
                string name = q.Inputs[0];
                if (consumers[name].Count == 1) graph.RemoveInitializer(name);
                else name = graph.UniqueName(node.Output);
                graph.AddInitializer(name, dequantized, InitializerKind.Parameter);
                weights[node.Output] = parameters with { FloatName = name };
            }
            foreach (var node in qdq.Nodes)
            {
                if (node.OpType == "DequantizeLinear" && (weights.ContainsKey(node.Output) || consumers.GetValueOrDefault(node.Output) is [var only] && reshapes.Contains(only.Name))
                    || reshapes.Contains(node.Name)) continue;
                graph.Nodes.Add(node with { Inputs = [.. node.Inputs.Select(i => weights.TryGetValue(i, out var w) ? w.FloatName! : i)] });
            }

            // Layers: the weight's quantization from its DequantizeLinear, the input's from the QDQ pair before it.
            var layers = new List<(QuantizableLayer Layer, WeightQuantization? Weight, QdqTensor? Input, IntegerFormat? InputFormat)>();
            var byName = graph.Nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
            foreach (var layer in QuantizableLayer.Find(graph))
            {
                var node = byName[layer.Name];
                var weight = weights.Values.FirstOrDefault(w => w.FloatName == layer.WeightName);
                QdqTensor? input = null;
                IntegerFormat? inputFormat = null;
                if (producers.GetValueOrDefault(node.Inputs[0]) is { OpType: "DequantizeLinear" } dq
                    && producers.GetValueOrDefault(dq.Inputs[0]) is { OpType: "QuantizeLinear" } q)
                {
                    input = QdqTensor.Of(qdq, dq);
                    if (input.BlockSize is not null)
                        throw new QdqImportException($"node '{dq.Name}' (DequantizeLinear): the input of {layer.Name} is quantized in blocks; an activation has one scale per tensor or per channel");
                    if (input.Axis is { } inputAxis && inputAxis != 1)
                        throw new QdqImportException($"node '{dq.Name}' (DequantizeLinear): the input of {layer.Name} has one scale per element of axis {inputAxis}; an activation has one per tensor or per channel (axis 1)");
                    var quantize = QdqTensor.Of(qdq, q);
                    if (!quantize.SameAs(input)) throw new QdqImportException($"node '{q.Name}' (QuantizeLinear): its scale or zero point differs from '{dq.Name}''s, which dequantizes it");
                    string x = q.Inputs[0];
                    inputFormat = input.StorageFormat;
                    if (producers.GetValueOrDefault(x) is { OpType: "Clip" } clip && ClipRange(qdq, clip) is { } range
                        && input.FormatOfClip(range.Min, range.Max) is { } clipped)
                        (x, inputFormat) = (clip.Inputs[0], clipped);
                    byName[layer.Name] = node = node with { Inputs = node.Inputs.SetItem(0, x) };
                    graph.Nodes[graph.Nodes.FindIndex(n => n.Name == layer.Name)] = node;
                }
                if (weight is null && input is not null)
                    notes.Add($"layer {layer.Name}: its weight is float32 in the file (no DequantizeLinear of integer codes), so it stays unquantized");
                var weightQuantization = weight is null ? null : WeightQuantizationOf(layer, layer.Lowering(graph), weight, declared, notes);
                if (weightQuantization is not null && input is not null && BiasQuantization.Applies(weightQuantization.Spec, input.Spec(inputFormat!))
                    && node.InputAt(2) is { } bias && !weights.Values.Any(w => w.FloatName == bias))
                    notes.Add($"layer {layer.Name}: its bias is float32 in the file (PyTorch's export leaves it so); it is quantized to int32 levels round(b / (s_x·s_w)), as the integer model's biases are");
                layers.Add((layer, weightQuantization, input, inputFormat));
            }
            DeadNodeElimination.Run(graph);

            var plan = new QuantizationPlan([.. layers.Select(l => new LayerPlan(l.Layer,
                l.Weight?.Spec,
                l.Input is null ? null : l.Input.Spec(l.InputFormat!)))]);
            model = new QuantizedModel(graph, plan, seed);
            foreach (var (layer, weight, input, _) in layers)
            {
                var quantized = model.Layer(layer.Name);
                if (quantized?.Weight is { } w) w.SetParameters(weight!.Scale, w.Spec.Affine ? weight.ZeroPoint : null);
                if (quantized?.Activation is { } a) a.SetParameters(input!.Scale, a.Spec.Affine ? input.ZeroPoint : null);
            }
            return new ImportedQdq(graph, model, notes);
        }
        catch
        {
            model?.Dispose();
            graph.Dispose();
            throw;
        }
    }

    /// <summary>The float weight's name: the codes' name without QdqExport's "_quantized" suffix when free, else the node's output.</summary>
    private static string FloatName(ModelGraph graph, Node dequantize)
    {
        const string suffix = "_quantized";
        string codes = dequantize.Inputs[0];
        return codes.EndsWith(suffix, StringComparison.Ordinal) && !graph.Initializers.ContainsKey(codes[..^suffix.Length])
            ? codes[..^suffix.Length] : graph.UniqueName(dequantize.Output);
    }

    /// <summary>The dimension of a layer's weight that indexes output channels.</summary>
    private static int OutputAxis(QuantizableLayer layer, int rank) =>
        layer.Orientation == WeightOrientation.OutputFirst ? 0 : rank - 1;

    /// <summary>What the file's metadata declares about its weights, by layer.</summary>
    private sealed record Declared(Dictionary<string, IntegerFormat> Formats, Dictionary<string, ScaleGranularity> ScaleGroups,
        Dictionary<string, WeightPrecision> Precisions);

    /// <summary>A layer's weight quantizer as the file gives it: the spec and the scale and zero point of every group.</summary>
    private sealed record WeightQuantization(QuantizerSpec Spec, Tensor Scale, Tensor? ZeroPoint);

    /// <summary>
    /// The weight quantizer of <paramref name="layer"/> from its DequantizeLinear and the declarations: per tensor, per output
    /// channel, or (blocked) per array or OU block; the format and precision map declared, checked against the codes.
    /// </summary>
    private static WeightQuantization WeightQuantizationOf(QuantizableLayer layer, WeightLowering lowering, QdqTensor weight, Declared declared, List<string> notes)
    {
        var precision = declared.Precisions.GetValueOrDefault(layer.Name);
        var format = WeightFormat(layer.Name, weight, declared.Formats, precision is null, notes);
        ScaleGranularity granularity;
        Tensor scale = weight.Scale;
        Tensor? zero = weight.ZeroPoint;
        if (weight.BlockSize is { } block) (granularity, scale, zero) = BlockedGroups(layer, lowering, weight, block, declared.ScaleGroups, notes);
        else if (weight.Axis is { } axis && axis != OutputAxis(layer, lowering.WeightShape.Count))
            throw new QdqImportException($"node '{layer.Name}' ({layer.OpType}): its weight has one scale per element of axis {axis}; a crossbar column needs one per output channel");
        else granularity = weight.Axis is null ? ScaleGranularity.Tensor : ScaleGranularity.Channel;
        var spec = new QuantizerSpec { Format = format, Granularity = granularity, Affine = QdqTensor.ZeroOrNull(zero) is not null, Precision = precision };
        foreach (var (field, problem) in spec.Problems(QuantizerRole.Weight))
            throw new QdqImportException($"layer {layer.Name}: the file's weight quantization ({spec}) is not valid: {field}: {problem}");
        if (precision is not null)
        {
            if (precision.LayoutProblem(lowering) is { } layout) throw new QdqImportException($"metadata {PrecisionKey}: layer {layer.Name}: {layout}");
            CheckPrecisionCodes(layer.Name, lowering, weight, precision);
        }
        return new WeightQuantization(spec, scale, zero);
    }

    /// <summary>Refuses codes outside their precision group's format (the quantizer would clamp them to other codes).</summary>
    private static void CheckPrecisionCodes(string layer, WeightLowering lowering, QdqTensor weight, WeightPrecision precision)
    {
        using var scope = NewDisposeScope();
        var codes = lowering.ToLowered(weight.Codes.reshape([.. lowering.WeightShape])).to_type(ScalarType.Int64).contiguous().data<long>().ToArray();
        var groups = WeightGroupLayout.Rectangles(lowering, precision.Granularity);
        for (int g = 0; g < groups.Length; g++)
        {
            var (low, high) = precision.Formats[g] is IntegerFormat f ? (f.QMin, f.QMax) : (0L, 0L);
            var group = groups[g];
            for (int r = group.RowStart; r < group.RowStart + group.RowCount; r++)
                for (int c = group.ColumnStart; c < group.ColumnStart + group.ColumnCount; c++)
                    if (codes[r * lowering.Columns + c] is var code && (code < low || code > high))
                        throw new QdqImportException($"metadata {PrecisionKey}: layer {layer} group {g} is declared {precision.Formats[g]?.Name ?? "pruned (0 bits)"}, but its code at row {r}, column {c} of the lowered weight is {code}");
        }
    }

    /// <summary>
    /// The scale groups of a blocked weight: its codes are the lowered matrix's columns (output channels) by K rows, or K by
    /// columns, blocked along K, and every tile of the declared granularity (else an OU block of one column) must have one
    /// scale and zero point over its columns. Returns the granularity and the tiles' scales and zero points in layout order.
    /// </summary>
    private static (ScaleGranularity Granularity, Tensor Scale, Tensor? ZeroPoint) BlockedGroups(QuantizableLayer layer, WeightLowering lowering, QdqTensor weight,
        long block, Dictionary<string, ScaleGranularity> declared, List<string> notes)
    {
        bool outputFirst = layer.Orientation == WeightOrientation.OutputFirst;
        int k = lowering.Rows, n = lowering.Columns;
        long[] expected = outputFirst ? [n, k] : [k, n];
        long expectedAxis = outputFirst ? 1 : 0;
        if (!weight.Codes.shape.SequenceEqual(expected) || weight.Axis != expectedAxis)
            throw new QdqImportException($"layer {layer.Name}: its weight codes [{string.Join(", ", weight.Codes.shape)}] are blocked along axis {weight.Axis}; a crossbar's scale blocks run along the K rows of the lowered matrix, codes [{string.Join(", ", expected)}] blocked along axis {expectedAxis}");
        ScaleGranularity granularity;
        if (declared.TryGetValue(layer.Name, out var tile))
        {
            int rows = tile switch { ScaleGranularity.PerArray a => a.Rows, ScaleGranularity.PerOuBlock o => o.Rows, _ => 0 };
            if (Math.Min(rows, k) != block)
                throw new QdqImportException($"metadata {ScaleGroupsKey}: layer {layer.Name} is declared {tile}, but its DequantizeLinear has block_size {block} over {k} rows");
            granularity = tile;
        }
        else
        {
            granularity = new ScaleGranularity.PerOuBlock((int)block, 1);
            notes.Add($"layer {layer.Name}: its scales per output channel and block of {block} rows are taken as {granularity} blocks (the file declares no tile)");
        }
        int blocks = (int)((k + block - 1) / block);
        float[] scales = weight.Scale.contiguous().data<float>().ToArray();
        float[]? zeros = weight.ZeroPoint?.contiguous().data<float>().ToArray();
        int At(int column, int b) => outputFirst ? column * blocks + b : b * n + column;
        var groups = WeightGroupLayout.Rectangles(lowering, granularity);
        var groupScales = new float[groups.Length];
        var groupZeros = new float[groups.Length];
        for (int g = 0; g < groups.Length; g++)
        {
            var group = groups[g];
            int b = (int)(group.RowStart / block), first = At(group.ColumnStart, b);
            for (int c = group.ColumnStart; c < group.ColumnStart + group.ColumnCount; c++)
                if (scales[At(c, b)] != scales[first] || zeros is not null && zeros[At(c, b)] != zeros[first])
                    throw new QdqImportException($"layer {layer.Name}: output channels {group.ColumnStart} and {c} of rows {group.RowStart}.. have different scales or zero points, but share one {granularity} tile");
            groupScales[g] = scales[first];
            groupZeros[g] = zeros?[first] ?? 0;
        }
        return (granularity, tensor(groupScales), zeros is null ? null : tensor(groupZeros));
    }

    private static Dictionary<string, ScaleGranularity> DeclaredScaleGroups(ModelGraph graph) =>
        Entries(graph, ScaleGroupsKey, "LAYER=array RxC or LAYER=ou RxC").ToDictionary(e => e.Layer, e => ParseGranularity(e.Value) is ScaleGranularity.PerArray or ScaleGranularity.PerOuBlock
            ? ParseGranularity(e.Value)! : throw new QdqImportException($"metadata {ScaleGroupsKey}: '{e.Layer}={e.Value}' is not LAYER=array RxC or LAYER=ou RxC"), StringComparer.Ordinal);

    private static Dictionary<string, WeightPrecision> DeclaredPrecisions(ModelGraph graph)
    {
        const string form = "LAYER=GROUPS:FORMATS with GROUPS tensor, channel, array RxC or ou RxC and FORMATS such as int4,int8*3,0";
        var maps = new Dictionary<string, WeightPrecision>(StringComparer.Ordinal);
        foreach (var (layer, value) in Entries(graph, PrecisionKey, form))
        {
            int colon = value.IndexOf(':');
            var formats = new List<NumberFormat?>();
            ScaleGranularity? granularity = colon > 0 ? ParseGranularity(value[..colon]) : null;
            bool valid = granularity is not null;
            foreach (var run in valid ? value[(colon + 1)..].Split(',') : [])
            {
                int star = run.IndexOf('*');
                string name = star < 0 ? run : run[..star];
                int count = 1;
                if (star >= 0 && !int.TryParse(run[(star + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1) valid = false;
                NumberFormat? format = name == "0" ? null : ParseFormat(name);
                if (name != "0" && format is null) valid = false;
                if (!valid) break;
                formats.AddRange(Enumerable.Repeat(format, count));
            }
            if (!valid || formats.Count == 0) throw new QdqImportException($"metadata {PrecisionKey}: '{layer}={value}' is not {form}");
            maps[layer] = new WeightPrecision(granularity!, formats);
        }
        return maps;
    }

    /// <summary>The LAYER=VALUE entries of a metadata key (separated by semicolons; the last '=' splits, as layer names may hold one).</summary>
    private static IEnumerable<(string Layer, string Value)> Entries(ModelGraph graph, string key, string form)
    {
        if (!graph.Metadata.TryGetValue(key, out var text)) yield break;
        foreach (var entry in text.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = entry.LastIndexOf('=');
            if (eq <= 0) throw new QdqImportException($"metadata {key}: '{entry}' is not {form}");
            yield return (entry[..eq], entry[(eq + 1)..]);
        }
    }

    /// <summary>Parses <see cref="ScaleGranularity"/>'s weight forms: tensor, channel, array RxC, ou RxC.</summary>
    private static ScaleGranularity? ParseGranularity(string text)
    {
        if (text == "tensor") return ScaleGranularity.Tensor;
        if (text == "channel") return ScaleGranularity.Channel;
        var parts = text.Split(' ', 'x');
        if (parts.Length != 3 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int rows)
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int columns) || rows < 1 || columns < 1) return null;
        return parts[0] switch
        {
            "array" => new ScaleGranularity.PerArray(rows, columns),
            "ou" => new ScaleGranularity.PerOuBlock(rows, columns),
            _ => null,
        };
    }

    private static Dictionary<string, IntegerFormat> DeclaredFormats(ModelGraph graph)
    {
        const string form = "LAYER=FORMAT with FORMAT such as int4n or uint8";
        var formats = new Dictionary<string, IntegerFormat>(StringComparer.Ordinal);
        foreach (var (layer, value) in Entries(graph, FormatsKey, form))
            formats[layer] = ParseFormat(value) ?? throw new QdqImportException($"metadata {FormatsKey}: '{layer}={value}' is not {form}");
        return formats;
    }

    /// <summary>Parses <see cref="IntegerFormat.Name"/>: int|uint, the bits, an optional n for narrow range.</summary>
    private static IntegerFormat? ParseFormat(string name)
    {
        bool signed = name.StartsWith("int", StringComparison.Ordinal);
        if (!signed && !name.StartsWith("uint", StringComparison.Ordinal)) return null;
        string rest = name[(signed ? 3 : 4)..];
        bool narrow = rest.EndsWith('n');
        if (narrow) rest = rest[..^1];
        if (!int.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out int bits)) return null;
        var format = new IntegerFormat(bits, signed, narrow);
        return format.Problems().Any() ? null : format;
    }

    /// <summary>
    /// The declared weight format of a layer, checked against its storage and (<paramref name="checkCodes"/>: without a
    /// precision map, whose groups are checked one by one) its codes; else the storage type's 8 or 16 bits. An int16
    /// container holds any format whose range it covers (unsigned up to 15 bits); int8 and uint8 hold their own sign.
    /// </summary>
    private static IntegerFormat WeightFormat(string layer, QdqTensor weight, Dictionary<string, IntegerFormat> declared, bool checkCodes, List<string> notes)
    {
        var storage = weight.StorageFormat ?? throw new QdqImportException($"layer {layer}: its weight codes are int32; a crossbar weight has at most 16 bits (int8, uint8, int16)");
        if (declared.TryGetValue(layer, out var format))
        {
            if (format.QMin < storage.QMin || format.QMax > storage.QMax || storage.Bits == 8 && format.Signed != storage.Signed)
                throw new QdqImportException($"metadata {FormatsKey}: layer {layer} is declared {format.Name} but its codes are stored as {storage.Name}");
            if (checkCodes && (weight.MinCode < format.QMin || weight.MaxCode > format.QMax))
                throw new QdqImportException($"metadata {FormatsKey}: layer {layer} is declared {format.Name}, but its codes reach {weight.MinCode}..{weight.MaxCode}");
            return format;
        }
        notes.Add($"layer {layer}: weight taken as {storage.Name} (its storage type; the file declares no bit-width)");
        return storage;
    }

    private static (float Min, float Max)? ClipRange(ModelGraph graph, Node clip)
    {
        float? Constant(int i) => clip.InputAt(i) is { } name && graph.Initializers.TryGetValue(name, out var t) && t.Value.numel() == 1 ? t.Value.item<float>() : null;
        return Constant(1) is { } min && Constant(2) is { } max ? (min, max) : null;
    }

    /// <summary>The scale, zero point and axis of one QuantizeLinear or DequantizeLinear (constant parameters).</summary>
    /// <param name="Scale">The scales: flat (per tensor or axis), or with the codes' rank when blocked.</param>
    /// <param name="ZeroPoint">The zero points, shaped like the scales, or null.</param>
    /// <param name="Axis">The axis of per-axis or blocked parameters; null per tensor.</param>
    /// <param name="BlockSize">The block_size of a blocked DequantizeLinear; null otherwise.</param>
    /// <param name="StorageFormat">The codes' type as a format (int8, uint8, int16); null for int32 bias levels.</param>
    /// <param name="MinCode">The smallest code (a DequantizeLinear's), else the type's.</param>
    /// <param name="MaxCode">The largest code, likewise.</param>
    private sealed record QdqTensor(Tensor Scale, Tensor? ZeroPoint, long? Axis, long? BlockSize, IntegerFormat? StorageFormat, long MinCode, long MaxCode)
    {
        /// <summary>The float initializer that replaced a weight's DequantizeLinear.</summary>
        public string? FloatName { get; init; }

        /// <summary>The codes a DequantizeLinear reads (empty for a QuantizeLinear).</summary>
        public Tensor Codes { get; init; } = empty(0);

        /// <param name="graph">The graph holding the node's constants.</param>
        /// <param name="node">A QuantizeLinear or DequantizeLinear.</param>
        /// <param name="codes">The codes a DequantizeLinear reads when they are no initializer (computed from a constant).</param>
        public static QdqTensor Of(ModelGraph graph, Node node, Tensor? codes = null)
        {
            Tensor Constant(int i, string what) => node.InputAt(i) is { } name && graph.Initializers.TryGetValue(name, out var t) ? t.Value
                : throw new QdqImportException($"node '{node.Name}' ({node.OpType}): its {what} is computed at run time; only constant scales and zero points have a quantized-model form");
            long block = node.GetInt("block_size", 0);
            if (block < 0) throw new QdqImportException($"node '{node.Name}' ({node.OpType}): block_size {block} is negative");
            var scale = Constant(1, "scale").to_type(ScalarType.Float32);
            var zero = node.InputAt(2) is null ? null : Constant(2, "zero point");
            if (block > 0 && node.OpType == "QuantizeLinear")
                throw new QdqImportException($"node '{node.Name}' (QuantizeLinear): blocked quantization computed at run time has no quantized-model form (only a blocked DequantizeLinear of constant weight codes)");
            if (block == 0) scale = scale.reshape(-1);
            if (codes is null && node.OpType == "DequantizeLinear" && graph.Initializers.TryGetValue(node.Inputs[0], out var stored)) codes = stored.Value;
            var type = zero?.dtype ?? codes?.dtype ?? ScalarType.Byte;
            IntegerFormat? storage = type switch
            {
                ScalarType.Int8 => new IntegerFormat(8, Signed: true),
                ScalarType.Byte => new IntegerFormat(8, Signed: false),
                ScalarType.Int16 => new IntegerFormat(16, Signed: true),
                ScalarType.Int32 => null, // bias levels
                _ => throw new QdqImportException($"node '{node.Name}' ({node.OpType}): type {type} is not supported (int8, uint8, int16, int32 biases)"),
            };
            long? blockSize = block > 0 ? block : null;
            long? axis = scale.numel() > 1 || blockSize is not null ? node.GetInt("axis", 1) : null;
            if (axis < 0 && node.OpType == "QuantizeLinear" && graph.Initializers.TryGetValue(node.Inputs[0], out var input)) axis += input.Value.dim();
            if (node.OpType == "DequantizeLinear" && codes is not null)
            {
                if (axis < 0) axis += codes.dim();
                if (blockSize is { } b && axis is { } blockAxis)
                {
                    if (blockAxis < 0 || blockAxis >= codes.dim())
                        throw new QdqImportException($"node '{node.Name}' (DequantizeLinear): axis {node.GetInt("axis", 1)} is outside the codes' rank {codes.dim()}");
                    var expected = codes.shape.ToArray();
                    expected[blockAxis] = (expected[blockAxis] + b - 1) / b;
                    if (!scale.shape.SequenceEqual(expected) || zero is not null && !zero.shape.SequenceEqual(expected))
                        throw new QdqImportException($"node '{node.Name}' (DequantizeLinear): with block_size {b} along axis {blockAxis} the scale and zero point have shape [{string.Join(", ", expected)}], got [{string.Join(", ", scale.shape)}]");
                }
                var asLong = codes.to_type(ScalarType.Int64);
                return new QdqTensor(scale, Flat(zero, blockSize), axis, blockSize, storage, asLong.min().item<long>(), asLong.max().item<long>()) { Codes = codes };
            }
            if (storage is null) throw new QdqImportException($"node '{node.Name}' ({node.OpType}): int32 quantizes biases only, not activations");
            return new QdqTensor(scale, Flat(zero, blockSize), axis, blockSize, storage, storage.QMin, storage.QMax);
        }

        /// <summary>A zero point as float32: flat like a per-tensor or per-axis scale, in its own shape when blocked.</summary>
        private static Tensor? Flat(Tensor? zero, long? blockSize) =>
            blockSize is null ? zero?.to_type(ScalarType.Float32).reshape(-1) : zero?.to_type(ScalarType.Float32);

        /// <summary>Whether the quantization parameters are the same as <paramref name="other"/>'s.</summary>
        public bool SameAs(QdqTensor other) =>
            Equal(Scale, other.Scale) && Axis == other.Axis && StorageFormat == other.StorageFormat && Equal(ZeroOrNull(ZeroPoint), ZeroOrNull(other.ZeroPoint));

        /// <summary>The zero points, or null when absent or all 0 (the same quantization).</summary>
        public static Tensor? ZeroOrNull(Tensor? zero) => zero is null || zero.eq(0).all().item<bool>() ? null : zero;

        private static bool Equal(Tensor? a, Tensor? b) =>
            a is null ? b is null : b is not null && a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

        /// <summary>
        /// ONNX QuantizeLinear of a constant: saturate(round(x / s) + z) along the axis, rounding half to even, in the
        /// storage type (as the executor's kernel computes it).
        /// </summary>
        public Tensor Quantize(Tensor x)
        {
            using var scope = NewDisposeScope();
            var format = StorageFormat!; // Of refuses an int32 QuantizeLinear
            var shape = Enumerable.Repeat(1L, (int)x.dim()).ToArray();
            if (Axis is { } a) shape[a] = Scale.shape[0];
            var rounded = (x.to_type(ScalarType.Float32) / (Axis is null ? Scale.reshape([]) : Scale.reshape(shape))).round();
            if (ZeroPoint is not null) rounded = rounded + (Axis is null ? ZeroPoint.reshape([]) : ZeroPoint.reshape(shape));
            return rounded.clamp(format.QMin, format.QMax).to_type(format.Signed ? ScalarType.Int8 : ScalarType.Byte).MoveToOuterDisposeScope();
        }

        /// <summary>(c − z)·s along the axis (each blocked scale repeated over its block), float32.</summary>
        public Tensor Dequantize(Tensor codes)
        {
            using var scope = NewDisposeScope();
            if (BlockSize is { } block)
            {
                int along = (int)Axis!.Value;
                Tensor Spread(Tensor p) => p.repeat_interleave(block, along).narrow(along, 0, codes.shape[along]);
                var blocked = codes.to_type(ScalarType.Float32);
                if (ZeroPoint is not null) blocked = blocked - Spread(ZeroPoint);
                return (blocked * Spread(Scale)).MoveToOuterDisposeScope();
            }
            var shape = Enumerable.Repeat(1L, (int)codes.dim()).ToArray();
            if (Axis is { } a) shape[a] = Scale.shape[0];
            var values = codes.to_type(ScalarType.Float32);
            if (ZeroPoint is not null) values = values - (Axis is null ? ZeroPoint.reshape([]) : ZeroPoint.reshape(shape));
            return (values * (Axis is null ? Scale.reshape([]) : Scale.reshape(shape))).MoveToOuterDisposeScope();
        }

        /// <summary>The integer format whose range [qmin, qmax] a Clip to s·(qmin − z)..s·(qmax − z) before the QuantizeLinear means; null when none.</summary>
        public IntegerFormat? FormatOfClip(float min, float max)
        {
            if (Axis is not null) return null;
            float s = Scale.item<float>(), z = ZeroPoint?.item<float>() ?? 0;
            long qmin = (long)Math.Round(min / s + z), qmax = (long)Math.Round(max / s + z);
            for (int bits = 1; bits <= 8; bits++)
                foreach (bool narrow in new[] { false, true })
                {
                    var format = new IntegerFormat(bits, StorageFormat!.Signed, narrow);
                    if (!format.Problems().Any() && format.QMin == qmin && format.QMax == qmax) return format;
                }
            return null;
        }

        /// <summary>The quantizer spec of these parameters in <paramref name="format"/>: per tensor or per channel, affine when a zero point is not 0.</summary>
        public QuantizerSpec Spec(IntegerFormat format) => new()
        {
            Format = format,
            Granularity = Axis is null ? ScaleGranularity.Tensor : ScaleGranularity.Channel,
            Affine = ZeroOrNull(ZeroPoint) is not null,
        };
    }
}
