using PimQuant.Quant.Formats;
using PimQuant.Quant.Quantizers;
using static TorchSharp.torch;

namespace PimQuant.Quant.Qat;

/// <summary>
/// Learned step size quantization (LSQ, Esser et al., ICLR 2020). The step s is a trained
/// parameter; with v̂ = s·R(clamp(v/s, −Qn, Qp)) and the straight-through R, the gradients are
/// ∂v̂/∂v = 1 inside the range and 0 outside, and ∂v̂/∂s = R(v/s) − v/s inside, −Qn or Qp outside,
/// the latter multiplied by g = 1/√(N·Qp) so that steps and weights learn at comparable rates.
/// </summary>
public static class Lsq
{
    /// <summary>g = 1/√(N·Qp).</summary>
    /// <param name="elementsPerStep">N: elements sharing the step (a layer's weights per group, or an activation tensor's elements per group).</param>
    /// <param name="qp">Qp: the format's largest level.</param>
    public static double GradientScale(double elementsPerStep, double qp) => 1.0 / Math.Sqrt(Math.Max(1.0, elementsPerStep) * qp);

    /// <summary>
    /// The step the forward pass uses: the parameter kept positive, its gradient scaled by
    /// <see cref="GradientScale"/>, then restricted (a power-of-two restriction rounds log2 s with a straight-through gradient).
    /// </summary>
    public static Tensor Step(Tensor learnedStep, double elementsPerStep, NumberFormat format, ScaleRestriction restriction) =>
        QuantParameters.Restrict(FakeQuantization.ScaleGradient(learnedStep.clamp_min(1e-12), GradientScale(elementsPerStep, format.MaxLevel)), restriction);
}

/// <summary>
/// PACT (Choi et al. 2018): activations are clipped to [0, β] by y = 0.5(|x| − |x − β| + β), with β
/// trained, then quantized with scale β/Qp; the quantizer passes y's gradient straight through, so
/// ∂y_q/∂x = 1 for 0 &lt; x &lt; β (else 0) and ∂y_q/∂β = 1 for x &gt; β (else 0), as in the paper.
/// </summary>
public static class Pact
{
    /// <summary>y = 0.5(|x| − |x − β| + β) = clip(x, 0, β), differentiable in x and β.</summary>
    public static Tensor Clip(Tensor x, Tensor beta) => 0.5 * (x.abs() - (x - beta).abs() + beta);
}
