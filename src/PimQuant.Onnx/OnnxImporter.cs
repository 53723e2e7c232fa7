using System.Collections.Frozen;
using Google.Protobuf;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Onnx.Proto;
using static TorchSharp.torch;
using AttributeType = PimQuant.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace PimQuant.Onnx;

/// <summary>
/// Reads ONNX models (default domain, opsets <see cref="MinOpset"/> to <see cref="MaxOpset"/>)
/// into <see cref="ModelGraph"/>s. Nodes map one-to-one, except that Split becomes one Slice per
/// output; Constant nodes become constant tensors; then Reshapes written for batch 1 are
/// generalised (<see cref="BatchOneReshapes"/>), constant folding (which resolves the Shape →
/// Gather → Unsqueeze → Concat → Reshape chains PyTorch emits), dead-node elimination and shape
/// inference run, so the graph is ready to execute.
/// </summary>
/// <remarks>
/// Float initializers become trainable parameters, except batch-norm running statistics (buffers)
/// and Clip bounds or Dropout ratios (constants); integer ones and Constant-node values become
/// constants. DOUBLE tensors are converted to float32, the precision PimQuant computes in.
/// Unsorted nodes are put in topological order and unnamed or duplicate node names made unique
/// (the engine identifies nodes by name); optional outputs nobody reads are dropped; Clip bounds
/// given as opset-6 attributes become inputs. Softmax before opset 13 is accepted over the last
/// axis only, the one case where its 2-D coercion equals the engine's softmax.
/// Every problem is reported as an <see cref="OnnxException"/> whose message starts with the source name.
/// </remarks>
public static class OnnxImporter
{
    /// <summary>The lowest default-domain opset accepted.</summary>
    public const int MinOpset = 11;

    /// <summary>The highest default-domain opset accepted.</summary>
    public const int MaxOpset = 21;

