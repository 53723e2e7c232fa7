using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Mapping;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Model;
using PimQuant.Quant.Quantizers;
using PimQuant.Sim;
using static TorchSharp.torch;
using ExecutionContext = PimQuant.Engine.Execution.ExecutionContext;
using SpecCalibration = PimQuant.Hardware.Spec.AdcCalibration;
using PimQuant.Hardware.Cost;

namespace PimQuant.Accelerator;

/// <summary>
/// One quantized Conv, Gemm or MatMul on crossbars, as its <see cref="CrossbarPlan"/> says. Programming: the weight
/// quantizer's integer view (docs/quantization.md §4, K × Cout lowered codes) is cut into its convolution groups, each
/// programmed as its own layer. Running: input codes from the activation quantizer (two's-complement patterns when
/// signed), im2col vectors (padding carries the zero point), one simulator run per group, then
/// y = (Y − z·Σ_k W[k, n])·s_x·s_w[n] + b, with b the integer model's bias. Weight scales that change along a column
/// (per array or OU block) are the simulator's digital scales instead: Y = Σ_k s_w[k, n]·a·W, and s_w[n] = 1.
/// </summary>
internal sealed class CrossbarLayerKernel : INodeKernel
{
    private readonly CrossbarModel _model;
    /// <summary>The crossbar at this layer's widths.</summary>
    private readonly CrossbarConfig _config;
    private readonly QuantizedLayer _layer;
    private readonly int[][] _groupCodes;
    /// <summary>Per convolution group, the OUs and arrays the mapping gives its crossbars; null where the mapping is the
    /// simulator's own tiling (dense, checked).</summary>
    private readonly OuPlacement?[] _placements;
    /// <summary>The mapping's per-block precision table as the simulator counts its reads (the same for every convolution
    /// group, whose block rows it lists alike); null for a mapping without one.</summary>
    private readonly PrecisionIndex? _index;
    private readonly CrossbarPlan _plan;
    /// <summary>Per output column, the scale applied after the simulator: s_w[n], or 1 where the simulator applies digital scales.</summary>
    private readonly double[] _weightScale;
    /// <summary>Per convolution group, the digital scale of each of its weights (K × Cout/groups), or null when every column has one scale.</summary>
    private readonly double[][]? _digitalScales;
    /// <summary>Σ_k W[k, n] (times the digital scales where they apply): the zero point's share of the result.</summary>
    private readonly double[] _columnSums;
    private readonly bool _first;
    private readonly bool _signed;
    private readonly int _k, _columnsPerGroup, _columns;
    private bool _adcCalibrated;
    /// <summary>The integer weight in the layer's own layout, for the lossless product: float32 when every sum
    /// of the product stays below 2^24 (then exact in any order), else float64.</summary>
    private readonly Tensor _integerWeight;

