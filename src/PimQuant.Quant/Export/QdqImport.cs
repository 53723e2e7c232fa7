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
/// <item>a DequantizeLinear of an int8/uint8 initializer feeding a Conv, Gemm or MatMul weight becomes the
/// layer's weight quantizer (per tensor, or per output channel when the axis is the output channels) with
/// the file's scales and zero points, and the float weight s·(c − z), from which the quantizer gives back the
/// codes c; PyTorch's export writes the float weight behind a QuantizeLinear → DequantizeLinear pair instead, whose
/// codes are that QuantizeLinear of the constant, computed as ONNX defines it;</item>
/// <item>a QuantizeLinear → DequantizeLinear pair (optionally after a constant Clip, as <see cref="QdqExport"/>
/// writes for formats narrower than 8 bits) on a layer's input becomes the layer's activation quantizer;</item>
/// <item>an int32 bias behind a DequantizeLinear becomes its float value level·scale, which the layer quantizes
/// back to the same level (<see cref="BiasQuantization"/>); a float bias (PyTorch's) is quantized to int32 levels
/// at s_x·s_w like the integer model's, which the notes say;</item>
/// <item>QDQ pairs elsewhere (ONNX Runtime also quantizes the outputs of Relu, Add and pooling) stay in the
/// graph, run digitally by the executor's QuantizeLinear and DequantizeLinear kernels as ONNX Runtime runs them.</item>
/// </list>
/// Bit-widths: the storage type says 8 bits unless the file says more. A layer's input Clip to
/// s·(qmin − z)..s·(qmax − z) gives the activation's exact integer range; the weights' formats of a file
/// PimQuant wrote are in its metadata (<see cref="FormatsKey"/>).
/// </summary>
public static class QdqImport
{
    /// <summary>
    /// Metadata key <see cref="QdqExport"/> writes: the weight format of every layer with integer weight codes,
    /// <c>LAYER=FORMAT</c> separated by semicolons, FORMAT an <see cref="IntegerFormat.Name"/> such as int4n.
    /// </summary>
    public const string FormatsKey = "pimquant.qdq.weight_formats";

    /// <summary>Whether <paramref name="graph"/> holds QuantizeLinear or DequantizeLinear nodes.</summary>
    public static bool IsQdq(ModelGraph graph) => graph.Nodes.Any(n => n.OpType is "QuantizeLinear" or "DequantizeLinear");

    /// <summary>The weight formats of the layers with integer QDQ weights, in <see cref="FormatsKey"/>'s form.</summary>
    internal static string FormatsOf(IEnumerable<(string Layer, IntegerFormat Format)> layers) =>
        string.Join(";", layers.Select(l => $"{l.Layer}={l.Format.Name}"));

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
            var declared = DeclaredFormats(qdq);
            graph.Inputs.AddRange(qdq.Inputs);
            graph.Outputs.AddRange(qdq.Outputs);
            foreach (var (key, value) in qdq.Metadata) graph.Metadata[key] = value;
            foreach (var (key, value) in qdq.ValueShapes) graph.ValueShapes[key] = value;
            foreach (var (name, init) in qdq.Initializers) graph.AddInitializer(name, init.Value.clone(), init.Kind);
            var producers = qdq.Producers();

            // Weights and biases: DequantizeLinear of an integer initializer becomes a float initializer.
            var weights = new Dictionary<string, QdqTensor>(StringComparer.Ordinal);
            foreach (var node in qdq.Nodes.Where(n => n.OpType == "DequantizeLinear" && qdq.Initializers.ContainsKey(n.Inputs[0])))
            {
                var parameters = QdqTensor.Of(qdq, node);
                string name = FloatName(graph, node);
                graph.AddInitializer(name, parameters.Dequantize(qdq.Initializers[node.Inputs[0]].Value), InitializerKind.Parameter);
                weights[node.Output] = parameters with { FloatName = name };
            }
            // PyTorch's export of fake-quantized weights: float initializer → QuantizeLinear → DequantizeLinear. The codes
            // are the QuantizeLinear of the constant, computed here as ONNX defines it; the float weight becomes s·(c − z).
            var consumers = qdq.Consumers();
            foreach (var node in qdq.Nodes.Where(n => n.OpType == "DequantizeLinear"))
            {
                if (producers.GetValueOrDefault(node.Inputs[0]) is not { OpType: "QuantizeLinear" } q
                    || !qdq.Initializers.TryGetValue(q.Inputs[0], out var floats) || !floats.Value.is_floating_point()
                    || consumers[q.Output].Count != 1) continue;
                var quantize = QdqTensor.Of(qdq, q);
                using var codes = quantize.Quantize(floats.Value);
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
                if (node.OpType == "DequantizeLinear" && weights.ContainsKey(node.Output)) continue;
                graph.Nodes.Add(node with { Inputs = [.. node.Inputs.Select(i => weights.TryGetValue(i, out var w) ? w.FloatName! : i)] });
            }

