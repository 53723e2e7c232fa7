using PimQuant.Methods.Cimq;
using PimQuant.Sim;
using PimQuant.Tests.Sim;
using static TorchSharp.torch;

namespace PimQuant.Tests.Methods.Cimq;

/// <summary>CIMQ's learned ADC clipping: the fake-quantized partial-sum model it trains and the simulator agree code for
/// code, its step gradient is the slope of its loss, and learning never ends worse than the peak calibration it starts from.</summary>
public class LearnedClippingTests
{
    public LearnedClippingTests() => Torch.Ensure();

    /// <summary>A lossy case on an ideal device with an ADC of 2..5 bits, with at least <paramref name="pixels"/> vectors.</summary>
    private static SimCase LossyCase(int seed, int pixels)
    {
        for (int attempt = 0; ; attempt++)
        {
            var c = SimCases.Random(seed + attempt * 7919);
            if (c.Config.AdcBits is < 2 or > 5 || c.K < 16) continue;
            var rng = new Random(seed);
            var activations = new byte[pixels * c.K];
            for (int i = 0; i < activations.Length; i++) activations[i] = (byte)(rng.Next(3) == 0 ? 0 : rng.Next(0, 1 << c.Config.ActivationBits));
            return c with { Activations = activations, Pixels = pixels, Program = c.Program with { AdcSteps = null, ReferenceAdcSteps = null } };
        }
    }

    [Theory]
    [InlineData(1, false, false)]
    [InlineData(2, true, false)]
    [InlineData(3, false, true)]
    [InlineData(4, true, true)]
    public void Trained_codes_equal_the_simulators(int seed, bool perArray, bool digitalScales)
    {
        var c = LossyCase(seed, 64);
        if (digitalScales) c = SimCases.WithDigitalScales(c, seed);
        var layer = c.Programmed();
        var clipping = new LearnedAdcClipping(new ClipLearning(Pixels: 64, Iterations: 20));
        var steps = clipping.Steps(layer, c.Activations, c.Pixels, signed: false, perArray, SimConfiguration.Default);
        var programmed = ProgrammedLayer.Program(c.Config, c.Weights, c.K, c.N, c.Program with { AdcSteps = steps });
        using var scope = NewDisposeScope();
        using var model = new PartialSumModel(programmed.Layout(), c.Activations, c.Pixels, signed: false, perArray);
        Assert.Equal(programmed.AdcCodes(c.Activations, c.Pixels), model.Codes(steps));
        // The model's output error is the simulator's: its layout places each code where the kernels do.
        var output = new double[c.Pixels * c.N];
        programmed.Run(c.Activations, output, c.Pixels);
        var stepTensor = tensor(steps, ScalarType.Float64);
        var error = model.Error(stepTensor, stepTensor).data<double>().ToArray();
        for (int p = 0; p < c.Pixels; p++)
            for (int n = 0; n < c.N; n++)
            {
                double exact = 0;
                for (int k = 0; k < c.K; k++) exact += c.Activations[p * c.K + k] * c.Weights[k * c.N + n] * (c.Program.DigitalScales?[k * c.N + n] ?? 1.0);
                Assert.True(Math.Abs(output[p * c.N + n] - exact - error[p * c.N + n]) <= 1e-6 * (1 + Math.Abs(exact)), $"{c}: pixel {p}, column {n}: simulated {output[p * c.N + n]}, exact {exact}, model error {error[p * c.N + n]}");
            }
    }

    [Fact]
    public void Learning_never_ends_above_the_peak_calibration()
    {
        var c = LossyCase(11, 256);
        var layer = c.Programmed();
        var peak = PimQuant.Accelerator.PeakAdcCalibration.Instance.Steps(layer, c.Activations, c.Pixels, false, perArray: false, SimConfiguration.Default);
        var learned = new LearnedAdcClipping(new ClipLearning(Pixels: 256, Iterations: 40)).Steps(layer, c.Activations, c.Pixels, false, perArray: false, SimConfiguration.Default);
        using var scope = NewDisposeScope();
        using var model = new PartialSumModel(layer.Layout(), c.Activations, c.Pixels, signed: false, perArray: false);
        double Loss(double[] s) => model.Loss(tensor(s.Select(v => (float)v).ToArray())).item<float>();
        Assert.True(Loss(learned) <= Loss(peak) * 1.001, $"learned {learned[0]} loss {Loss(learned)} > peak {peak[0]} loss {Loss(peak)}");
    }

    /// <summary>The gradient training follows, through the reparametrisation step = softplus(θ)·peak step, against central
    /// finite differences of the straight-through surrogate (codes held at θ): they are the same derivative, so they agree
    /// to float32 precision. (The loss itself is piecewise constant in its codes; its slope over a finite step change is not
    /// this estimator's, which is what the straight-through estimator trades for a usable gradient.)</summary>
    [Theory]
    [InlineData(5, false)]
    [InlineData(6, true)]
    public void Clip_gradient_matches_finite_differences(int seed, bool perArray)
    {
        var c = LossyCase(seed, 256);
        var layer = c.Programmed();
        using var scope = NewDisposeScope();
        using var model = new PartialSumModel(layer.Layout(), c.Activations, c.Pixels, signed: false, perArray);
        var initial = tensor(PimQuant.Accelerator.PeakAdcCalibration.Instance.Steps(layer, c.Activations, c.Pixels, false, perArray, SimConfiguration.Default).Select(v => (float)v).ToArray()).to_type(ScalarType.Float64);
        foreach (double start in new[] { -1.0, 0.2 })
        {
            var theta = full(initial.shape, start, ScalarType.Float64).requires_grad_(true);
            var frozen = PartialSumModel.Steps(theta, initial).detach();
            model.Loss(PartialSumModel.Steps(theta, initial), frozen).backward();
            var gradient = theta.grad!.data<double>().ToArray();
            // At most three of the steps: each finite difference evaluates the loss twice.
            foreach (int i in new[] { 0, gradient.Length / 2, gradient.Length - 1 }.Distinct())
            {
                const double h = 1e-4;
                double At(double delta)
                {
                    var moved = theta.detach().clone();
                    moved[i] = moved[i] + delta;
                    return model.Loss(PartialSumModel.Steps(moved, initial), frozen).item<double>();
                }
                double slope = (At(h) - At(-h)) / (2 * h);
                Assert.True(Math.Abs(gradient[i] - slope) <= 1e-3 * Math.Abs(slope) + 1e-9, $"{c}: θ {start}, step {i}: gradient {gradient[i]}, finite differences {slope}");
            }
        }
    }
}
