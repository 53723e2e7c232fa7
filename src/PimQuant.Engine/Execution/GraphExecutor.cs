using PimQuant.Engine.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace PimQuant.Engine.Execution;

/// <summary>
/// Runs a <see cref="ModelGraph"/> with TorchSharp operators. The execution plan (which kernel
/// each node uses, where each input comes from, when each intermediate can be freed) is built
/// once; build a new executor after changing the graph. Run inside a dispose scope: outputs
/// belong to the caller's scope, intermediates are released as soon as no later node needs them.
/// </summary>
public sealed class GraphExecutor
{
    private readonly ModelGraph _graph;
    private readonly Step[] _steps;
    private readonly int[] _inputSlots;
    private readonly int[] _outputSlots;
    private readonly int _slotCount;
    private readonly Dictionary<string, int> _slotOf;

    /// <summary>One node's execution; InPlaceSlot is its first input's slot if it may overwrite it (<see cref="PlanInPlace"/>), else -1.</summary>
    private sealed record Step(Node Node, INodeKernel Kernel, Source[] Inputs, int Output, int[] FreeAfter, int InPlaceSlot);

    /// <summary>Where a node input comes from: a graph tensor, a computed slot, or nothing (omitted).</summary>
    private readonly record struct Source(Tensor? Constant, int Slot);

    /// <summary>Plans the execution of <paramref name="graph"/>.</summary>
    /// <param name="graph">The graph; its nodes must be in topological order.</param>
    /// <param name="overrides">Per-node kernel substitutions (e.g. quantized or crossbar-simulated layers).</param>
    /// <exception cref="GraphException">An operator has no kernel, or a value is used before it is produced.</exception>
    public GraphExecutor(ModelGraph graph, KernelOverrides? overrides = null)
    {
        _graph = graph;
        _slotOf = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var input in graph.Inputs) _slotOf[input.Name] = _slotOf.Count;
        _inputSlots = graph.Inputs.Select(i => _slotOf[i.Name]).ToArray();

        var steps = new List<(Node node, INodeKernel kernel, Source[] inputs, int output)>();
        foreach (var node in graph.Nodes)
        {
            var kernel = overrides?.Invoke(node)
                ?? (StandardKernels.ByOpType.TryGetValue(node.OpType, out var k) ? k
                    : throw new GraphException($"node '{node.Name}': operator '{node.OpType}' is not supported"));
            var sources = node.Inputs.Select(name => ResolveSource(node, name)).ToArray();
            foreach (var extra in node.Outputs.Skip(1))
                if (extra.Length > 0)
                    throw new GraphException($"node '{node.Name}' ({node.OpType}): only the first output is supported, but '{extra}' is requested");
            int output = _slotOf.Count;
            if (!_slotOf.TryAdd(node.Output, output))
                throw new GraphException($"node '{node.Name}': value '{node.Output}' is produced twice");
            steps.Add((node, kernel, sources, output));
        }
        _slotCount = _slotOf.Count;
        _outputSlots = graph.Outputs.Select(o => _slotOf.TryGetValue(o, out var s) ? s
            : throw new GraphException($"graph output '{o}' is not produced by any node")).ToArray();

