using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Quant.Config;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Quantizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PimQuant.Quant.Model;

/// <summary>What quantized layers do when they run.</summary>
public enum QuantizationMode
{
    /// <summary>Plain float32, as if unquantized.</summary>
    FullPrecision,
    /// <summary>Float32, while activation observers record the layers' inputs.</summary>
    Calibration,
    /// <summary>Fake-quantized weights and activations (as each layer's switches allow).</summary>
    Quantized,
}

/// <summary>QDrop's random quantization dropping: each activation element stays in float32 with <paramref name="Probability"/>.</summary>
public sealed record ActivationDropping(double Probability, Generator Generator);

/// <summary>One quantized layer: its plan, quantizers and run-time switches.</summary>
public sealed class QuantizedLayer
{
    internal QuantizedLayer(LayerPlan plan, WeightQuantizer? weight, ActivationQuantizer? activation)
    {
        Plan = plan;
        Weight = weight;
        Activation = activation;
    }

    /// <summary>The layer's resolved plan.</summary>
    public LayerPlan Plan { get; }

    /// <summary>The layer (node) name.</summary>
    public string Name => Plan.Layer.Name;

    /// <summary>The weight quantizer, or null when the weight stays float32.</summary>
    public WeightQuantizer? Weight { get; }

    /// <summary>The input-activation quantizer, or null when the input stays float32.</summary>
    public ActivationQuantizer? Activation { get; }

    /// <summary>Whether the bias is quantized to int32 at the accumulator's scale (<see cref="BiasQuantization.Applies"/>) when weight and input are.</summary>
    public bool QuantizesBias => BiasQuantization.Applies(Plan.Weight, Plan.Activation);

    /// <summary>
    /// The int32 bias levels and their scale s_x·s_w (per output channel or one) of the current
    /// parameters, as the crossbar's digital accumulator adds them; null when the bias is not quantized.
    /// </summary>
    public (int[] Levels, float[] Scales)? IntegerBias(Tensor bias)
    {
        if (!QuantizesBias) return null;
        using var scope = TorchSharp.torch.NewDisposeScope();
        var (levels, scale) = BiasQuantization.Levels(bias, Activation!.Scale(), Weight!.Scale());
        return (levels.data<int>().ToArray(), scale.reshape(-1).data<float>().ToArray());
    }

    /// <summary>Whether the weight is quantized in <see cref="QuantizationMode.Quantized"/> mode (reconstruction switches layers one at a time).</summary>
    public bool QuantizeWeight { get; set; } = true;

    /// <summary>Whether the input is quantized (or, in calibration, observed).</summary>
    public bool QuantizeActivation { get; set; } = true;

    /// <summary>QDrop at a block's input: the full-precision model's value of this layer's input, which dropped elements take.</summary>
    public Tensor? DropValue { get; set; }
}

/// <summary>
/// A graph with quantized layers: builds a <see cref="WeightQuantizer"/> and an
/// <see cref="ActivationQuantizer"/> per planned layer and plugs them into the executor through
/// <see cref="Overrides"/>: the weight (Conv, Gemm, MatMul input 1) and the input activation
/// (input 0, the vector the crossbar rows see) are fake-quantized before the standard kernel runs.
/// The graph keeps its float32 weights (only bias correction adjusts its biases); export writes quantized files.
/// </summary>
public sealed class QuantizedModel : IDisposable
{
    private readonly Dictionary<string, QuantizedLayer> _byName = new(StringComparer.Ordinal);