    /// <summary>The operators accepted, all from the default ONNX domain.</summary>
    public static IReadOnlySet<string> SupportedOperators { get; } = new[]
    {
        "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool",
        "Add", "Sub", "Mul", "Div", "Concat", "Flatten", "Reshape", "Transpose", "Constant", "Identity", "Dropout", "Softmax",
        "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "QuantizeLinear", "DequantizeLinear",
        "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "PRelu", "ReduceMean", "ReduceMax", "ReduceSum",
        "Pad", "Slice", "Split", "Expand", "Resize", "LayerNormalization", "Pow", "Sqrt", "Erf",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The inputs ONNX does not let a node omit, by operator (the others take one: "input").</summary>
    private static readonly FrozenDictionary<string, string[]> RequiredInputs = new Dictionary<string, string[]>
    {
        ["Conv"] = ["X", "W"], ["Gemm"] = ["A", "B"], ["MatMul"] = ["A", "B"],
        ["BatchNormalization"] = ["X", "scale", "B", "input_mean", "input_var"],
        ["Add"] = ["A", "B"], ["Sub"] = ["A", "B"], ["Mul"] = ["A", "B"], ["Div"] = ["A", "B"],
        ["Reshape"] = ["data", "shape"], ["Gather"] = ["data", "indices"], ["PRelu"] = ["X", "slope"], ["Pow"] = ["X", "Y"], ["LayerNormalization"] = ["X", "Scale"],
        ["Pad"] = ["data", "pads"], ["Slice"] = ["data", "starts", "ends"], ["Expand"] = ["input", "shape"],
        ["QuantizeLinear"] = ["x", "y_scale"], ["DequantizeLinear"] = ["x", "x_scale"],
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Imports the model in file <paramref name="path"/>; messages start with that path.</summary>
    /// <exception cref="OnnxException">The file cannot be read or holds no model PimQuant can run.</exception>
    public static ModelGraph ImportFile(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OnnxException($"{path}: cannot read the file: {e.Message}");
        }
        return Import(bytes, path);
    }

    /// <summary>Imports a model read from <paramref name="stream"/> to its end.</summary>
    /// <param name="stream">The serialized ModelProto.</param>
    /// <param name="sourceName">How messages name the model, e.g. its file name; "ONNX model" when null.</param>
    /// <exception cref="OnnxException">The bytes hold no model PimQuant can run.</exception>
    public static ModelGraph Import(Stream stream, string? sourceName = null)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return Import(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), sourceName);
    }

    /// <summary>Imports a serialized ONNX model.</summary>
    /// <param name="model">The serialized ModelProto.</param>
    /// <param name="sourceName">How messages name the model, e.g. its file name; "ONNX model" when null.</param>
    /// <exception cref="OnnxException">The bytes hold no model PimQuant can run.</exception>
    public static ModelGraph Import(ReadOnlySpan<byte> model, string? sourceName = null)
    {
        string source = sourceName ?? "ONNX model";
        ModelProto proto;
        try { proto = ModelProto.Parser.ParseFrom(model); }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxException($"{source}: not a valid ONNX model: the data is truncated or not protobuf ({e.Message.Split('\n')[0].Trim()})");
        }
        return Import(proto, source);
    }

    /// <summary>Imports a parsed model; <paramref name="source"/> starts every message.</summary>
    internal static ModelGraph Import(ModelProto model, string source) => new Reader(model, source).Read();

    /// <summary>One import: the model, its source name for messages, and the graph under construction.</summary>
    private sealed class Reader(ModelProto model, string source)
    {
        private readonly Dictionary<string, Tensor> _tensors = new(StringComparer.Ordinal);
        private readonly HashSet<string> _constantNodeValues = new(StringComparer.Ordinal);
        private int _opset;

        private OnnxException Fail(string message) => new($"{source}: {message}");

        public ModelGraph Read()
        {
            var g = model.Graph ?? throw Fail("not a valid ONNX model: it has no graph");
            _opset = DefaultOpset();
            if (g.Node.Count == 0) throw Fail("the graph has no nodes");
            if (g.Output.Count == 0) throw Fail("the graph has no outputs");
            var labels = g.Node.Select(Label).ToArray();
            RequireSupported(g, labels);

            var graph = new ModelGraph(g.Name is { Length: > 0 } name ? name : DefaultName(), _opset);
            try
            {
                // Tensors read here are temporaries: the graph stores its own copies.
                using (NewDisposeScope())
                {
                    foreach (var init in g.Initializer) ReadInitializer(init);
                    graph.Inputs.AddRange(g.Input.Where(i => !_tensors.ContainsKey(i.Name)).Select(ReadInput));
                    if (graph.Inputs.Count == 0) throw Fail("the graph has no inputs");
                    var nodes = ReadNodes(g, labels, graph.Inputs);
                    graph.Outputs.AddRange(g.Output.Select(o => o.Name));
                    nodes = TopologicalOrder(nodes, graph);
                    DropUnusedOutputs(nodes, graph.Outputs);
                    StoreTensors(graph, nodes);
                    // Added before adapting, so names made up for moved operands clash with none of them.
                    graph.Nodes.AddRange(nodes);
                    var forms = new OpsetForms(graph, _opset, Fail);
                    for (int k = 0; k < graph.Nodes.Count; k++) graph.Nodes[k] = forms.Adapt(graph.Nodes[k]);
                    foreach (var (constName, value) in forms.NewConstants) graph.AddInitializer(constName, value, InitializerKind.Constant);
                    SplitAsSlices.Run(graph, Fail);
                }
                foreach (var entry in model.MetadataProps) graph.Metadata[entry.Key] = entry.Value;
                RunPasses(graph);
                CheckLegacySoftmax(graph);
                return graph;
            }
            catch (GraphException e) when (e is not OnnxException)
            {
                // The engine's passes and attribute accessors report without knowing the file.
                graph.Dispose();
                throw Fail(e.Message);
            }
            catch
            {
                graph.Dispose();
                throw;
            }
        }

        private int DefaultOpset()
        {
            var versions = model.OpsetImport.Where(o => IsDefaultDomain(o.Domain)).Select(o => o.Version).ToList();
            if (versions.Count == 0)
                throw Fail("not a valid ONNX model: it imports no default-domain opset");
            long version = versions.Max();
            if (version is < OnnxImporter.MinOpset or > OnnxImporter.MaxOpset)
                throw Fail($"the model uses ONNX opset {version}; PimQuant supports opsets {OnnxImporter.MinOpset} to {OnnxImporter.MaxOpset} (re-export the model with one of them)");
            return (int)version;
        }

        private string DefaultName() => source == "ONNX model" ? "model" : Path.GetFileNameWithoutExtension(source);

        private static bool IsDefaultDomain(string domain) => domain is "" or "ai.onnx";

        /// <summary>How messages name a node: its name, or its position when it has none.</summary>
        private static string Label(NodeProto node, int index) => node.Name.Length > 0 ? $"'{node.Name}'" : $"#{index} (unnamed)";

        /// <summary>
        /// Refuses a model with operators PimQuant lacks, naming every such operator once, with how many nodes
        /// use it and the first of them, so one run tells the user everything that is missing.
        /// </summary>
        private void RequireSupported(GraphProto g, string[] labels)
        {
            var missing = g.Node.Select((node, k) => (node, label: labels[k]))
                .Where(n => !IsDefaultDomain(n.node.Domain) || !SupportedOperators.Contains(n.node.OpType))
                .GroupBy(n => (n.node.Domain, n.node.OpType))
                .Select(group => $"'{group.Key.OpType}' ({DomainNote(group.Key.Domain)}{Nodes(group.Count())}, first {group.First().label})")
                .ToList();
            if (missing.Count == 0) return;
            string operators = missing.Count == 1 ? "an operator" : $"{missing.Count} operators";
            bool foreign = g.Node.Any(n => !IsDefaultDomain(n.Domain));
            throw Fail($"the model uses {operators} PimQuant does not support (opset {_opset}): {string.Join("; ", missing)}"
                + (foreign ? "; only the default ONNX domain is supported" : ""));
        }

        private static string Nodes(int count) => count == 1 ? "1 node" : $"{count} nodes";

        /// <summary>"domain 'd', opset v; " for an operator outside the default domain, else nothing.</summary>
        private string DomainNote(string domain)
        {
            if (IsDefaultDomain(domain)) return "";
            long version = model.OpsetImport.FirstOrDefault(o => o.Domain == domain)?.Version ?? 0;
            return $"domain '{domain}', opset {version}; ";
        }

        private void ReadInitializer(TensorProto init)
        {
            if (init.Name.Length == 0) throw Fail("the graph has an initializer without a name");
            if (_tensors.ContainsKey(init.Name)) throw Fail($"initializer '{init.Name}' is defined twice");
            _tensors[init.Name] = TensorCodec.Read(init, init.Name, Fail);
        }

        private GraphInput ReadInput(ValueInfoProto input)
        {
            if (input.Type?.TensorType is not { } type)
                throw Fail($"graph input '{input.Name}' is not a tensor");
            if (type.ElemType != (int)TensorProto.Types.DataType.Float)
                throw Fail($"graph input '{input.Name}' has element type {TensorCodec.TypeName(type.ElemType)}; PimQuant takes FLOAT inputs only");
            if (type.Shape is null)
                throw Fail($"graph input '{input.Name}' has no shape; PimQuant needs its rank and its non-batch dimensions");
            // Dimension 0 is the batch whatever the file says; symbolic or unknown dimensions are dynamic.
            long[] shape = type.Shape.Dim.Select((d, k) =>
                k > 0 && d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue >= 0 ? d.DimValue : -1L).ToArray();
            return new GraphInput(input.Name, shape);
        }

        /// <summary>Converts the nodes, turning Constant nodes into tensors; gives every node a unique name.</summary>
        private List<Node> ReadNodes(GraphProto g, string[] labels, List<GraphInput> inputs)
        {
            var nodes = new List<Node>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            var produced = new HashSet<string>(inputs.Select(i => i.Name), StringComparer.Ordinal);
            produced.UnionWith(_tensors.Keys);
            for (int k = 0; k < g.Node.Count; k++)
            {
                var proto = g.Node[k];
                string label = labels[k];
                if (proto.Output.Count == 0 || proto.Output[0].Length == 0)
                    throw Fail($"node {label} ({proto.OpType}) has no output");
                foreach (var output in proto.Output.Where(o => o.Length > 0))
                    if (!produced.Add(output))
                        throw Fail($"node {label} ({proto.OpType}) writes '{output}', which is already a graph input, an initializer or another node's output");

                if (proto.OpType == "Constant")
                {
                    _tensors[proto.Output[0]] = ReadConstant(proto, label);
                    _constantNodeValues.Add(proto.Output[0]);
                    continue;
                }
                // The engine identifies nodes by name (constant folding, messages), so names must be unique.
                string stem = proto.Name.Length > 0 ? proto.Name : $"{proto.OpType}_{k}", name = stem;
                for (int suffix = 1; !names.Add(name); suffix++) name = $"{stem}_{suffix}";
                var attributes = proto.Attribute.Select(a => KeyValuePair.Create(a.Name, ReadAttribute(proto, label, a)));
                var node = Node.Create(name, proto.OpType, proto.Input, proto.Output, attributes);
                CheckSemantics(node, label);
                nodes.Add(node);
            }
            return nodes;
        }

        /// <summary>
        /// Rejects nodes without the inputs ONNX requires (the kernels index them unchecked) and
        /// attribute values whose meaning the engine's kernels do not implement.
        /// </summary>
        private void CheckSemantics(Node node, string label)
        {
            string[] required = RequiredInputs.GetValueOrDefault(node.OpType, ["input"]);
            for (int k = 0; k < required.Length; k++)
                if (node.InputAt(k) is null)
                    throw Fail($"node {label} ({node.OpType}) has no input {k} ({required[k]}); it needs {string.Join(", ", required)}");
            switch (node.OpType)
            {
                case "Shape" when node.GetInt("start", 0) != 0 || node.Attributes.ContainsKey("end"):
                    throw Fail($"node {label} (Shape) slices the shape with 'start'/'end' (opset {_opset}), which PimQuant does not support");
                case "BatchNormalization" when node.GetInt("training_mode", 0) != 0:
                    throw Fail($"node {label} (BatchNormalization) was exported in training mode; export the model in eval mode");
            }
        }

        private AttributeValue ReadAttribute(NodeProto node, string label, AttributeProto a)
        {
            if (a.RefAttrName.Length > 0)
                throw Fail($"node {label} ({node.OpType}): attribute '{a.Name}' refers to a function attribute, which is only valid inside functions");
            return a.Type switch
            {
                AttributeType.Float => new AttributeValue.Float(a.F),
                AttributeType.Int => new AttributeValue.Int(a.I),
                AttributeType.String => new AttributeValue.Text(a.S.ToStringUtf8()),
                AttributeType.Floats => new AttributeValue.Floats([.. a.Floats]),
                AttributeType.Ints => new AttributeValue.Ints([.. a.Ints]),
                _ => throw Fail($"node {label} ({node.OpType}): attribute '{a.Name}' has type {a.Type}, which PimQuant does not support"),
            };
        }

        private Tensor ReadConstant(NodeProto node, string label)
        {
            if (node.Attribute.Count != 1)
                throw Fail($"node {label} (Constant) must have exactly one attribute, it has {node.Attribute.Count}");
            var a = node.Attribute[0];
            string name = node.Output[0];
            return (a.Name, a.Type) switch
            {
                ("value", AttributeType.Tensor) => TensorCodec.Read(a.T, name, Fail),
                ("value_float", AttributeType.Float) => TensorCodec.Read(FloatTensor([a.F], []), name, Fail),
                ("value_floats", AttributeType.Floats) => TensorCodec.Read(FloatTensor(a.Floats, [a.Floats.Count]), name, Fail),
                ("value_int", AttributeType.Int) => tensor(a.I),
                ("value_ints", AttributeType.Ints) => tensor(a.Ints.ToArray()),
                _ => throw Fail($"node {label} (Constant): attribute '{a.Name}' of type {a.Type} is not supported"),
            };
        }

        /// <summary>A float TensorProto for a value_float(s) attribute, so it goes through the same checks as initializers.</summary>
        private static TensorProto FloatTensor(IEnumerable<float> values, long[] dims)
        {
            var t = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float };
            t.Dims.AddRange(dims);
            t.FloatData.AddRange(values);
            return t;
        }

        /// <summary>
        /// Checks that every input exists and orders the nodes so each comes after its producers,
        /// keeping the file's order where it is already valid (broken files may list nodes unsorted).
        /// </summary>
        private List<Node> TopologicalOrder(List<Node> nodes, ModelGraph graph)
        {
            var producer = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int k = 0; k < nodes.Count; k++)
                foreach (var o in nodes[k].Outputs.Where(o => o.Length > 0)) producer[o] = k;
            var available = new HashSet<string>(graph.Inputs.Select(i => i.Name), StringComparer.Ordinal);
            available.UnionWith(_tensors.Keys);

            var pending = new int[nodes.Count];
            var readers = new List<int>[nodes.Count];
            for (int k = 0; k < nodes.Count; k++) readers[k] = [];
            for (int k = 0; k < nodes.Count; k++)
                foreach (var input in nodes[k].Inputs.Where(i => i.Length > 0).Distinct())
                {
                    if (available.Contains(input)) continue;
                    if (!producer.TryGetValue(input, out int p))
                        throw Fail($"node '{nodes[k].Name}' ({nodes[k].OpType}): input '{input}' is neither an initializer, a graph input nor a node output (missing initializer)");
                    pending[k]++;
                    readers[p].Add(k);
                }
            foreach (var output in graph.Outputs)
                if (!producer.ContainsKey(output) && !available.Contains(output))
                    throw Fail($"graph output '{output}' is not computed by any node");

            var ready = new PriorityQueue<int, int>();
            for (int k = 0; k < nodes.Count; k++) if (pending[k] == 0) ready.Enqueue(k, k);
            var order = new List<Node>(nodes.Count);
            while (ready.TryDequeue(out int k, out _))
            {
                order.Add(nodes[k]);
                foreach (int r in readers[k]) if (--pending[r] == 0) ready.Enqueue(r, r);
            }
            if (order.Count < nodes.Count)
            {
                // Walk back from a blocked node through blocked producers: the first node met twice lies on a cycle.
                int at = Array.FindIndex(pending, p => p > 0);
                var seen = new HashSet<int>();
                while (seen.Add(at))
                    at = nodes[at].Inputs.Where(producer.ContainsKey).Select(i => producer[i]).First(p => pending[p] > 0);
                throw Fail($"the graph has a cycle: node '{nodes[at].Name}' ({nodes[at].OpType}) depends on its own output");
            }
            return order;
        }

        /// <summary>
        /// Clears optional extra outputs nobody reads (MaxPool indices, Dropout masks, batch-norm
        /// statistics): the engine computes first outputs only, and these do not change the result.
        /// </summary>
        private static void DropUnusedOutputs(List<Node> nodes, List<string> graphOutputs)
        {
            var read = new HashSet<string>(graphOutputs, StringComparer.Ordinal);
            foreach (var node in nodes) read.UnionWith(node.Inputs);
            for (int k = 0; k < nodes.Count; k++)
            {
                var outputs = nodes[k].Outputs.Select((o, i) => i == 0 || read.Contains(o) ? o : "").ToList();
                while (outputs.Count > 1 && outputs[^1].Length == 0) outputs.RemoveAt(outputs.Count - 1);
                if (outputs.Count != nodes[k].Outputs.Length) nodes[k] = nodes[k] with { Outputs = [.. outputs] };
            }
        }

        /// <summary>Stores the tensors nodes read, with the kind their use implies.</summary>
        private void StoreTensors(ModelGraph graph, List<Node> nodes)
        {
            var uses = new Dictionary<string, List<(string op, int index)>>(StringComparer.Ordinal);
            foreach (var node in nodes)
                for (int i = 0; i < node.Inputs.Length; i++)
                    if (_tensors.ContainsKey(node.Inputs[i]))
                        (uses.TryGetValue(node.Inputs[i], out var list) ? list : uses[node.Inputs[i]] = []).Add((node.OpType, i));
            foreach (var (name, use) in uses)
                graph.AddInitializer(name, _tensors[name], KindOf(name, _tensors[name], use));
        }

        private InitializerKind KindOf(string name, Tensor value, List<(string op, int index)> uses)
        {
            if (!value.is_floating_point() || _constantNodeValues.Contains(name)) return InitializerKind.Constant;
            if (uses.Any(u => u is ("BatchNormalization", 3 or 4))) return InitializerKind.Buffer;
            // Clip bounds and dropout ratios are settings, not weights: training must not move them.
            if (uses.All(u => u is ("Clip", 1 or 2) or ("Dropout", 1))) return InitializerKind.Constant;
            return InitializerKind.Parameter;
        }

        /// <summary>
        /// Generalises Reshapes written for batch 1 (or refuses a file that fixes the batch elsewhere), folds shape
        /// computations, prunes what no output needs and infers shapes, as the engine expects of a loaded graph.
        /// </summary>
        private static void RunPasses(ModelGraph graph)
        {
            // A kernel that rejects its operands surfaces as a GraphException naming the node.
            BatchOneReshapes.Run(graph);
            ConstantFolding.Run(graph);
            DeadNodeElimination.Run(graph);
            ShapeInference.Run(graph);
        }

        /// <summary>
        /// Before opset 13, Softmax flattens its input to 2-D at the axis (default 1) and normalizes
        /// the second part; that is the engine's single-axis softmax only when the axis is the last one.
        /// </summary>
        private void CheckLegacySoftmax(ModelGraph graph)
        {
            if (_opset >= 13) return;
            for (int k = 0; k < graph.Nodes.Count; k++)
            {
                var node = graph.Nodes[k];
                if (node.OpType != "Softmax") continue;
                long axis = node.GetInt("axis", 1);
                int rank = graph.ValueShapes.TryGetValue(node.Inputs[0], out var shape) ? shape.Length : (int)graph.Initializers[node.Inputs[0]].Value.dim();
                if ((axis < 0 ? axis + rank : axis) != rank - 1)
                    throw Fail($"node '{node.Name}' (Softmax, opset {_opset}) normalizes over axis {axis} of a rank-{rank} input; before opset 13 that flattens the trailing dimensions, which PimQuant supports only when the axis is the last one");
                // Stated explicitly because the engine's default axis is opset 13's -1, not 1.
                graph.Nodes[k] = node.With("axis", new AttributeValue.Int(axis));
            }
        }
    }
}