    public CrossbarLayerKernel(CrossbarModel model, QuantizedLayer layer, ICrossbarPlanner planner, bool first)
    {
        _model = model; _layer = layer; _first = first;
        var graph = model.Model.Graph;
        var node = graph.Nodes.First(n => n.Name == layer.Name);
        if (node.OpType == "Gemm" && (node.GetFloat("alpha", 1) != 1 || node.GetFloat("beta", 1) != 1))
            throw new SimulationException($"layer {layer.Name}: Gemm with alpha or beta other than 1 is not put on crossbars");
        DefaultPlanner.Widths(layer); // whatever the planner, the quantizers must give what crossbars hold
        _signed = ((IntegerFormat)layer.Activation!.Spec.Format).Signed;

        IntegerWeights integers;
        using (var scope = NewDisposeScope()) integers = layer.Weight!.ToIntegers(model.Model.WeightOf(layer));
        if (integers.ZeroPoints.Any(z => z != 0))
            throw new SimulationException($"layer {layer.Name}: the crossbars hold symmetric weights (zero point 0); use a symmetric weight quantizer");
        _k = integers.Rows; _columns = integers.Columns;
        int groups = integers.Lowering.ConvolutionGroups;
        _columnsPerGroup = _columns / groups;
        var shape = Shape(graph, node, _k, _columns, groups);
        _plan = planner.Plan(layer, shape, model.Spec);
        var config = _config = model.ConfigOf(_plan);

        // One scale per column (tensor, channel): applied after the simulator. Scales that change along a column (array,
        // OU block): the simulator's digital scales, per weight.
        bool alongColumns = Enumerable.Range(0, _columns).Any(n => Enumerable.Range(1, _k - 1).Any(k => integers.Scales[integers.GroupOf(k, n)] != integers.Scales[integers.GroupOf(0, n)]));
        _weightScale = new double[_columns];
        _columnSums = new double[_columns];
        for (int n = 0; n < _columns; n++) _weightScale[n] = alongColumns ? 1.0 : integers.Scales[integers.GroupOf(0, n)];
        _groupCodes = new int[groups][];
        _digitalScales = alongColumns ? new double[groups][] : null;
        for (int g = 0; g < groups; g++)
        {
            var codes = _groupCodes[g] = new int[_k * _columnsPerGroup];
            var scales = _digitalScales is null ? null : _digitalScales[g] = new double[_k * _columnsPerGroup];
            for (int k = 0; k < _k; k++)
                for (int j = 0; j < _columnsPerGroup; j++)
                {
                    int n = g * _columnsPerGroup + j, code = integers.CodeAt(k, n);
                    codes[k * _columnsPerGroup + j] = code;
                    double scale = scales is null ? 1.0 : scales[k * _columnsPerGroup + j] = integers.Scales[integers.GroupOf(k, n)];
                    _columnSums[n] += scale * code;
                }
        }
        var mapping = Map(shape, integers);
        var geometry = LayerGeometry.For(config, _k, _columnsPerGroup);
        // The simulator reads the mapping's OUs: a precision-aware mapping places them; a dense one is checked to be the
        // simulator's own tiling (whose arrays per-array ADC steps index).
        _placements = new OuPlacement?[groups];
        for (int g = 0; g < groups; g++)
        {
            var placement = MappedPlacement.Of(mapping, g, geometry, config);
            if (mapping.Strategy == Hardware.Spec.MappingNames.PrecisionAware) _placements[g] = placement;
            else MappedPlacement.RequireTiling(placement, geometry, mapping);
        }
        _index = MappedPlacement.Index(mapping, geometry);
        Crossbar = new CrossbarLayer(layer.Plan.Layer, shape, config, mapping, Enumerable.Range(0, groups).Select(g => ProgramGroup(g, null)).ToArray(),
            integers.Precision?.MeanBits(integers.Lowering) ?? config.WeightBits);

        var format = (IntegerFormat)layer.Activation.Spec.Format;
        long largestInput = format.QMax - format.QMin; // |a − z| with a and the zero point z inside the range
        long largestColumn = 0;
        for (int n = 0; n < _columns; n++)
        {
            long sum = 0;
            for (int k = 0; k < _k; k++) sum += Math.Abs(integers.CodeAt(k, n));
            largestColumn = Math.Max(largestColumn, sum);
        }
        // With digital scales the lossless product takes the scaled weights, in float64 (equal to the simulator's segment sums
        // up to rounding).
        var lowered = tensor(integers.Codes.Select((c, i) => alongColumns ? c * (double)integers.Scales[integers.GroupOfElement[i]] : c).ToArray(), [_k, _columns]);
        var weight = integers.Lowering.FromLowered(lowered).to_type(!alongColumns && largestColumn * largestInput < 1 << 24 ? ScalarType.Float32 : ScalarType.Float64);
        // Channels-last, as libtorch's NHWC convolution kernels take it (see LosslessProduct).
        _integerWeight = (weight.dim() == 4 ? weight.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : weight).detach();
    }

    public CrossbarLayer Crossbar { get; }

