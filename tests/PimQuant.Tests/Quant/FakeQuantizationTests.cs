using FsCheck.Xunit;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Quantizers;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Tests.Quant;

public class FakeQuantizationTests
{
    /// <summary>Signed weight formats of every family.</summary>
    public static readonly NumberFormat[] WeightFormats =
    [
        new IntegerFormat(8, true, true), new IntegerFormat(3, true), new IntegerFormat(12, true, true),
        new PowerOfTwoFormat(4, true), new AdditivePowerOfTwoFormat(5, true, 2), new FloatFormat(4, 3), new FloatFormat(2, 2),
    ];

    public static readonly ScaleGranularity[] WeightGranularities =
    [
        ScaleGranularity.Tensor, ScaleGranularity.Channel, new ScaleGranularity.PerArray(5, 2), new ScaleGranularity.PerOuBlock(4, 3),
    ];

    public static TheoryData<int, int> WeightCases()
    {
        var data = new TheoryData<int, int>();
        for (int f = 0; f < WeightFormats.Length; f++)
            for (int g = 0; g < WeightGranularities.Length; g++) data.Add(f, g);
        return data;
    }

    /// <summary>A grouped convolution weight (Cout 6, Cin/groups 2, 3×3, 2 groups): K = 18 rows, 6 columns, 3 per group.</summary>
    private const int Cout = 6, CinPerGroup = 2, Kh = 3, Kw = 3, ConvGroups = 2;

    /// <summary>The scale-group key of weight element (o, c, i, j) by the granularity's definition on the lowered matrix.</summary>
    private static (int, int, int) GroupKey(ScaleGranularity granularity, int o, int c, int i, int j)
    {
        int k = c * Kh * Kw + i * Kw + j, perGroup = Cout / ConvGroups, convGroup = o / perGroup, column = o % perGroup;
        return granularity switch
        {
            ScaleGranularity.PerTensor => (0, 0, 0),
            ScaleGranularity.PerChannel => (o, 0, 0),
            ScaleGranularity.PerArray a => (convGroup, k / a.Rows, column / a.Columns),
            ScaleGranularity.PerOuBlock b => (convGroup, k / b.Rows, column / b.Columns),
            _ => throw new ArgumentException("weights only"),
        };
    }

    private static float[] WeightReference(float[] w, NumberFormat format, ScaleGranularity granularity)
    {
        var keys = new (int, int, int)[w.Length];
        for (int o = 0, at = 0; o < Cout; o++)
            for (int c = 0; c < CinPerGroup; c++)
                for (int i = 0; i < Kh; i++)
                    for (int j = 0; j < Kw; j++, at++) keys[at] = GroupKey(granularity, o, c, i, j);
        var scales = keys.Distinct().ToDictionary(k => k, k => QuantReference.SymmetricScale(w.Where((_, i) => keys[i] == k), format));
        var levels = format.Levels();
        return w.Select((x, i) => QuantReference.FakeQuantize(x, scales[keys[i]], format, levels)).ToArray();
    }

    [Theory]
    [MemberData(nameof(WeightCases))]
    public void WeightFakeQuantEqualsTheReferenceFormula(int formatIndex, int granularityIndex)
    {
        Torch.Ensure();
        var format = WeightFormats[formatIndex];
        var granularity = WeightGranularities[granularityIndex];
        float[] data = QuantReference.Normal(Cout * CinPerGroup * Kh * Kw, seed: 11 + formatIndex);
        using var scope = NewDisposeScope();
        var w = tensor(data, [Cout, CinPerGroup, Kh, Kw]);
        using var quantizer = new WeightQuantizer(new QuantizerSpec { Format = format, Granularity = granularity }, WeightLowering.ForConv(w.shape, ConvGroups));
        quantizer.Calibrate(w);
        var actual = quantizer.Quantize(w, training: false).data<float>().ToArray();
        Assert.Equal(WeightReference(data, format, granularity), actual);
    }

