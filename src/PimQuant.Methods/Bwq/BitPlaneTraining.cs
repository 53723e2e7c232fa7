using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Training;
using static TorchSharp.torch;
using ExecutionContext = PimQuant.Engine.Execution.ExecutionContext;

namespace PimQuant.Methods.Bwq;

/// <summary>
/// Runs a Conv, Gemm or MatMul with its weight (input 1) taken from the layer's bit planes instead of the graph, then as
/// <paramref name="inner"/> runs it (e.g. a quantized model's kernel that quantizes the input activation).
/// </summary>
internal sealed class BitPlaneKernel(BitPlaneLayer layer, INodeKernel inner) : INodeKernel
{
    public Tensor Run(Node node, IReadOnlyList<Tensor?> inputs, ExecutionContext context)
    {
        var args = inputs.ToArray();
        args[1] = layer.Weight();
        return inner.Run(node, args, context);
    }
}

/// <summary>
/// BWQ-A's additions to the trainer (<see cref="ITrainingHook"/>): the weighted block group lasso as a loss term,
/// α · Σ_r (#params_r · #bits_r / #params_all) · B(W_r) with #bits_r the layer's mean block precision; planes clamped to
/// [0, 2] after every step; re-quantization every <paramref name="requantizeEvery"/> steps and after every epoch (so the
/// epoch's test accuracy is the exact-bit model's). The masks are the hook's checkpointed state.
/// </summary>
/// <param name="layers">The bit-plane layers.</param>
/// <param name="alpha">α, the lasso's strength (0: none).</param>
/// <param name="requantizeEvery">Optimizer steps between re-quantizations (0: only after each epoch).</param>
public sealed class BitPlaneHook(IReadOnlyList<BitPlaneLayer> layers, double alpha, int requantizeEvery) : ITrainingHook
{
    private readonly long _parameters = layers.Sum(l => l.Weights);

    /// <inheritdoc/>
    public Tensor? LossTerm(TrainingStep step)
    {
        if (alpha == 0) return null;
        Tensor? sum = null;
        foreach (var layer in layers)
        {
            double share = (double)layer.Weights * layer.MeanBits() / _parameters;
            if (share == 0) continue;
            var term = layer.GroupLasso() * share;
            sum = sum is null ? term : sum + term;
        }
        return sum is null ? null : sum * alpha;
    }

    /// <inheritdoc/>
    public void AfterStep(TrainingStep step)
    {
        foreach (var layer in layers) layer.ClampPlanes();
        if (requantizeEvery > 0 && (step.GlobalStep + 1) % requantizeEvery == 0)
            foreach (var layer in layers) layer.Requantize();
    }

    /// <inheritdoc/>
    public void AfterEpoch(int epoch)
    {
        foreach (var layer in layers) layer.Requantize();
    }

    /// <inheritdoc/>
    public IReadOnlyList<(string Name, Tensor Value)> State => [.. layers.Select(l => ($"bwq.masks.{l.Name}", l.Masks))];
}