    public Tensor Run(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context)
    {
        var x = inputs[0]!;
        var integers = _layer.Activation!.ToIntegers(x);
        double inputScale = integers.Scale.item<float>();
        int zero = integers.ZeroPoint is null ? 0 : integers.ZeroPoint.item<int>();
        int bits = integers.Format.Bits, batch = checked((int)x.shape[0]);
        var window = node.OpType == "Conv" ? Window(node, x.shape, inputs[1]!.shape) : null;
        // What the wordlines are driven with: the codes, or their two's-complement patterns; zero padding is
        // the real value 0, i.e. the zero point's pattern.
        var driven = _signed ? IntegerActivations.TwosComplement(integers.Codes, bits) : integers.Codes;
        var input = new LayerInput(driven, batch, _k, window, (byte)(zero & ((1 << bits) - 1)));
        try
        {
            // Steps the plan gives are kept: calibration sets only the spec's calibrated steps.
            if (_model.Mode == CrossbarMode.CalibrateAdc && !_adcCalibrated && _plan.AdcSteps is null && !_config.IsAdcIdeal) CalibrateAdc(input);
            // Read noise is keyed by the global pixel: the pixels of earlier batches come first.
            long imagesBefore = _first ? _model.Images : _model.Images - batch;
            if (_first) _model.Images += batch;

            var scale = _weightScale.Select(s => s * inputScale).ToArray();
            var bias = Bias(inputs.Count > 2 ? inputs[2] : null);
            return _model.Options.Path is null && _model.Options.DigitPolicy is null && Crossbar.IsLossless
                ? LosslessProduct(node, zero == 0 ? integers.Codes : integers.Codes - zero, input, scale, bias)
                : SimulatedProduct(input, zero, scale, bias, imagesBefore * input.Positions);
        }
        finally { input.Dispose(); }
    }

