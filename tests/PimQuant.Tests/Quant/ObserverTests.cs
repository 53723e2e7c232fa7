using PimQuant.Quant.Formats;
using PimQuant.Quant.Observers;
using PimQuant.Quant.Quantizers;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Tests.Quant;

public class ObserverTests
{
    private static Tensor NoError(Tensor values, Tensor? mask, Tensor min, Tensor max) => zeros_like(min);

    [Fact]
    public void MinMaxKeepsTheRunningExtremesPerGroupIgnoringMaskedEntries()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var observer = ObserverSpec.MinMaxObserver.Create(100);
        observer.Observe(tensor(new float[] { 1, -2, 3, 9, 0, 5 }, [2, 3]), tensor(new[] { true, true, true, false, true, true }, [2, 3]));
        observer.Observe(tensor(new float[] { -4, 0, 0, 1, 7, 2 }, [2, 3]), null);
        var (min, max) = observer.Range(NoError);
        Assert.Equal([-4f, 0f], min.data<float>().ToArray());
        Assert.Equal([3f, 7f], max.data<float>().ToArray());
    }

    [Fact]
    public void MovingAverageFollowsItsFormula()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var observer = new ObserverSpec.MovingAverage(0.25).Create(100);
        float[][] batches = [[1, 4], [-1, 8], [0, 2]];
        double lo = 1, hi = 4;
        foreach (var b in batches)
        {
            observer.Observe(tensor(b, [1, 2]), null);
            if (b != batches[0]) { lo += 0.25 * (b.Min() - lo); hi += 0.25 * (b.Max() - hi); }
        }
        var (min, max) = observer.Range(NoError);
        Assert.Equal(lo, min.item<float>(), 5);
        Assert.Equal(hi, max.item<float>(), 5);
    }

    [Theory]
    [InlineData(99.0)]
    [InlineData(90.0)]
    [InlineData(100.0)]
    public void PercentileInterpolatesBetweenOrderStatistics(double percent)
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        float[] values = QuantReference.Normal(1001, seed: 3, zeroFraction: 0);
        using var observer = new ObserverSpec.Percentile(percent).Create(1 << 20);
        observer.Observe(tensor(values, [1, 1001]), null);
        var (min, max) = observer.Range(NoError);
        var sorted = values.Select(v => (double)v).Order().ToArray();
        double Quantile(double q)
        {
            double position = q * (sorted.Length - 1);
            int below = (int)Math.Floor(position), above = Math.Min(below + 1, sorted.Length - 1);
            return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
        }
        Assert.Equal(Quantile(percent / 100), max.item<float>(), 4);
        Assert.Equal(Quantile(1 - percent / 100), min.item<float>(), 4);
    }

    [Fact]
    public void SamplingKeepsEveryBatchEquallyRepresentedWithinItsLimit()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        // 8 batches of 1000 values with a 2048-value budget: the percentile must see all batches, not only the first.
        using var observer = new ObserverSpec.Percentile(50).Create(2048);
        for (int b = 0; b < 8; b++) observer.Observe(full(1, 1000, (float)b), null);
        var (_, median) = observer.Range(NoError);
        Assert.InRange(median.item<float>(), 3f, 4f);
    }

    [Fact]
    public void MseChoosesTheClippingRatioWithTheLeastErrorPerGroup()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var format = new IntegerFormat(3, true, true);
        using var grid = new LevelGrid(format);
        // Group 0: Gaussian with one far outlier, where clipping pays; group 1: uniform.
        var gaussian = QuantReference.Normal(400, seed: 1, zeroFraction: 0);
        gaussian[0] = 12f;
        var uniform = Enumerable.Range(0, 400).Select(i => -1f + 2f * i / 399).ToArray();
        var values = tensor(gaussian.Concat(uniform).ToArray(), [2, 400]);
        Tensor Error(Tensor v, Tensor? mask, Tensor lo, Tensor hi)
        {
            var (s, _) = QuantParameters.FromRange(lo, hi, format, false, ScaleRestriction.Float);
            return (FakeQuantization.Apply(v, s.unsqueeze(1), null, grid, RoundingMode.Nearest) - v).square().sum(1);
        }
        using var observer = new ObserverSpec.Mse(50).Create(1 << 20);
        observer.Observe(values, null);
        var (_, max) = observer.Range(Error);
        // Brute force over the same candidates.
        for (int g = 0; g < 2; g++)
        {
            var row = values[g];
            double best = double.PositiveInfinity, bestMax = 0;
            for (int i = 50; i >= 1; i--)
            {
                double r = i / 50.0;
                var lo = (row.min() * r).reshape(1); var hi = (row.max() * r).reshape(1);
                double e = Error(row.unsqueeze(0), null, lo, hi).item<float>();
                if (e < best) (best, bestMax) = (e, hi.item<float>());
            }
            Assert.Equal(bestMax, max[g].item<float>(), 5);
        }
        Assert.True(max[0].item<float>() < 6f, "the outlier group must clip");
    }
}
