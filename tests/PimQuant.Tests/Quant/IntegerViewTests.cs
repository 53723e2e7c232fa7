using PimQuant.Engine.Graph;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Quantizers;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PimQuant.Tests.Quant;

public class IntegerViewTests
{
    public static TheoryData<int, int> Cases() => FakeQuantizationTests.WeightCases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void IntegerWeightsDequantizeToTheFakeQuantizedWeightExactly(int formatIndex, int granularityIndex)
    {
        Torch.Ensure();
        var format = FakeQuantizationTests.WeightFormats[formatIndex];
        var granularity = FakeQuantizationTests.WeightGranularities[granularityIndex];
        using var scope = NewDisposeScope();
        var w = tensor(QuantReference.Normal(6 * 2 * 3 * 3, seed: 4), [6, 2, 3, 3]);
        var lowering = WeightLowering.ForConv(w.shape, 2);
        using var quantizer = new WeightQuantizer(new QuantizerSpec { Format = format, Granularity = granularity }, lowering);
        quantizer.Calibrate(w);
        var integers = quantizer.ToIntegers(w);
        var fake = lowering.ToLowered(quantizer.Quantize(w, false)).contiguous().data<float>().ToArray();
        Assert.Equal(fake, integers.Dequantize());
        Assert.Equal((18, 6), (integers.Rows, integers.Columns));
        for (int i = 0; i < integers.Codes.Count; i++)
        {
            // A code decodes to its level (minus the zero point for integers).
            double level = format.LevelOf(integers.Codes[i]) - (format.IsUniform ? integers.ZeroPoints[integers.GroupOfElement[i]] : 0);
            Assert.Equal(integers.Levels[i], (float)level);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GroupsPartitionTheLoweredMatrixAsDocumented(int formatIndex, int granularityIndex)
    {
        _ = formatIndex;
        Torch.Ensure();
        var granularity = FakeQuantizationTests.WeightGranularities[granularityIndex];
        using var layout = WeightGroupLayout.Create(WeightLowering.ForConv([6, 2, 3, 3], 2), granularity);
        var covered = new int[18 * 6];
        for (int g = 0; g < layout.Groups.Count; g++)
        {
            var group = layout.Groups[g];
            // A tile never straddles two convolution groups (3 columns each).
            if (granularity is not ScaleGranularity.PerTensor)
                Assert.Equal(group.ColumnStart / 3, (group.ColumnStart + group.ColumnCount - 1) / 3);
            for (int r = group.RowStart; r < group.RowStart + group.RowCount; r++)
                for (int c = group.ColumnStart; c < group.ColumnStart + group.ColumnCount; c++)
                {
                    covered[r * 6 + c]++;
                    Assert.Equal(g, layout.GroupOfElement[r * 6 + c]);
                }
        }
        Assert.All(covered, count => Assert.Equal(1, count));
        int expected = granularity switch
        {
            ScaleGranularity.PerTensor => 1,
            ScaleGranularity.PerChannel => 6,
            ScaleGranularity.PerArray => 2 * 4 * 2,   // per conv group: ceil(18/5) row tiles × ceil(3/2) column tiles
            _ => 2 * 5 * 1,                           // ceil(18/4) × ceil(3/3)
        };
        Assert.Equal(expected, layout.Groups.Count);
    }

    [Fact]
    public void TheLoweredMatrixTimesTheIm2colVectorsIsTheConvolution()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var x = tensor(QuantReference.Normal(2 * 4 * 7 * 6, seed: 5), [2, 4, 7, 6]);
        var w = tensor(QuantReference.Normal(6 * 2 * 3 * 2, seed: 6), [6, 2, 3, 2]);
        var b = tensor(QuantReference.Normal(6, seed: 7));
        var node = Node.Create("conv", "Conv", ["x", "w", "b"], ["y"], [
            KeyValuePair.Create("group", (AttributeValue)new AttributeValue.Int(2)),
            KeyValuePair.Create("strides", (AttributeValue)new AttributeValue.Ints([2, 1])),
            KeyValuePair.Create("pads", (AttributeValue)new AttributeValue.Ints([1, 0, 0, 1])),
        ]);
        var lowering = ConvLowering.Of(node, x.shape, w.shape);
        var columns = lowering.Unfold(x);
        var (h, wd) = lowering.OutputSize(7, 6);
        Assert.Equal([2L, 2, 12, h * wd], columns.shape);
        // The im2col order is channel-major, then kh, then kw: check one vector element by hand.
        var padded = F.pad(x, [0, 1, 1, 0]);
        int n = 1, g = 1, row = 2 * 3 * 2 - 1, position = 5; // last element of group 1's vector
        long oy = position / wd, ox = position % wd;
        float expected = padded[n, g * 2 + 1, oy * 2 + 2, ox + 1].item<float>();
        Assert.Equal(expected, columns[n, g, row, position].item<float>());
        // M_gᵀ · vectors = the convolution; the lowered matrix is the weight's (K × N) view.
        var y = lowering.Multiply(columns, w, b, h, wd);
        var reference = F.conv2d(padded, w, b, [2, 1], [0, 0], [1, 1], 2);
        Assert.True((y - reference).abs().max().item<float>() < 1e-4f);
        var m = new WeightLowering(w.shape, WeightOrientation.OutputFirst, 2).ToLowered(w);
        Assert.Equal(w[4, 1, 2, 0].item<float>(), m[1 * 6 + 2 * 2 + 0, 4].item<float>());
    }

    [Fact]
    public void ActivationCodesAreUnsignedAfterReluAndTwosComplementWhenSigned()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var x = tensor(QuantReference.Normal(300, seed: 12));
        using var signed = new ActivationQuantizer(QuantizerSpec.IntActivationPerTensor(4, signed: true));
        using var unsigned = new ActivationQuantizer(QuantizerSpec.IntActivationPerTensor(4, signed: false));
        signed.Observe(x);
        signed.FinishCalibration();
        unsigned.Observe(x.relu());
        unsigned.FinishCalibration();
        var u = unsigned.ToIntegers(x.relu());
        var uc = u.Codes.data<int>().ToArray();
        Assert.All(uc, c => Assert.InRange(c, 0, 15));
        Assert.Equal(unsigned.Quantize(x.relu(), false).data<float>().ToArray(), (u.Codes.to_type(ScalarType.Float32) * u.Scale).data<float>().ToArray());
        var s = signed.ToIntegers(x);
        var sc = s.Codes.data<int>().ToArray();
        Assert.All(sc, c => Assert.InRange(c, -8, 7));
        var patterns = IntegerActivations.TwosComplement(s.Codes, 4).data<int>().ToArray();
        for (int i = 0; i < sc.Length; i++)
        {
            // a = −8·bit3 + 4·bit2 + 2·bit1 + bit0
            int p = patterns[i];
            Assert.Equal(sc[i], -8 * (p >> 3 & 1) + (p & 7));
        }
    }

    [Fact]
    public void DynamicGroupCodesCarryOneScalePerGroupOfEachVector()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        using var quantizer = new ActivationQuantizer(new QuantizerSpec { Format = new IntegerFormat(8, false), Granularity = new ScaleGranularity.DynamicGroup(4) });
        var columns = tensor(QuantReference.Normal(2 * 1 * 10 * 3, seed: 1), [2, 1, 10, 3]).relu();
        var integers = quantizer.ToIntegersColumns(columns);
        Assert.Equal([2L, 1, 3, 3], integers.Scale.shape);
        var expanded = integers.Scale.repeat_interleave(4, 2).narrow(2, 0, 10);
        Assert.Equal(quantizer.QuantizeColumns(columns, false).data<float>().ToArray(),
            (integers.Codes.to_type(ScalarType.Float32) * expanded).data<float>().ToArray());
    }
}
