using PimQuant.Quant.Model;
using PimQuant.Quant.Quantizers;
using TorchSharp.Modules;

namespace PimQuant.Quant.Qat;

/// <summary>Which quantization parameters quantization-aware training learns, beyond each quantizer's own <see cref="QuantizerSpec.Learning"/>.</summary>
/// <param name="Lsq">Learn every static step (weights and activations) with LSQ.</param>
/// <param name="Pact">Learn a PACT clip for every activation that can take one (unsigned, per tensor, symmetric); others fall back to LSQ when <paramref name="Lsq"/> is set.</param>
public sealed record QatLearning(bool Lsq, bool Pact);

/// <summary>
/// Sets up a calibrated <see cref="QuantizedModel"/> for quantization-aware training: turns on LSQ
/// steps and PACT clips (initialised from the calibration) as the specs and <see cref="QatLearning"/>
/// ask. Train the graph's parameters together with <see cref="Prepare"/>'s result, running the
/// model's executor in training mode: weights without a learned step then follow the live weights;
/// call <see cref="Finish"/> afterwards.
/// </summary>
public static class QuantizationAwareTraining
{
    /// <summary>
    /// Enables the learned parameters; returns them, named as <see cref="QuantizedModel.QuantizerParameters"/> names
    /// them (for checkpoints), with remarks on quantizers a flag could not apply to.
    /// </summary>
    public static (IReadOnlyList<(string Name, Parameter Value)> Parameters, IReadOnlyList<string> Notes) Prepare(QuantizedModel model, QatLearning learning)
    {
        var notes = new List<string>();
        foreach (var layer in model.Layers)
        {
            if (layer.Weight is { } w && (learning.Lsq || w.Spec.Learning == LearningMode.Lsq))
                w.EnableLearnedScale();
            if (layer.Activation is not { } a) continue;
            bool pactAsked = learning.Pact || a.Spec.Learning == LearningMode.Pact;
            var pactProblem = (a.Spec with { Learning = LearningMode.Pact }).Problems(QuantizerRole.Activation).Select(p => p.Problem).FirstOrDefault();
            if (pactAsked && pactProblem is null) a.EnablePact();
            else
            {
                if (pactAsked) notes.Add($"layer {layer.Name}: no PACT ({pactProblem})");
                if ((learning.Lsq || a.Spec.Learning == LearningMode.Lsq) && !a.IsDynamic) a.EnableLearnedScale();
            }
        }
        return (model.QuantizerParameters().ToList(), notes);
    }

    /// <summary>
    /// Ends training: every weight quantizer that follows the live weight (no learned step, no learned
    /// rounding) observes the final weight. Training re-observes before each step, so without this the
    /// scales would be those of the weights before the last step, and a run resumed after its last epoch
    /// (no step left to take) would keep the scales of the untrained weights.
    /// </summary>
    public static void Finish(QuantizedModel model)
    {
        foreach (var layer in model.Layers)
            if (layer.Weight is { LearnedScale: null, HasLearnedRounding: false } w) w.Calibrate(model.WeightOf(layer));
    }
}
