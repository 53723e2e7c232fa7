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

namespace PimQuant.Accelerator;

/// <summary>
/// One quantized Conv, Gemm or MatMul on crossbars. Programming: the weight quantizer's integer view
/// (docs/quantization.md §4, K × Cout lowered codes) is cut into its convolution groups, each programmed
/// as its own layer. Running: input codes from the activation quantizer (two's-complement patterns when
/// signed), im2col vectors (padding carries the zero point), one simulator run per group, then
/// y = (Y − z·Σ_k W[k, n])·s_x·s_w[n] + b, with b the integer model's bias.
/// </summary>
internal sealed class CrossbarLayerKernel : INodeKernel
{
    private readonly CrossbarModel _model;
    private readonly QuantizedLayer _layer;
    private readonly int[][] _groupCodes;
    private readonly double[] _weightScale;
    private readonly long[] _columnSums;
    private readonly bool _first;
    private readonly bool _signed;
    private readonly int _k, _columnsPerGroup, _columns;
    private bool _adcCalibrated;
    /// <summary>The integer weight in the layer's own layout, for the lossless product.</summary>
    private readonly Tensor? _integerWeight;
    /// <summary>Every sum of the lossless product stays below 2^24, so float32 computes it exactly.</summary>
    private readonly bool _exactInFloat32;

    public CrossbarLayerKernel(CrossbarModel model, QuantizedLayer layer, bool first)
    {
        _model = model; _layer = layer; _first = first;
        var graph = model.Model.Graph;
        var node = graph.Nodes.First(n => n.Name == layer.Name);
        if (node.OpType == "Gemm" && (node.GetFloat("alpha", 1) != 1 || node.GetFloat("beta", 1) != 1))
            throw new SimulationException($"layer {layer.Name}: Gemm with alpha or beta other than 1 is not put on crossbars");
        _signed = ((IntegerFormat)layer.Activation!.Spec.Format).Signed;

        IntegerWeights integers;
        using (var scope = NewDisposeScope()) integers = layer.Weight!.ToIntegers(model.Model.WeightOf(layer));
        if (integers.ZeroPoints.Any(z => z != 0))
            throw new SimulationException($"layer {layer.Name}: the crossbars hold symmetric weights (zero point 0); use a symmetric weight quantizer");
        _k = integers.Rows; _columns = integers.Columns;
        int groups = integers.Lowering.ConvolutionGroups;
        _columnsPerGroup = _columns / groups;
        _weightScale = new double[_columns];
        _columnSums = new long[_columns];
        for (int n = 0; n < _columns; n++) _weightScale[n] = integers.Scales[integers.GroupOf(0, n)];
        _groupCodes = new int[groups][];
        for (int g = 0; g < groups; g++)
        {
            var codes = _groupCodes[g] = new int[_k * _columnsPerGroup];
            for (int k = 0; k < _k; k++)
                for (int j = 0; j < _columnsPerGroup; j++)
                {
                    int code = integers.CodeAt(k, g * _columnsPerGroup + j);
                    codes[k * _columnsPerGroup + j] = code;
                    _columnSums[g * _columnsPerGroup + j] += code;
                }
        }
        Crossbar = new CrossbarLayer(layer.Plan.Layer, Shape(graph, node, _k, _columns, groups),
            Enumerable.Range(0, groups).Select(g => ProgramGroup(g, null)).ToArray());

        var format = (IntegerFormat)layer.Activation.Spec.Format;
        long largestInput = format.QMax - format.QMin; // |a − z| with a and the zero point z inside the range
        long largestColumn = 0;
        for (int n = 0; n < _columns; n++)
        {
            long sum = 0;
            for (int k = 0; k < _k; k++) sum += Math.Abs(integers.CodeAt(k, n));
            largestColumn = Math.Max(largestColumn, sum);
        }
        _exactInFloat32 = largestColumn * largestInput < 1 << 24;
        var lowered = tensor(integers.Codes.Select(c => (double)c).ToArray(), [_k, _columns]);
        _integerWeight = integers.Lowering.FromLowered(lowered).detach();
    }

    public CrossbarLayer Crossbar { get; }

    public Tensor Run(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context)
    {
        var x = inputs[0]!;
        var integers = _layer.Activation!.ToIntegers(x);
        double inputScale = integers.Scale.item<float>();
        int zero = integers.ZeroPoint is null ? 0 : integers.ZeroPoint.item<int>();
        var codes = _signed ? IntegerActivations.TwosComplement(integers.Codes, integers.Format.Bits) : integers.Codes;
        long batch = x.shape[0], positions = 1, outHeight = 1, outWidth = 1;
        Tensor vectors; // (N, groups, L, K) bytes: what the wordlines are driven with
        if (node.OpType == "Conv")
        {
            var lowering = ConvLowering.Of(node, x.shape, inputs[1]!.shape);
            (outHeight, outWidth) = lowering.OutputSize(x.shape[2], x.shape[3]);
            positions = outHeight * outWidth;
            // Zero padding is the real value 0, i.e. the code of the zero point.
            var columns = lowering.Unfold((codes - zero).to_type(ScalarType.Float32)) + zero;
            vectors = columns.permute(0, 1, 3, 2).to_type(ScalarType.Byte).contiguous();
        }
        else vectors = codes.reshape(batch, 1, 1, _k).to_type(ScalarType.Byte).contiguous();

        if (_model.Mode == CrossbarMode.CalibrateAdc && !_adcCalibrated) CalibrateAdc(vectors);
        // Read noise is keyed by the global pixel: the pixels of earlier batches come first.
        long imagesBefore = _first ? _model.Images : _model.Images - batch;
        if (_first) _model.Images += batch;

        // (N, L, Cout) integer results Σ_k W[k, n]·(a_k − z), exact in float64.
        var product = _model.Options.Path is null && _model.Options.DigitPolicy is null && Crossbar.IsLossless
            ? LosslessProduct(node, integers.Codes - zero, vectors, batch, positions)
            : SimulatedProduct(vectors, zero, batch, positions, imagesBefore * positions);
        var scale = tensor(_weightScale.Select(s => s * inputScale).ToArray(), ScalarType.Float64);
        var result = (product * scale + tensor(Bias(inputs.Count > 2 ? inputs[2] : null), ScalarType.Float64)).to_type(ScalarType.Float32);
        return node.OpType == "Conv"
            ? result.permute(0, 2, 1).reshape(batch, _columns, outHeight, outWidth).contiguous()
            : result.reshape(batch, _columns);
    }