    /// <summary>The bit-serial simulation, one run per convolution group, dequantized straight into the layer's
    /// output layout: y = (Y − z·Σ_k W[k, n])·s_x·s_w[n] + b, rounded once from float64.</summary>
    private unsafe Tensor SimulatedProduct(LayerInput input, int zero, double[] scale, float[] bias, long firstPixel)
    {
        int pixels = input.Pixels, positions = input.Positions, batch = input.Batch;
        // Pixel-major results fill an NHWC (channels-last) output without a transpose.
        var result = input.Window is { } w ? empty([batch, w.OutHeight, w.OutWidth, _columns], ScalarType.Float32) : empty([batch, _columns], ScalarType.Float32);
        var output = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(result.bytes));
        var y = ArrayPool<double>.Shared.Rent(pixels * _columnsPerGroup);
        var vectors = input.Window is null ? null : ArrayPool<byte>.Shared.Rent(pixels * _k);
        try
        {
            var events = new EventCounts[Crossbar.Groups.Count];
            var options = new RunOptions { Path = _model.Options.Path, DigitPolicy = _model.Options.DigitPolicy, SignedActivations = _signed, FirstPixel = firstPixel };
            var configuration = _model.Options.Configuration;
            for (int g = 0; g < Crossbar.Groups.Count; g++)
            {
                var driven = input.Vectors(g, vectors, configuration);
                try { events[g] = Crossbar.Groups[g].Run(driven, y, pixels, configuration, options); }
                catch (ArgumentException e) { throw new SimulationException($"layer {_layer.Name}: {e.Message}"); }
                int first = g * _columnsPerGroup;
                var offset = Enumerable.Range(first, _columnsPerGroup).Select(column => (double)zero * _columnSums[column]).ToArray();
                var groupScale = scale.AsSpan(first, _columnsPerGroup).ToArray();
                var groupBias = Enumerable.Range(first, _columnsPerGroup).Select(column => (double)bias[column]).ToArray();
                Parallel.For(0, batch, Parallelism, n =>
                {
                    for (long p = (long)n * positions; p < (long)(n + 1) * positions; p++)
                        Dequantization.Row(y.AsSpan((int)(p * _columnsPerGroup), _columnsPerGroup), offset, groupScale, groupBias, output + p * _columns + first);
                });
            }
            Book(events);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(y);
            if (vectors is not null) ArrayPool<byte>.Shared.Return(vectors);
        }
        return input.Window is null ? result : result.permute(0, 3, 1, 2);
    }

    /// <summary>
    /// A lossless layer equals the integer product exactly (docs/hardware.md §0; the simulator's own exact
    /// path proves it, tests/…/Accelerator), so libtorch computes it: the layer's own operator on the integer
    /// values, in the precision that keeps it exact, dequantized
    /// as <see cref="SimulatedProduct"/> does. The events are those of streaming every digit, counted from the
    /// codes' digit statistics without forming the input vectors.
    /// </summary>
    private Tensor LosslessProduct(Node node, Tensor values, LayerInput input, double[] scale, float[] bias)
    {
        // Channels-last: oneDNN runs its NHWC kernels and returns an NHWC result, which the dequantization keeps, so
        // the layers after it (and the next crossbar layer's codes) reorder nothing.
        var product = StandardKernels.ByOpType[node.OpType].Run(node, [values.to_type(_integerWeight.dtype), _integerWeight],
            new ExecutionContext(_model.Model.Graph, false) { ChannelsLast = true });
        var result = Dequantization.Apply(product, scale, bias, Parallelism);
        var configuration = _model.Options.Configuration;
        Book(Crossbar.Groups.Select((layer, g) => layer.EventsOfAllDigits(input.DigitStatistics(g, layer, configuration))).ToArray());
        return result;
    }

    private ParallelOptions Parallelism => new()
    {
        MaxDegreeOfParallelism = _model.Options.Configuration.MaxDegreeOfParallelism > 0 ? _model.Options.Configuration.MaxDegreeOfParallelism : -1,
    };

    /// <summary>Adds one run's events of every group. Groups sit on arrays of their own, read in parallel: the
    /// run's critical path is the longest group's.</summary>
    private void Book(EventCounts[] groups)
    {
        var sum = groups.Aggregate(EventCounts.Zero, (a, b) => a + b);
        Crossbar.Events += sum with { CriticalPathOuReads = groups.Max(e => e.CriticalPathOuReads) };
    }

    /// <summary>The bias the integer model adds: quantized to the accumulator's scale where it applies.</summary>
    private float[] Bias(Tensor? bias)
    {
        if (bias is null) return new float[_columns];
        using var scope = NewDisposeScope();
        var used = _layer.QuantizesBias
            ? BiasQuantization.FakeQuantize(bias, _layer.Activation!.Scale(), _layer.Weight!.Scale())
            : bias;
        return used.to_type(ScalarType.Float32).data<float>().ToArray();
    }

    /// <summary>Sets the ADC steps from the peak partial sums of pixels spread over this batch, then reprograms.</summary>
    private void CalibrateAdc(LayerInput input)
    {
        var config = _config;
        int pixels = input.Pixels;
        int stride = Math.Max(1, pixels / _model.Options.AdcCalibrationPixels), samples = (pixels + stride - 1) / stride;
        var vectors = input.Window is null ? null : new byte[(long)pixels * _k];
        var sample = new byte[(long)samples * _k];
        var groups = new ProgrammedLayer[Crossbar.Groups.Count];
        var calibration = _model.Options.AdcCalibration ?? PeakAdcCalibration.Instance;
        bool perArray = _model.Spec.Adc.Calibration == SpecCalibration.Array;
        for (int g = 0; g < groups.Length; g++)
        {
            var all = input.Vectors(g, vectors, _model.Options.Configuration).Span;
            for (int i = 0; i < samples; i++) all.Slice(i * stride * _k, _k).CopyTo(sample.AsSpan(i * _k, _k));
            var layer = Crossbar.Groups[g];
            // A reference column's partial sums span a range of their own: its ADC steps are calibrated apart.
            groups[g] = ProgramGroup(g, calibration.Steps(layer, sample, samples, _signed, perArray, _model.Options.Configuration),
                config.ReferenceColumn && config.HasLeakage ? PeakAdcCalibration.FromPeaks(layer.PeakReferencePartialSums(sample, samples), config.AdcCodeMax, perArray) : null);
        }
        Crossbar.Groups = groups;
        _adcCalibrated = true;
    }

    /// <summary>The layer's mapping by the spec's strategy, from its integer weights (data-aware strategies read them).</summary>
    private LayerMapping Map(LayerShape shape, IntegerWeights integers)
    {
        var values = new int[_columns * _k]; // the layer's own layout: each output channel's K weights in a row
        for (int n = 0; n < _columns; n++)
            for (int k = 0; k < _k; k++) values[n * _k + k] = integers.CodeAt(k, n);
        var spec = _model.Spec;
        try
        {
            return MappingStrategies.For(spec).Map(new MappingRequest(shape, spec, _config.WeightBits, _plan.Array,
                Weights: new LoweredWeights(shape.Lowering, values), Precision: BlockBits(integers, shape), WholeOuRowTiles: _plan.WholeOuRowTiles));
        }
        catch (Exception e) when (e is ArgumentException or Hardware.Spec.HardwareSpecException) { throw new SimulationException($"layer {_layer.Name}: {e.Message}"); }
    }

    /// <summary>The bits each OU block stores when the weights were quantized with a precision per OU block of the spec's
    /// OU size (BWQ): a signed b-bit block holds b − 1 magnitude bits on G+/G− columns, a pruned block none, so the
    /// precision-aware mapping allocates what the quantizer chose. Null otherwise: the mapping derives each block's
    /// precision from the weights.</summary>
    private BlockPrecision? BlockBits(IntegerWeights integers, LayerShape shape)
    {
        var geometry = _model.Spec.Array(_plan.Array);
        if (integers.Precision is not { Granularity: ScaleGranularity.PerOuBlock ou } precision || (ou.Rows, ou.Columns) != (geometry.OuRows, geometry.OuCols))
            return null;
        return new BlockPrecision(shape.Lowering, ou.Rows, ou.Columns, precision.Bits.Select(b => Math.Max(0, b - 1)).ToArray());
    }

    private ProgrammedLayer ProgramGroup(int group, IReadOnlyList<double>? adcSteps, IReadOnlyList<double>? referenceSteps = null)
    {
        var options = new ProgramOptions
        {
            Name = _groupCodes.Length == 1 ? _layer.Name : $"{_layer.Name}#g{group}",
            Seed = unchecked((ulong)_model.Spec.NonIdealities.Seed),
            Placement = _placements[group],
            PrecisionIndex = _index,
            AdcSteps = adcSteps ?? _plan.AdcSteps,
            ReferenceAdcSteps = referenceSteps,
            DigitalScales = _digitalScales?[group],
        };
        try { return ProgrammedLayer.Program(_config, _groupCodes[group], _k, _columnsPerGroup, options, _model.Options.Configuration); }
        catch (ArgumentException e)
        {
            // A code outside the encoding's range is most often a full-range weight on differential cells.
            string hint = _config.WeightEncoding == Hardware.Spec.WeightEncoding.Differential && e.Message.Contains("lies outside", StringComparison.Ordinal)
                ? " (differential encoding holds the narrow range: set narrow_range: true)" : "";
            throw new SimulationException($"layer {_layer.Name}: {e.Message}{hint}");
        }
        catch (NotSupportedException e) { throw new SimulationException($"layer {_layer.Name}: {e.Message}"); }
    }

    private static LayerShape Shape(ModelGraph graph, Node node, int k, int columns, int groups)
    {
        if (node.OpType != "Conv") return LayerShape.Linear(node.Name, k, columns);
        var weight = graph.Initializers[node.Inputs[1]].Value.shape;
        var output = graph.ValueShapes.TryGetValue(node.Output, out var s) && s.Length == 4 ? s
            : throw new SimulationException($"layer {node.Name}: its output shape is unknown (run shape inference first)");
        return LayerShape.Conv(node.Name, (int)weight[1] * groups, columns, (int)weight[2], (int)weight[3], (int)output[2], (int)output[3], groups);
    }

    private static ConvWindow Window(Node node, IReadOnlyList<long> inputShape, IReadOnlyList<long> weightShape) => new()
    {
        Convolution = ConvLowering.Of(node, inputShape, weightShape),
        Channels = (int)inputShape[1], Height = (int)inputShape[2], Width = (int)inputShape[3],
    };
}
