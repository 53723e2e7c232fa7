using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Qat;
using PimQuant.Quant.Quantizers;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Tests.Quant;

/// <summary>
/// Gradients of LSQ and PACT against central finite differences. Both estimators treat rounding as
/// the identity in the backward pass; so the reference differentiates, in float64, the same function
/// with the rounding residual R(u) − u frozen at the evaluation point — the function whose exact
/// derivative the estimator claims to be — and LSQ's step gradient carries the scale g = 1/√(N·Qp).
/// </summary>
public class GradientTests
{
    private const double H = 1e-4;

    /// <summary>Central difference of f at x.</summary>
    private static double Central(Func<double, double> f, double x, double h) => (f(x + h) - f(x - h)) / (2 * h);

    [Theory]
    [InlineData(4, true)]
    [InlineData(3, false)]
    [InlineData(8, true)]
    public void LsqStepAndInputGradientsMatchFiniteDifferences(int bits, bool signed)
    {
        Torch.Ensure();
        var format = new IntegerFormat(bits, signed, NarrowRange: signed);
        const int n = 257;
        double[] x = QuantReference.Normal(n, seed: bits).Select(v => (double)(signed ? v : Math.Abs(v))).ToArray();
        double[] c = QuantReference.Normal(n, seed: 100 + bits, zeroFraction: 0).Select(v => (double)v).ToArray();
        // A step that clips a few values: range at about 2.2 standard deviations.
        double s0 = 2.2 / format.MaxLevel;
        using var scope = NewDisposeScope();
        using var quantizer = new WeightQuantizer(new QuantizerSpec { Format = format, Granularity = ScaleGranularity.Tensor, Learning = LearningMode.Lsq },
            new WeightLowering([1, n], WeightOrientation.OutputFirst));
        var input = tensor(x.Select(v => (float)v).ToArray(), [1, n]).requires_grad_(true);
        quantizer.Calibrate(input.detach());
        quantizer.EnableLearnedScale().detach().fill_(s0);
        var output = quantizer.Quantize(input, training: true);
        (output * tensor(c.Select(v => (float)v).ToArray(), [1, n])).sum().backward();
        double stepGradient = quantizer.LearnedScale!.grad!.item<float>();
        var inputGradient = input.grad!.data<float>().ToArray();

        double lo = format.MinLevel, hi = format.MaxLevel;
        double U(double v, double s) => Math.Clamp(v / s, lo, hi);
        // Rounding residuals frozen at s0 (computed as the float32 forward pass rounds).
        double[] residual = x.Select(v => Math.Round(U(v, s0), MidpointRounding.ToEven) - U(v, s0)).ToArray();
        double Surrogate(double s) => x.Select((v, i) => c[i] * s * (U(v, s) + residual[i])).Sum();
        double g = Lsq.GradientScale(n, format.MaxLevel);
        double expected = g * Central(Surrogate, s0, H * s0);
        Assert.True(Math.Abs(stepGradient - expected) <= 1e-3 * Math.Max(1, Math.Abs(expected)), $"step gradient {stepGradient}, finite difference {expected}");
        // LSQ's closed form (Esser et al., eq. 3) as a second witness.
        double closed = g * x.Select((v, i) => c[i] * (v / s0 <= lo ? lo : v / s0 >= hi ? hi : Math.Round(v / s0, MidpointRounding.ToEven) - v / s0)).Sum();
        Assert.True(Math.Abs(stepGradient - closed) <= 1e-3 * Math.Max(1, Math.Abs(closed)), $"step gradient {stepGradient}, closed form {closed}");

        for (int i = 0; i < n; i++)
        {
            double u = x[i] / s0;
            if (Math.Abs(u - lo) < 1e-3 || Math.Abs(u - hi) < 1e-3) continue; // the clamp's kinks
            int k = i;
            double fd = Central(v => c[k] * s0 * (U(v, s0) + residual[k]), x[i], H);
            Assert.True(Math.Abs(inputGradient[i] - fd) <= 1e-4 + 1e-3 * Math.Abs(fd), $"input {i} (u = {u}): gradient {inputGradient[i]}, finite difference {fd}");
        }
    }

