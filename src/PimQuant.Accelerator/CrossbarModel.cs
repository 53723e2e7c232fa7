using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Model;
using PimQuant.Sim;
using static TorchSharp.torch;
using PimQuant.Hardware.Cost;

namespace PimQuant.Accelerator;

/// <summary>What the crossbar layers do when the executor reaches them.</summary>
public enum CrossbarMode
{
    /// <summary>Simulate on the programmed crossbars.</summary>
    Simulate,
    /// <summary>Simulate, but first set each layer's calibrated ADC step from the partial sums of the inputs it
    /// receives (from the layers before it, already calibrated and simulated).</summary>
    CalibrateAdc,
}

/// <summary>
/// A calibrated <see cref="QuantizedModel"/> programmed onto a hardware spec's crossbars: every quantized
/// Conv and Gemm/MatMul becomes a kernel override that turns its input into integer codes (the model's
/// activation quantizer), lowers them to im2col vectors, streams them through the simulator and scales the
/// integer result back (weight scale × activation scale, plus the bias the integer model adds). Other
/// nodes run as in the quantized model, so with a lossless configuration the outputs equal the ideal
/// integer model's up to float rounding.
/// </summary>
public sealed class CrossbarModel
{
    private readonly Dictionary<string, CrossbarLayerKernel> _kernels = new(StringComparer.Ordinal);
    private readonly Dictionary<CrossbarPlan, CrossbarConfig> _configs = [];

    private CrossbarModel(QuantizedModel model, HardwareSpec spec, SimulationOptions options)
    {
        Model = model; Spec = spec; Options = options;
    }

    /// <summary>The quantized model whose quantizers give the integer codes.</summary>
    public QuantizedModel Model { get; }

    /// <summary>The hardware.</summary>
    public HardwareSpec Spec { get; }

    /// <summary>The crossbar of the first crossbar layer: every layer's when all are planned alike; each layer's own is
    /// <see cref="CrossbarLayer.Config"/>.</summary>
    public CrossbarConfig Config => Layers[0].Config;

    /// <summary>How it runs.</summary>
    public SimulationOptions Options { get; }

    /// <summary>The crossbar layers, in graph order.</summary>
    public IReadOnlyList<CrossbarLayer> Layers { get; private set; } = [];

    /// <summary>What the layers do when run.</summary>
    public CrossbarMode Mode { get; set; } = CrossbarMode.Simulate;

    /// <summary>Images run since the last <see cref="ResetEvents"/> (counted at the first crossbar layer), plus those a
    /// <see cref="Restore"/> continues from; read noise keys each pixel by its index counted from here.</summary>
    public long Images { get; internal set; }

    /// <summary>
    /// Programs every layer of <paramref name="model"/> (calibrated, static per-tensor integer activations,
    /// symmetric integer weights with scales per tensor, output channel, array or OU block) onto <paramref name="spec"/>'s
    /// crossbars, each layer as <paramref name="planner"/> plans it (default: <see cref="DefaultPlanner"/>, each layer at its
    /// own weight and activation bits).
    /// </summary>
    /// <exception cref="SimulationException">A layer the crossbars cannot hold, with the layer and the reason.</exception>
    public static CrossbarModel Program(QuantizedModel model, HardwareSpec spec, SimulationOptions? options = null, ICrossbarPlanner? planner = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(spec);
        options ??= new SimulationOptions();
        planner ??= DefaultPlanner.Instance;
        if (options.AdcCalibrationPixels < 1) throw new ArgumentOutOfRangeException(nameof(options), "AdcCalibrationPixels must be at least 1");
        if (model.Layers.Count == 0) throw new SimulationException("the model has no quantized Conv or Gemm layer to put on crossbars");
        if (model.Graph.ValueShapes.Count == 0) ShapeInference.Run(model.Graph);

        var result = new CrossbarModel(model, spec, options);
        var layers = new List<CrossbarLayer>();
        foreach (var layer in model.Layers)
        {
            var kernel = new CrossbarLayerKernel(result, layer, planner, first: layers.Count == 0);
            result._kernels[layer.Name] = kernel;
            layers.Add(kernel.Crossbar);
        }
        result.Layers = layers;
        return result;
    }

    /// <summary>The crossbar of a plan: layers planned alike share one configuration.</summary>
    internal CrossbarConfig ConfigOf(CrossbarPlan plan)
    {
        var key = plan with { AdcSteps = null };
        if (_configs.TryGetValue(key, out var config)) return config;
        try { return _configs[key] = CrossbarConfig.Create(CrossbarTranslation.Settings(Spec, plan)); }
        catch (Exception e) when (e is ArgumentException or HardwareSpecException) { throw new SimulationException($"{Spec.Name}: {e.Message}"); }
    }

    /// <summary>The kernel override that puts the layers on crossbars.</summary>
    public INodeKernel? Overrides(Node node) =>
        _kernels.TryGetValue(node.Name, out var kernel) ? kernel : Model.Overrides(node);

    /// <summary>An executor of the graph with the crossbar layers.</summary>
    public GraphExecutor CreateExecutor() => new(Model.Graph, Overrides);

    /// <summary>Calibrates the ADC steps on <paramref name="images"/> (normalised, NCHW) when the spec asks for
    /// calibrated steps; each layer sees the outputs of the simulated layers before it.</summary>
    public void CalibrateAdc(Tensor images)
    {
        if (Spec.Adc.Step != AdcStepMode.Calibrated || Layers.All(l => l.Config.IsAdcIdeal)) return;
        var previous = Mode;
        Mode = CrossbarMode.CalibrateAdc;
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            CreateExecutor().Forward(images);
        }
        finally { Mode = previous; }
        ResetEvents();
    }

    /// <summary>Clears every layer's events and the image count.</summary>
    public void ResetEvents()
    {
        foreach (var layer in Layers) layer.Events = EventCounts.Zero;
        Images = 0;
    }

    /// <summary>
    /// Restores the state of a run interrupted after <paramref name="images"/> images: the image count and every
    /// crossbar layer's events over those images. The next image then draws its read noise with the keys it has
    /// in an uninterrupted run (its global pixel index counts from <see cref="Images"/>), the events add to
    /// those restored, and <see cref="CrossbarCost.Evaluate"/> averages over all the images, so the run
    /// continues as if it had not been interrupted. Call it on a freshly programmed (and ADC-calibrated) model.
    /// </summary>
    /// <param name="images">Images run before the interruption.</param>
    /// <param name="events">Each crossbar layer's events over those images, in the order of <see cref="Layers"/>.</param>
    /// <exception cref="ArgumentException">Not one count per layer, or a negative image count.</exception>
    public void Restore(long images, IReadOnlyList<EventCounts> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentOutOfRangeException.ThrowIfNegative(images);
        if (events.Count != Layers.Count)
            throw new ArgumentException($"{events.Count} event counts for {Layers.Count} crossbar layers", nameof(events));
        for (int i = 0; i < Layers.Count; i++) Layers[i].Events = events[i];
        Images = images;
    }
}

/// <summary>A layer or configuration the crossbar simulation cannot run, with the reason.</summary>
public sealed class SimulationException(string message) : Exception(message);