    /// <summary>Builds the quantizers of <paramref name="plan"/> for <paramref name="graph"/> (not calibrated yet).</summary>
    /// <param name="graph">The graph, usually with batch norms folded into the convolutions first.</param>
    /// <param name="plan">The resolved per-layer plan.</param>
    /// <param name="seed">Seed of every random choice (stochastic rounding, dropping).</param>
    /// <param name="activationSampleLimit">Values kept by sampling activation observers, per layer.</param>
    public QuantizedModel(ModelGraph graph, QuantizationPlan plan, long seed = 0, long activationSampleLimit = 1 << 21)
    {
        Graph = graph;
        Plan = plan;
        Seed = seed;
        var layers = new List<QuantizedLayer>();
        for (int index = 0; index < plan.Layers.Count; index++)
        {
            var layerPlan = plan.Layers[index];
            if (layerPlan.Skipped) continue;
            var layer = layerPlan.Layer;
            var lowering = layer.Lowering(graph);
            long layerSeed = unchecked(seed * 1_000_003 + index * 2);
            var quantized = new QuantizedLayer(layerPlan,
                layerPlan.Weight is null ? null : new WeightQuantizer(layerPlan.Weight, lowering, layerSeed),
                layerPlan.Activation is null ? null : new ActivationQuantizer(layerPlan.Activation, layerSeed + 1, activationSampleLimit));
            layers.Add(quantized);
            _byName[layer.Name] = quantized;
        }
        Layers = layers;
    }

    /// <summary>The graph whose layers are quantized.</summary>
    public ModelGraph Graph { get; }

    /// <summary>The plan the quantizers were built from.</summary>
    public QuantizationPlan Plan { get; }

    /// <summary>The seed of every random choice.</summary>
    public long Seed { get; }

    /// <summary>The quantized (non-skipped) layers in graph order.</summary>
    public IReadOnlyList<QuantizedLayer> Layers { get; }

    /// <summary>The quantized layer called <paramref name="name"/>, or null.</summary>
    public QuantizedLayer? Layer(string name) => _byName.GetValueOrDefault(name);

    /// <summary>What the quantized layers do when run.</summary>
    public QuantizationMode Mode { get; set; } = QuantizationMode.Quantized;

    /// <summary>QDrop, or null: applied to activations in <see cref="QuantizationMode.Quantized"/> mode.</summary>
    public ActivationDropping? Dropping { get; set; }

    /// <summary>The kernel override for a node: the quantized layer's kernel, or null for the standard one.</summary>
    public INodeKernel? Overrides(Node node) =>
        _byName.TryGetValue(node.Name, out var layer) ? new QuantizedLayerKernel(this, layer) : null;

    /// <summary>An executor of <see cref="Graph"/> running the quantized layers.</summary>
    public GraphExecutor CreateExecutor() => new(Graph, Overrides);

    /// <summary>The current weight tensor of a layer.</summary>
    public Tensor WeightOf(QuantizedLayer layer) => Graph.Initializers[layer.Plan.Layer.WeightName].Value;

    /// <summary>Calibrates every weight quantizer from the graph's current weights.</summary>
    public void CalibrateWeights()
    {
        foreach (var layer in Layers) layer.Weight?.Calibrate(WeightOf(layer));
    }

    /// <summary>Sets the activation parameters of every layer whose observer saw data in <see cref="QuantizationMode.Calibration"/> mode.</summary>
    /// <exception cref="InvalidOperationException">A static activation quantizer observed nothing (its layer never ran).</exception>
    public void FinishActivationCalibration()
    {
        foreach (var layer in Layers)
            if (layer.Activation is { IsDynamic: false } a)
            {
                if (!a.HasObservations && a.IsCalibrated) continue;
                if (!a.HasObservations) throw new InvalidOperationException($"layer {layer.Name}: its input was never observed (did the calibration data reach it?)");
                a.FinishCalibration();
            }
    }

    /// <summary>
    /// Every trained quantization parameter (LSQ steps, PACT clips, rounding logits) the layers currently have, in
    /// layer order, named <c>quant/LAYER/weight/step|rounding</c> and <c>quant/LAYER/input/step|clip</c>: the names a
    /// training checkpoint stores them under, beside the graph's tensors.
    /// </summary>
    public IEnumerable<(string Name, Parameter Value)> QuantizerParameters() =>
        Layers.SelectMany(l => (l.Weight?.Parameters() ?? []).Select(p => ($"quant/{l.Name}/weight/{p.Name}", p.Value))
            .Concat((l.Activation?.Parameters() ?? []).Select(p => ($"quant/{l.Name}/input/{p.Name}", p.Value))));

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var layer in Layers)
        {
            layer.Weight?.Dispose();
            layer.Activation?.Dispose();
        }
    }
}