    [Fact]
    public void LsqActivationStepUsesTheElementCountOfTheTensor()
    {
        Torch.Ensure();
        var format = new IntegerFormat(4, false);
        using var scope = NewDisposeScope();
        using var quantizer = new ActivationQuantizer(new QuantizerSpec { Format = format, Learning = LearningMode.Lsq });
        var x = tensor(QuantReference.Normal(2 * 3 * 4, seed: 9).Select(v => Math.Abs(v) * 3).ToArray(), [2, 3, 4]);
        quantizer.Observe(x);
        quantizer.FinishCalibration();
        var step = quantizer.EnableLearnedScale();
        double s0 = step.item<float>();
        quantizer.Quantize(x, training: true).sum().backward();
        var data = x.data<float>().ToArray();
        // At u = Qp exactly (the calibrated maximum) the clamp still passes the gradient, as torch's clamp does.
        double closed = Lsq.GradientScale(data.Length, 15) * data.Select(v => v / s0 > 15 ? 15 : Math.Round(v / s0, MidpointRounding.ToEven) - v / s0).Sum();
        Assert.Equal(closed, step.grad!.item<float>(), 4);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(2)]
    public void PactClipAndInputGradientsMatchFiniteDifferences(int bits)
    {
        Torch.Ensure();
        var format = new IntegerFormat(bits, false);
        const int n = 301;
        double[] x = QuantReference.Normal(n, seed: 7 * bits, zeroFraction: 0).Select(v => (double)v * 2).ToArray();
        double[] c = QuantReference.Normal(n, seed: 70 + bits, zeroFraction: 0).Select(v => (double)v).ToArray();
        const double beta0 = 1.3;
        using var scope = NewDisposeScope();
        using var quantizer = new ActivationQuantizer(new QuantizerSpec { Format = format, Learning = LearningMode.Pact });
        var input = tensor(x.Select(v => (float)v).ToArray()).requires_grad_(true);
        quantizer.Observe(input.detach());
        quantizer.FinishCalibration();
        quantizer.EnablePact().detach().fill_(beta0);
        var output = quantizer.Quantize(input, training: true);
        (output * tensor(c.Select(v => (float)v).ToArray())).sum().backward();
        double betaGradient = quantizer.Clip!.grad!.item<float>();
        var inputGradient = input.grad!.data<float>().ToArray();

        // PACT's estimator: the quantizer is the identity backwards, so y_q differentiates as y = 0.5(|x| − |x − β| + β).
        static double Y(double v, double b) => 0.5 * (Math.Abs(v) - Math.Abs(v - b) + b);
        double expected = Central(b => x.Select((v, i) => c[i] * Y(v, b)).Sum(), beta0, H);
        Assert.True(Math.Abs(betaGradient - expected) <= 1e-3 * Math.Max(1, Math.Abs(expected)), $"β gradient {betaGradient}, finite difference {expected}");
        Assert.Equal(x.Select((v, i) => v > beta0 ? c[i] : 0).Sum(), betaGradient, 3);
        for (int i = 0; i < n; i++)
        {
            if (Math.Abs(x[i]) < 1e-3 || Math.Abs(x[i] - beta0) < 1e-3) continue; // the kinks at 0 and β
            int k = i;
            double fd = Central(v => c[k] * Y(v, beta0), x[i], H);
            Assert.True(Math.Abs(inputGradient[i] - fd) <= 1e-4 + 1e-3 * Math.Abs(fd), $"input {i} ({x[i]}): gradient {inputGradient[i]}, finite difference {fd}");
        }
        // The forward value is the quantized clip: levels of β/Qp within [0, β].
        var values = output.data<float>().ToArray();
        double scale = beta0 / format.MaxLevel;
        Assert.All(values, v => Assert.True(v >= 0 && v <= beta0 + 1e-6 && Math.Abs(v / scale - Math.Round(v / scale)) < 1e-4));
    }

    [Fact]
    public void AdaRoundLogitsStartAtTheUnroundedWeightAndHardenToEitherNeighbour()
    {
        Torch.Ensure();
        var format = new IntegerFormat(4, true, true);
        using var scope = NewDisposeScope();
        var w = tensor(QuantReference.Normal(40, seed: 2), [4, 10]);
        using var quantizer = new WeightQuantizer(new QuantizerSpec { Format = format, Granularity = ScaleGranularity.Channel }, new WeightLowering(w.shape, WeightOrientation.OutputFirst));
        quantizer.Calibrate(w);
        var nearest = quantizer.Quantize(w, false);
        var logits = quantizer.BeginLearnedRounding(w);
        var soft = quantizer.Quantize(w, false);
        // Soft rounding at the start reproduces the weight (h(V) = fractional part); gradients reach V.
        Assert.True((soft - w).abs().max().item<float>() < 1e-5f);
        soft.sum().backward();
        Assert.True(logits.grad!.abs().sum().item<float>() > 0);
        quantizer.SoftRounding = false;
        var hard = quantizer.Quantize(w, false);
        var scale = quantizer.Layout.Spread(quantizer.Scale());
        var u = w / scale;
        var level = hard / scale;
        Assert.True(((level - u.floor()).abs() < 1e-4f | (level - u.ceil()).abs() < 1e-4f).all().item<bool>());
        // V ≥ 0 exactly where the fractional part is at least one half, so hard rounding starts as rounding to nearest.
        Assert.Equal(nearest.data<float>().ToArray(), hard.data<float>().ToArray());
    }
}