    /// <summary>The bit-serial simulation, one run per convolution group.</summary>
    private Tensor SimulatedProduct(Tensor vectors, int zero, long batch, long positions, long firstPixel)
    {
        int pixels = checked((int)(batch * positions));
        var output = new double[(long)pixels * _columns];
        var y = new double[(long)pixels * _columnsPerGroup];
        var events = new LayerEvents[Crossbar.Groups.Count];
        var options = new RunOptions { Path = _model.Options.Path, DigitPolicy = _model.Options.DigitPolicy, SignedActivations = _signed, FirstPixel = firstPixel };
        for (int g = 0; g < Crossbar.Groups.Count; g++)
        {
            var bytes = vectors.select(1, g).contiguous().data<byte>().ToArray();
            try { events[g] = Crossbar.Groups[g].Run(bytes, y, pixels, _model.Options.Configuration, options); }
            catch (ArgumentException e) { throw new SimulationException($"layer {_layer.Name}: {e.Message}"); }
            for (int p = 0; p < pixels; p++)
                for (int j = 0; j < _columnsPerGroup; j++)
                {
                    int n = g * _columnsPerGroup + j;
                    output[(long)p * _columns + n] = y[(long)p * _columnsPerGroup + j] - (double)zero * _columnSums[n];
                }
        }
        Book(events);
        return tensor(output, [batch, positions, _columns]);
    }

    /// <summary>
    /// A lossless layer equals the integer product exactly (crossbar-model.md §5; the simulator's own exact
    /// path proves it, tests/…/Accelerator), so libtorch computes it: the layer's own operator on the integer
    /// values, in float32 when every sum stays below 2^24 (then exact in any order), else float64. The events
    /// are those of streaming every digit, counted from the driven vectors as the simulator would.
    /// </summary>
    private Tensor LosslessProduct(Node node, Tensor values, Tensor vectors, long batch, long positions)
    {
        var type = _exactInFloat32 ? ScalarType.Float32 : ScalarType.Float64;
        var args = new[] { values.to_type(type), _integerWeight!.to_type(type) };
        var product = StandardKernels.ByOpType[node.OpType].Run(node, args, new ExecutionContext(_model.Model.Graph, false)).to_type(ScalarType.Float64);
        product = node.OpType == "Conv" ? product.reshape(batch, _columns, positions).permute(0, 2, 1) : product.reshape(batch, 1, _columns);

        int pixels = checked((int)(batch * positions));
        Book(Crossbar.Groups.Select((layer, g) =>
            layer.CountEventsOfAllDigits(vectors.select(1, g).contiguous().data<byte>().ToArray(), pixels, _model.Options.Configuration)).ToArray());
        return product;
    }

    /// <summary>Adds one run's events of every group. Groups sit on arrays of their own, read in parallel: the
    /// run's critical path is the longest group's.</summary>
    private void Book(LayerEvents[] groups)
    {
        var sum = groups.Aggregate(default(LayerEvents), (a, b) => a + b);
        Crossbar.Events += sum with { CriticalPathReads = groups.Max(e => e.CriticalPathReads) };
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
    private void CalibrateAdc(Tensor vectors)
    {
        var config = _model.Config;
        long pixels = vectors.shape[0] * vectors.shape[2];
        int budget = _model.Options.AdcCalibrationPixels;
        long stride = Math.Max(1, pixels / budget);
        var index = arange(0, pixels, stride, dtype: ScalarType.Int64);
        var groups = new ProgrammedLayer[Crossbar.Groups.Count];
        for (int g = 0; g < groups.Length; g++)
        {
            var sample = vectors.select(1, g).reshape(pixels, _k).index_select(0, index).contiguous().data<byte>().ToArray();
            var peaks = Crossbar.Groups[g].PeakPartialSums(sample, (int)index.shape[0], _model.Options.Configuration);
            double codes = config.AdcCodeMax;
            double[] steps = _model.Spec.Adc.Calibration == SpecCalibration.Array
                ? peaks.Select(p => p > 0 ? p / codes : 1.0).ToArray()
                : [peaks.Max() is var m && m > 0 ? m / codes : 1.0];
            groups[g] = ProgramGroup(g, steps);
        }
        Crossbar.Groups = groups;
        _adcCalibrated = true;
    }

    private ProgrammedLayer ProgramGroup(int group, IReadOnlyList<double>? adcSteps)
    {
        var options = new ProgramOptions
        {
            Name = _groupCodes.Length == 1 ? _layer.Name : $"{_layer.Name}#g{group}",
            Seed = unchecked((ulong)_model.Spec.NonIdealities.Seed),
            AdcSteps = adcSteps,
        };
        try { return ProgrammedLayer.Program(_model.Config, _groupCodes[group], _k, _columnsPerGroup, options, _model.Options.Configuration); }
        catch (ArgumentException e)
        {
            string hint = _model.Config.WeightEncoding == Sim.WeightEncoding.Differential ? " (differential encoding holds the narrow range: set narrow_range: true)" : "";
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
}