    [Theory]
    [MemberData(nameof(WeightCases))]
    public void WeightFakeQuantIsIdempotentAndWithinHalfAStep(int formatIndex, int granularityIndex)
    {
        Torch.Ensure();
        var format = WeightFormats[formatIndex];
        var levels = format.Levels();
        float[] data = QuantReference.Normal(Cout * CinPerGroup * Kh * Kw, seed: 50 + formatIndex);
        using var scope = NewDisposeScope();
        var w = tensor(data, [Cout, CinPerGroup, Kh, Kw]);
        using var quantizer = new WeightQuantizer(new QuantizerSpec { Format = format, Granularity = WeightGranularities[granularityIndex] }, WeightLowering.ForConv(w.shape, ConvGroups));
        quantizer.Calibrate(w);
        var q = quantizer.Quantize(w, training: false);
        Assert.Equal(q.data<float>().ToArray(), quantizer.Quantize(q, training: false).data<float>().ToArray());
        var scale = quantizer.Layout.Spread(quantizer.Scale()).data<float>().ToArray();
        var qs = q.data<float>().ToArray();
        for (int i = 0; i < data.Length; i++)
        {
            double u = data[i] / scale[i];
            if (u < format.MinLevel || u > format.MaxLevel) continue;
            double halfStep = scale[i] * QuantReference.Gap(levels, u) / 2;
            Assert.True(Math.Abs(data[i] - qs[i]) <= halfStep * (1 + 1e-6) + 4e-7 * Math.Abs(data[i]), $"{format} element {i}: |{data[i]} - {qs[i]}| > {halfStep}");
        }
    }

    public static TheoryData<NumberFormat, bool> ActivationCases() => new()
    {
        { new IntegerFormat(8, false), false }, { new IntegerFormat(4, true), false }, { new IntegerFormat(8, false), true },
        { new PowerOfTwoFormat(4, false), false }, { new AdditivePowerOfTwoFormat(4, false), true }, { new FloatFormat(3, 2, Signed: false), false },
    };

    [Theory]
    [MemberData(nameof(ActivationCases))]
    public void ActivationFakeQuantEqualsTheReferenceFormula(NumberFormat format, bool perChannel)
    {
        Torch.Ensure();
        const int n = 4, c = 3, h = 5, w = 5;
        float[] data = QuantReference.Normal(n * c * h * w, seed: 3);
        if (!format.Signed) data = data.Select(v => Math.Max(v, 0f) * 2).ToArray();
        using var scope = NewDisposeScope();
        var x = tensor(data, [n, c, h, w]);
        var granularity = perChannel ? (ScaleGranularity)ScaleGranularity.Channel : ScaleGranularity.Tensor;
        using var quantizer = new ActivationQuantizer(new QuantizerSpec { Format = format, Granularity = granularity });
        // Two observed batches: the observer keeps the running range.
        quantizer.Observe(x.narrow(0, 0, 2));
        quantizer.Observe(x.narrow(0, 2, 2));
        quantizer.FinishCalibration();
        var actual = quantizer.Quantize(x, training: false).data<float>().ToArray();
        int Channel(int i) => i / (h * w) % c;
        var scales = Enumerable.Range(0, perChannel ? c : 1)
            .Select(ch => QuantReference.SymmetricScale(data.Where((_, i) => !perChannel || Channel(i) == ch), format)).ToArray();
        var levels = format.Levels();
        var expected = data.Select((v, i) => QuantReference.FakeQuantize(v, scales[perChannel ? Channel(i) : 0], format, levels)).ToArray();
        Assert.Equal(expected, actual);
        Assert.Equal(actual, quantizer.Quantize(tensor(actual, [n, c, h, w]), training: false).data<float>().ToArray());
    }

    [Fact]
    public void AffineActivationsMatchQuantizeLinearFollowedByDequantizeLinear()
    {
        Torch.Ensure();
        float[] data = QuantReference.Normal(500, seed: 8).Select(v => v + 0.7f).ToArray();
        using var scope = NewDisposeScope();
        var format = new IntegerFormat(8, false);
        using var quantizer = new ActivationQuantizer(new QuantizerSpec { Format = format, Affine = true });
        var x = tensor(data);
        quantizer.Observe(x);
        quantizer.FinishCalibration();
        float min = Math.Min(0, data.Min()), max = Math.Max(0, data.Max());
        float s = (max - min) / 255f;
        float z = (float)Math.Clamp(Math.Round(0 - min / s, MidpointRounding.ToEven), 0, 255);
        Assert.Equal(s, quantizer.Scale().item<float>());
        Assert.Equal(z, quantizer.ZeroPoint!.item<float>());
        Assert.Equal(data.Select(v => QuantReference.Affine(v, s, z, format)).ToArray(), quantizer.Quantize(x, false).data<float>().ToArray());
    }