        // Free each intermediate right after its last reader, unless it is an output or a graph input.
        var lastUse = new int[_slotCount];
        Array.Fill(lastUse, -1);
        for (int s = 0; s < steps.Count; s++)
            foreach (var src in steps[s].inputs)
                if (src.Constant is null && src.Slot >= 0) lastUse[src.Slot] = s;
        var keep = new HashSet<int>(_outputSlots.Concat(_inputSlots));
        var freeAfter = new List<int>[steps.Count];
        for (int s = 0; s < steps.Count; s++) freeAfter[s] = [];
        for (int slot = 0; slot < _slotCount; slot++)
            if (lastUse[slot] >= 0 && !keep.Contains(slot)) freeAfter[lastUse[slot]].Add(slot);
        var inPlace = PlanInPlace(steps.Select(s => (s.kernel, s.inputs, s.output)).ToList(), lastUse, keep);
        _steps = steps.Select((s, idx) => new Step(s.node, s.kernel, s.inputs, s.output, freeAfter[idx].ToArray(), inPlace[idx])).ToArray();
    }

    /// <summary>
    /// Per step, the slot of its first input if the step may write its result there: the kernel is a standard one
    /// with an in-place form; the value is an intermediate (not a graph input or output) read for the last time
    /// here and only once; it was produced by a standard kernel into storage of its own; and every reader is a
    /// standard kernel that neither returns a view of it nor keeps it. Then no other tensor can see the overwrite.
    /// Override kernels are never assumed to be either, so their inputs and outputs are left alone.
    /// </summary>
    private static int[] PlanInPlace(List<(INodeKernel kernel, Source[] inputs, int output)> steps, int[] lastUse, HashSet<int> keep)
    {
        static bool IsFresh(INodeKernel k) => k is StandardKernels.Standard { Fresh: true };
        var ownStorage = new bool[lastUse.Length];
        var safeReaders = new bool[lastUse.Length];
        Array.Fill(safeReaders, true);
        foreach (var (kernel, inputs, output) in steps)
        {
            ownStorage[output] = IsFresh(kernel);
            foreach (var src in inputs)
                if (src.Constant is null && src.Slot >= 0) safeReaders[src.Slot] &= IsFresh(kernel);
        }
        var result = new int[steps.Count];
        for (int s = 0; s < steps.Count; s++)
        {
            var (kernel, inputs, _) = steps[s];
            result[s] = -1;
            if (kernel is not StandardKernels.Standard { HasInPlace: true } || inputs.Length == 0) continue;
            var first = inputs[0];
            if (first.Constant is not null || first.Slot < 0) continue;
            int slot = first.Slot;
            bool once = inputs.Count(i => i.Constant is null && i.Slot == slot) == 1;
            if (once && lastUse[slot] == s && !keep.Contains(slot) && ownStorage[slot] && safeReaders[slot]) result[s] = slot;
        }
        return result;
    }

    /// <summary>Training mode for batch norm and dropout.</summary>
    public bool Training { get; set; }

    /// <summary>
    /// Run convolutions in channels-last (NHWC) memory order: libtorch's oneDNN convolutions then skip the
    /// reorders of every activation into and out of their blocked layout, and values between convolutions stay
    /// channels-last. Shapes and results are unchanged (up to float rounding); a kernel that reads raw memory
    /// must call <c>contiguous()</c> first.
    /// </summary>
    public bool ChannelsLast { get; init; }

    /// <summary>
    /// Without autograd (inside <c>no_grad</c>), let an elementwise node whose first input dies with it write
    /// its result into that input instead of allocating, where the plan proves nothing else sees it
    /// (<see cref="PlanInPlace"/>). Off by default: with it on for every executor, a crossbar-simulation test
    /// (CrossbarModelTests.A_3_bit_adc_costs_accuracy_that_5_bits_keep) lost accuracy, cause not yet found.
    /// </summary>
    public bool OverwriteDyingValues { get; init; }

    /// <summary>The graph this executor runs.</summary>
    public ModelGraph Graph => _graph;

    private Source ResolveSource(Node node, string name)
    {
        if (name.Length == 0) return new Source(null, -1);
        if (_graph.Initializers.TryGetValue(name, out var init)) return new Source(init.Value, -1);
        if (_slotOf.TryGetValue(name, out int slot)) return new Source(null, slot);
        throw new GraphException($"node '{node.Name}' ({node.OpType}): input '{name}' is neither a graph input, a tensor of the graph nor the output of an earlier node");
    }

    /// <summary>Runs a single-input, single-output graph.</summary>
    public Tensor Forward(Tensor input) => Run([input])[0];

    /// <summary>Runs the graph; returns its outputs in order.</summary>
    public Tensor[] Run(IReadOnlyList<Tensor> inputs) => Execute(inputs, null);

    /// <summary>Runs the graph and also returns every intermediate value named in <paramref name="capture"/>.</summary>
    public Dictionary<string, Tensor> RunCapturing(IReadOnlyList<Tensor> inputs, IEnumerable<string> capture)
    {
        var wanted = capture.Where(_slotOf.ContainsKey).ToDictionary(n => n, n => _slotOf[n], StringComparer.Ordinal);
        var captured = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        Execute(inputs, (slot, tensor) =>
        {
            foreach (var (name, s) in wanted)
                if (s == slot) captured[name] = tensor;
        });
        foreach (var (name, s) in wanted)
            if (!captured.ContainsKey(name) && _inputSlots.Contains(s)) captured[name] = inputs[Array.IndexOf(_inputSlots, s)];
        return captured;
    }

    private Tensor[] Execute(IReadOnlyList<Tensor> inputs, Action<int, Tensor>? observe)
    {
        if (inputs.Count != _inputSlots.Length)
            throw new ArgumentException($"graph '{_graph.Name}' takes {_inputSlots.Length} inputs, got {inputs.Count}");
        var slots = new Tensor?[_slotCount];
        for (int i = 0; i < _inputSlots.Length; i++) slots[_inputSlots[i]] = inputs[i];
        var context = new ExecutionContext(_graph, Training) { ChannelsLast = ChannelsLast };
        // Overwriting an input is safe only when autograd keeps nothing for backward and no caller sees intermediates.
        bool mayOverwrite = OverwriteDyingValues && observe is null && !is_grad_enabled();
        var args = new List<Tensor?>(8);
        foreach (var step in _steps)
        {
            args.Clear();
            foreach (var src in step.Inputs)
                args.Add(src.Constant ?? (src.Slot >= 0 ? slots[src.Slot] : null));
            Tensor result;
            try
            {
                if (mayOverwrite && step.InPlaceSlot >= 0 && ((StandardKernels.Standard)step.Kernel).RunInPlace(step.Node, args) is { } written)
                {
                    // The slot's tensor is now the result: move it rather than free it below.
                    slots[step.InPlaceSlot] = null;
                    result = written;
                }
                else
                {
                    // The kernel's temporaries die with its node. In the caller's scope they would live until the
                    // whole pass ends: a quantized or simulated layer makes several activation-sized ones, for
                    // every layer of the network at once (docs/performance.md, Memory).
                    using var scope = NewDisposeScope();
                    result = step.Kernel.Run(step.Node, args, context);
                    // A kernel may hand back one of its inputs; give the slot its own handle so freeing stays safe.
                    foreach (var a in args)
                        if (ReferenceEquals(a, result)) { result = result.alias(); break; }
                    result = result.MoveToOuterDisposeScope();
                }
            }
            catch (System.Runtime.InteropServices.ExternalException e)
            {
                // libtorch's message alone does not say which layer failed.
                string first = e.Message.Split('\n', 2)[0];
                throw new GraphException($"node '{step.Node.Name}' ({step.Node.OpType}): {first}", e);
            }
            slots[step.Output] = result;
            observe?.Invoke(step.Output, result);
            if (observe is null)
                foreach (int slot in step.FreeAfter)
                {
                    slots[slot]?.Dispose();
                    slots[slot] = null;
                }
        }
        return _outputSlots.Select(s => slots[s]!).ToArray();
    }
}