            // Layers: the weight's quantization from its DequantizeLinear, the input's from the QDQ pair before it.
            var layers = new List<(QuantizableLayer Layer, QdqTensor? Weight, QdqTensor? Input, IntegerFormat? InputFormat)>();
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
                if (weight is not null && weight.Axis is { } axis && axis != OutputAxis(layer, (int)graph.Initializers[layer.WeightName].Value.dim()))
                    throw new QdqImportException($"node '{layer.Name}' ({layer.OpType}): its weight has one scale per element of axis {axis}; a crossbar column needs one per output channel");
                if (weight is null && input is not null)
                    notes.Add($"layer {layer.Name}: its weight is float32 in the file (no DequantizeLinear of integer codes), so it stays unquantized");
                if (weight is not null && input is { Axis: null } && node.InputAt(2) is { } bias && !weights.Values.Any(w => w.FloatName == bias))
                    notes.Add($"layer {layer.Name}: its bias is float32 in the file (PyTorch's export leaves it so); it is quantized to int32 levels round(b / (s_x·s_w)), as the integer model's biases are");
                layers.Add((layer, weight, input, inputFormat));
            }
            DeadNodeElimination.Run(graph);

            var plan = new QuantizationPlan([.. layers.Select(l => new LayerPlan(l.Layer,
                l.Weight is null ? null : l.Weight.Spec(WeightFormat(l.Layer.Name, l.Weight, declared, notes)),
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

    private static Dictionary<string, IntegerFormat> DeclaredFormats(ModelGraph graph)
    {
        var formats = new Dictionary<string, IntegerFormat>(StringComparer.Ordinal);
        if (!graph.Metadata.TryGetValue(FormatsKey, out var text)) return formats;
        foreach (var entry in text.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = entry.LastIndexOf('=');
            if (eq <= 0 || ParseFormat(entry[(eq + 1)..]) is not { } format)
                throw new QdqImportException($"metadata {FormatsKey}: '{entry}' is not LAYER=FORMAT with FORMAT such as int4n or uint8");
            formats[entry[..eq]] = format;
        }
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

    /// <summary>The declared weight format of a layer, checked against its codes; else the storage type's 8 bits.</summary>
    private static IntegerFormat WeightFormat(string layer, QdqTensor weight, Dictionary<string, IntegerFormat> declared, List<string> notes)
    {
        var storage = weight.StorageFormat ?? throw new QdqImportException($"layer {layer}: its weight codes are int32; a crossbar weight has at most 8 bits (int8, uint8)");
        if (declared.TryGetValue(layer, out var format))
        {
            if (format.Signed != storage.Signed || format.Bits > 8)
                throw new QdqImportException($"metadata {FormatsKey}: layer {layer} is declared {format.Name} but its codes are stored as {storage.Name}");
            if (weight.MinCode < format.QMin || weight.MaxCode > format.QMax)
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
    private sealed record QdqTensor(Tensor Scale, Tensor? ZeroPoint, long? Axis, IntegerFormat? StorageFormat, long MinCode, long MaxCode)
    {
        /// <summary>The float initializer that replaced a weight's DequantizeLinear.</summary>
        public string? FloatName { get; init; }

        /// <param name="graph">The graph holding the node's constants.</param>
        /// <param name="node">A QuantizeLinear or DequantizeLinear.</param>
        /// <param name="codes">The codes a DequantizeLinear reads when they are no initializer (computed from a constant).</param>
        public static QdqTensor Of(ModelGraph graph, Node node, Tensor? codes = null)
        {
            Tensor Constant(int i, string what) => node.InputAt(i) is { } name && graph.Initializers.TryGetValue(name, out var t) ? t.Value
                : throw new QdqImportException($"node '{node.Name}' ({node.OpType}): its {what} is computed at run time; only constant scales and zero points have a quantized-model form");
            var scale = Constant(1, "scale").to_type(ScalarType.Float32).reshape(-1);
            var zero = node.InputAt(2) is null ? null : Constant(2, "zero point");
            if (codes is null && node.OpType == "DequantizeLinear" && graph.Initializers.TryGetValue(node.Inputs[0], out var stored)) codes = stored.Value;
            var type = zero?.dtype ?? codes?.dtype ?? ScalarType.Byte;
            IntegerFormat? storage = type switch
            {
                ScalarType.Int8 => new IntegerFormat(8, Signed: true),
                ScalarType.Byte => new IntegerFormat(8, Signed: false),
                ScalarType.Int32 => null, // bias levels
                _ => throw new QdqImportException($"node '{node.Name}' ({node.OpType}): type {type} is not supported (int8, uint8, int32 biases)"),
            };
            long? axis = scale.numel() > 1 ? node.GetInt("axis", 1) : null;
            if (axis < 0 && node.OpType == "QuantizeLinear" && graph.Initializers.TryGetValue(node.Inputs[0], out var input)) axis += input.Value.dim();
            if (node.OpType == "DequantizeLinear" && codes is not null)
            {
                if (axis < 0) axis += codes.dim();
                var asLong = codes.to_type(ScalarType.Int64);
                return new QdqTensor(scale, zero?.to_type(ScalarType.Float32).reshape(-1), axis, storage, asLong.min().item<long>(), asLong.max().item<long>());
            }
            if (storage is null) throw new QdqImportException($"node '{node.Name}' ({node.OpType}): int32 quantizes biases only, not activations");
            return new QdqTensor(scale, zero?.to_type(ScalarType.Float32).reshape(-1), axis, storage, storage.QMin, storage.QMax);
        }

        /// <summary>Whether the quantization parameters are the same as <paramref name="other"/>'s.</summary>
        public bool SameAs(QdqTensor other) =>
            Equal(Scale, other.Scale) && Axis == other.Axis && StorageFormat == other.StorageFormat && Equal(ZeroOrNull(ZeroPoint), ZeroOrNull(other.ZeroPoint));

        /// <summary>The zero points, or null when absent or all 0 (the same quantization).</summary>
        private static Tensor? ZeroOrNull(Tensor? zero) => zero is null || zero.eq(0).all().item<bool>() ? null : zero;

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

        /// <summary>(c − z)·s along the axis, float32.</summary>
        public Tensor Dequantize(Tensor codes)
        {
            using var scope = NewDisposeScope();
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