    [Theory]
    [InlineData(5)]
    [InlineData(4)]
    [InlineData(32)]
    public void DynamicGroupsQuantizeEachRunOfTheInputVectorWithItsOwnMaximum(int size)
    {
        Torch.Ensure();
        const int n = 3, features = 14;
        float[] data = QuantReference.Normal(n * features, seed: 21);
        var format = new IntegerFormat(4, true, true);
        using var scope = NewDisposeScope();
        using var quantizer = new ActivationQuantizer(new QuantizerSpec { Format = format, Granularity = new ScaleGranularity.DynamicGroup(size) });
        var columns = tensor(data, [n, 1, features, 1]);
        var actual = quantizer.QuantizeColumns(columns, training: false).data<float>().ToArray();
        var levels = format.Levels();
        var expected = new float[data.Length];
        for (int row = 0; row < n; row++)
            for (int start = 0; start < features; start += size)
            {
                var group = Enumerable.Range(start, Math.Min(size, features - start)).Select(k => row * features + k).ToArray();
                float s = QuantReference.SymmetricScale(group.Select(i => data[i]), format);
                foreach (int i in group) expected[i] = QuantReference.FakeQuantize(data[i], s, format, levels);
            }
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void PowerOfTwoScalesRoundTheLogUpOrToNearest()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var (up, _) = QuantParameters.FromRange(tensor(new[] { -3f }), tensor(new[] { 3f }), new IntegerFormat(4, true), false, new ScaleRestriction.PowerOfTwo());
        var (nearest, _) = QuantParameters.FromRange(tensor(new[] { -3f }), tensor(new[] { 3f }), new IntegerFormat(4, true), false, new ScaleRestriction.PowerOfTwo(RoundUp: false));
        Assert.Equal(0.5f, up.item<float>());      // 3/7 = 0.43 → 2^ceil(−1.22) = 0.5
        Assert.Equal(0.5f, nearest.item<float>()); // 2^round(−1.22) = 0.5
        var (small, _) = QuantParameters.FromRange(tensor(new[] { 0f }), tensor(new[] { 2.2f }), new IntegerFormat(4, false), false, new ScaleRestriction.PowerOfTwo(RoundUp: false));
        Assert.Equal(0.125f, small.item<float>()); // 2.2/15 = 0.147 → 2^round(−2.77) = 0.125
    }

    [Fact]
    public void StochasticRoundingIsUnbiasedAndReplaysInEvaluation()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var format = new IntegerFormat(8, true, true);
        using var quantizer = new WeightQuantizer(new QuantizerSpec { Format = format, Granularity = ScaleGranularity.Tensor, Rounding = RoundingMode.Stochastic },
            new WeightLowering([1, 20000], WeightOrientation.OutputFirst), seed: 5);
        var w = full(1, 20000, 0.3f);
        w[0, 0] = tensor(127f); // scale 1: every other weight sits 0.3 above level 0
        quantizer.Calibrate(w);
        var first = quantizer.Quantize(w, training: false);
        Assert.Equal(first.data<float>().ToArray(), quantizer.Quantize(w, training: false).data<float>().ToArray());
        double mean = first.narrow(1, 1, 19999).mean().item<float>();
        Assert.InRange(mean, 0.28, 0.32); // E[q] = 0.3; the standard error is 0.0032
        Assert.True(first.narrow(1, 1, 19999).unique().output.numel() == 2);
    }

    /// <summary>FsCheck: for any integer format and scale, q is idempotent, on the grid, and within s/2 of x inside the range.</summary>
    [Property(MaxTest = 60)]
    public bool IntegerFakeQuantIsIdempotentAndWithinHalfAStep(int seed, byte bitsSeed, bool signed, bool narrow)
    {
        Torch.Ensure();
        int bits = 2 + bitsSeed % 15;
        var format = new IntegerFormat(bits, signed, narrow);
        var rng = new Random(seed);
        float s = (float)Math.Exp(rng.NextDouble() * 10 - 5);
        float[] data = QuantReference.Normal(64, seed).Select(v => v * s * (float)format.MaxLevel / 2).ToArray();
        using var scope = NewDisposeScope();
        using var grid = new LevelGrid(format);
        var x = tensor(data);
        var scale = tensor(s);
        var q = FakeQuantization.Apply(x, scale, null, grid, RoundingMode.Nearest);
        var qq = FakeQuantization.Apply(q, scale, null, grid, RoundingMode.Nearest);
        var values = q.data<float>().ToArray();
        for (int i = 0; i < data.Length; i++)
        {
            double u = data[i] / s;
            // Tolerances: float32 rounding of x and of level·s, a few units in the last place.
            if (u >= format.QMin && u <= format.QMax && Math.Abs(data[i] - values[i]) > s / 2 * (1 + 1e-6) + 4e-7 * Math.Abs(data[i])) return false;
            if (Math.Abs(values[i] / s - Math.Round(values[i] / s)) > 1e-6 * (1 + Math.Abs(values[i] / s))) return false;
        }
        return values.SequenceEqual(qq.data<float>().ToArray());
    }
}
