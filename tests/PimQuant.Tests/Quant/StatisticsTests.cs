using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Quantizers;
using PimQuant.Quant.Statistics;
using static TorchSharp.torch;

namespace PimQuant.Tests.Quant;

public class StatisticsTests
{
    [Fact]
    public void WeightStatisticsCountBitsDigitsAndStorage()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        // Channel 0 has scale 1 (max 7 = Qp of int4 narrow): codes 7, 3, 0, −1; channel 1 is all zero.
        var w = tensor(new float[] { 7, 3, 0, -1, 0, 0, 0, 0 }, [2, 4]);
        using var quantizer = new WeightQuantizer(QuantizerSpec.IntWeightPerChannel(4), new WeightLowering(w.shape, WeightOrientation.OutputFirst));
        quantizer.Calibrate(w);
        var stats = WeightBitStatistics.Of("fc", quantizer.ToIntegers(w), digitBits: 2);
        Assert.Equal(8, stats.Weights);
        Assert.Equal(3, stats.MagnitudeBits);
        Assert.Equal(4, stats.MaxBitsUsed);                 // 7 needs 3 magnitude bits + sign
        Assert.Equal(5.0 / 8, stats.ZeroWeightFraction);
        Assert.Equal(18.0 / 24, stats.ZeroBitFraction);     // ones: 3 (7) + 2 (3) + 1 (1)
        Assert.Equal(12.0 / 16, stats.ZeroDigitFraction);   // 2-bit digits: 7 → 3,1; 3 → 3,0; 1 → 1,0; zeros → 0,0
        Assert.Equal(2.0, stats.MeanGroupBits);              // channel 0 needs 4 bits, channel 1 none
        Assert.Equal(8.0, stats.CompressionRatio);
        Assert.Equal(32.0 * 8 / (4 * 4 + 3 + 3), stats.GroupCompressionRatio, 10); // + a 3-bit precision index per group
    }

    [Fact]
    public void ActivationStatisticsCountZeroDigitsOfTheStreamedCodes()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var stats = new ActivationStatistics(new IntegerFormat(4, false), digitBits: 2);
        stats.Add(tensor(new[] { 0, 1, 2, 3, 15 }));
        Assert.Equal(5, stats.Elements);
        Assert.Equal(0.2, stats.ZeroCodeFraction);
        Assert.Equal(0.5, stats.ZeroDigitFraction);          // digits: 0,0 | 1,0 | 2,0 | 3,0 | 3,3
        Assert.Equal(9.0 / 5, stats.MeanBitsUsed, 10);
        Assert.Equal(4, stats.MaxBitsUsed);
        // Signed codes stream in two's complement: −1 is 1111.
        var signed = new ActivationStatistics(new IntegerFormat(4, true), digitBits: 1);
        signed.Add(tensor(new[] { -1, 0 }));
        Assert.Equal(0.5, signed.ZeroDigitFraction);
        Assert.Equal(4, signed.MaxBitsUsed);
    }

    [Fact]
    public void QuantizerCollectsActivationStatisticsWhileEvaluating()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var quantizer = new ActivationQuantizer(QuantizerSpec.IntActivationPerTensor(8, signed: false));
        var x = tensor(QuantReference.Normal(1000, seed: 4)).relu();
        quantizer.Observe(x);
        quantizer.FinishCalibration();
        quantizer.Statistics = new ActivationStatistics(quantizer.Spec.Format, 1);
        quantizer.Quantize(x, training: false);
        var codes = quantizer.ToIntegers(x).Codes.data<int>().ToArray();
        Assert.Equal(1000, quantizer.Statistics.Elements);
        Assert.Equal(codes.Count(c => c == 0) / 1000.0, quantizer.Statistics.ZeroCodeFraction);
        Assert.Equal(codes.Sum(c => 8 - int.PopCount(c)) / 8000.0, quantizer.Statistics.ZeroDigitFraction, 10);
    }
}
