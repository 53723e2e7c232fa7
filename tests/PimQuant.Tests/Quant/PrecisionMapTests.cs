using FsCheck.Xunit;
using PimQuant.Quant.Config;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Quantizers;
using PimQuant.Quant.Statistics;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Tests.Quant;

/// <summary>Precision maps (a format per weight group): fake quantization, integer view, statistics, configuration.</summary>
public class PrecisionMapTests
{
    /// <summary>Signed group formats of every family and several widths; null prunes the group.</summary>
    private static readonly NumberFormat?[] GroupFormats =
    [
        new IntegerFormat(2, true, true), new IntegerFormat(4, true, true), new IntegerFormat(8, true, true), new IntegerFormat(3, true),
        new PowerOfTwoFormat(4, true), new AdditivePowerOfTwoFormat(5, true, 2), new FloatFormat(4, 3), new FloatFormat(2, 2), null,
    ];

    private static ScaleGranularity RandomGranularity(Random rng) => rng.Next(4) switch
    {
        0 => ScaleGranularity.Tensor,
        1 => ScaleGranularity.Channel,
        2 => new ScaleGranularity.PerArray(1 + rng.Next(12), 1 + rng.Next(4)),
        _ => new ScaleGranularity.PerOuBlock(1 + rng.Next(9), 1 + rng.Next(8)),
    };

    /// <summary>
    /// FsCheck: for random grouped convolutions, scale groups, precision groups (cut independently),
    /// group formats of every family (pruned groups included) and rounding, the fake-quantized weight
    /// equals the dequantized integer view bit for bit; each code decodes, in its own group's format,
    /// to its level; with nearest rounding both equal the scalar reference (scale = a scale group's
    /// largest magnitude over its widest format's largest level, each element rounded to its own
    /// format's nearest level, pruned elements 0); and the straight-through gradient is 1 exactly
    /// inside each element's own range.
    /// </summary>
    [Property(MaxTest = 40)]
    public bool FakeQuantizationWithAPrecisionMapEqualsTheIntegerViewAndTheReference(int seed)
    {
        Torch.Ensure();
        var rng = new Random(seed);
        int convGroups = 1 + rng.Next(2), cout = convGroups * (1 + rng.Next(5)), cin = 1 + rng.Next(3), kernel = rng.Next(2) == 0 ? 1 : 3;
        var lowering = WeightLowering.ForConv([cout, cin, kernel, kernel], convGroups);
        var scaleGranularity = RandomGranularity(rng);
        var precisionGranularity = RandomGranularity(rng);
        int groups = WeightGroupLayout.Rectangles(lowering, precisionGranularity).Length;
        var formats = Enumerable.Range(0, groups).Select(_ => GroupFormats[rng.Next(GroupFormats.Length)]).ToArray();
        var precision = new WeightPrecision(precisionGranularity, formats);
        var rounding = rng.Next(3) == 0 ? RoundingMode.Stochastic : RoundingMode.Nearest;
        var spec = new QuantizerSpec { Format = new IntegerFormat(8, true, true), Granularity = scaleGranularity, Precision = precision, Rounding = rounding };
        float[] data = QuantReference.Normal(cout * cin * kernel * kernel, seed);

        using var scope = NewDisposeScope();
        var w = tensor(data, [cout, cin, kernel, kernel]).requires_grad_(true);
        using var quantizer = new WeightQuantizer(spec, lowering, seed);
        quantizer.Calibrate(w);
        var q = quantizer.Quantize(w, training: false);
        q.sum().backward();
        var integers = quantizer.ToIntegers(w);
        float[] fake = lowering.ToLowered(q.detach()).contiguous().data<float>().ToArray();
        float[] gradient = lowering.ToLowered(w.grad!).contiguous().data<float>().ToArray();
        float[] lowered = lowering.ToLowered(w.detach()).contiguous().data<float>().ToArray();
        if (!fake.SequenceEqual(integers.Dequantize())) return false;

        // The scalar reference, element by element over the lowered matrix.
        var scaleGroups = WeightGroupLayout.Rectangles(lowering, scaleGranularity);
        var scaleOf = WeightGroupLayout.GroupOfElements(lowering, scaleGroups);
        var precisionOf = WeightGroupLayout.GroupOfElements(lowering, WeightGroupLayout.Rectangles(lowering, precisionGranularity));
        var scales = new float[scaleGroups.Length];
        for (int g = 0; g < scales.Length; g++)
        {
            var members = Enumerable.Range(0, lowered.Length).Where(i => scaleOf[i] == g).ToList();
            var widest = members.Select(i => formats[precisionOf[i]]).OfType<NumberFormat>().MaxBy(f => f.MaxLevel) ?? spec.Format;
            scales[g] = QuantReference.SymmetricScale(members.Select(i => lowered[i]), widest);
        }
        for (int i = 0; i < lowered.Length; i++)
        {
            var f = formats[precisionOf[i]];
            if (!ReferenceEquals(f, integers.FormatOfElement(i)) || integers.BitsAt(i / lowering.Columns, i % lowering.Columns) != (f?.Bits ?? 0)) return false;
            if (f is null)
            {
                if (integers.Codes[i] != 0 || fake[i] != 0 || gradient[i] != 0) return false;
                continue;
            }
            if (f.LevelOf(integers.Codes[i]) != integers.Levels[i]) return false;
            float s = scales[scaleOf[i]];
            if (integers.Scales[integers.GroupOfElement[i]] != s) return false;
            float u = lowered[i] / s;
            if (gradient[i] != (u >= f.MinLevel && u <= f.MaxLevel ? 1f : 0f)) return false;
            if (rounding == RoundingMode.Nearest && fake[i] != QuantReference.FakeQuantize(lowered[i], s, f, f.Levels())) return false;
            if (rounding == RoundingMode.Stochastic && (integers.Levels[i] < f.MinLevel || integers.Levels[i] > f.MaxLevel)) return false;
        }
        return true;
    }

    [Fact]
    public void LearnedRoundingKeepsEachGroupOnItsOwnLevels()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var lowering = WeightLowering.ForConv([8, 2, 3, 3], 1);
        var precision = WeightPrecision.FromBits(new ScaleGranularity.PerOuBlock(9, 4), [2, 0, 4, 8], new IntegerFormat(8, true, true));
        var spec = new QuantizerSpec { Format = new IntegerFormat(8, true, true), Precision = precision, Rounding = RoundingMode.Learned };
        var w = tensor(QuantReference.Normal(8 * 18, seed: 3), [8, 2, 3, 3]);
        using var quantizer = new WeightQuantizer(spec, lowering);
        quantizer.Calibrate(w);
        using (no_grad()) quantizer.BeginLearnedRounding(w).copy_(tensor(QuantReference.Normal(8 * 18, seed: 4), [8, 2, 3, 3]));
        quantizer.SoftRounding = false;
        var integers = quantizer.ToIntegers(w);
        Assert.Equal(lowering.ToLowered(quantizer.Quantize(w, false)).contiguous().data<float>().ToArray(), integers.Dequantize());
        for (int i = 0; i < integers.Codes.Count; i++)
        {
            int bits = integers.BitsAt(i / 8, i % 8);
            int max = bits == 0 ? 0 : (1 << (bits - 1)) - 1;
            Assert.InRange(integers.Codes[i], -max, max);
        }
        Assert.Contains(integers.Codes, c => Math.Abs(c) > 7);   // the 8-bit block uses its range
    }

    /// <summary>
    /// A 4 × 4 MatMul weight (M = w) in 2 × 2 OU blocks of 2, 4, 0 (pruned) and 8 bits, each its own
    /// scale group, every scale 1 (the group's largest magnitude is its format's largest level).
    /// </summary>
    [Fact]
    public void StatisticsOfAPrecisionMapMatchTheHandCount()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var ou = new ScaleGranularity.PerOuBlock(2, 2);
        var family = new IntegerFormat(8, true, true);
        var spec = new QuantizerSpec { Format = family, Granularity = ou, Precision = WeightPrecision.FromBits(ou, [2, 4, 0, 8], family) };
        var w = tensor(new float[]
        {
            1, -1,    7, -3,
            0.5f, 0,  1, 0,
            5, 5,     127, 0,
            5, 5,     64, -2,
        }, [4, 4]);
        using var quantizer = new WeightQuantizer(spec, new WeightLowering([4, 4], WeightOrientation.InputFirst));
        quantizer.Calibrate(w);
        var integers = quantizer.ToIntegers(w);
        Assert.Equal([1, -1, 7, -3, 0, 0, 1, 0, 0, 0, 127, 0, 0, 0, 64, -2], integers.Codes);   // 0.5 rounds to even; the pruned block is 0
        Assert.Equal([1f, 1f, 5f / 127, 1f], integers.Scales);
        Assert.Equal(3.5, integers.MeanBits);   // (4·2 + 4·4 + 4·0 + 4·8) / 16

        var s = WeightBitStatistics.Of("m", integers);
        Assert.Equal(8, s.Bits);
        Assert.Equal(3.5, s.MeanBits);
        Assert.Equal(16, s.Weights);
        Assert.Equal(7, s.MagnitudeBits);
        Assert.Equal(8, s.MaxBitsUsed);                         // 127: 7 magnitude bits + sign
        Assert.Equal(3.5, s.MeanGroupBits);                     // needed bits 2, 4, 0, 8 (every block uses its top bit)
        Assert.Equal(8 / 16.0, s.ZeroWeightFraction);           // 2 + 1 + 4 + 1 zeros
        // Magnitude bits 4·1 + 4·3 + 0 + 4·7 = 44; one bits 2 + (3 + 2 + 1) + (7 + 1 + 1) = 17.
        Assert.Equal(27 / 44.0, s.ZeroBitFraction, 12);
        Assert.Equal(27 / 44.0, s.ZeroDigitFraction, 12);
        Assert.Equal(32 / 3.5, s.CompressionRatio, 12);
        Assert.Equal(32.0 * 16 / (56 + 4 * 4), s.GroupCompressionRatio, 12);   // 4 index bits per group (ceil(log2 9))
    }

    [Fact]
    public void AScaleGroupSpanningSeveralPrecisionsTakesItsWidestFormatsStep()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var family = new IntegerFormat(8, true, true);
        // One scale for the tensor, 4 bits in column 0 and 8 bits in column 1 (per-channel precision).
        var spec = new QuantizerSpec { Format = family, Granularity = ScaleGranularity.Tensor, Precision = WeightPrecision.FromBits(ScaleGranularity.Channel, [4, 8], family) };
        var w = tensor(new float[] { 100, 127, -20, 3 }, [2, 2]);
        using var quantizer = new WeightQuantizer(spec, new WeightLowering([2, 2], WeightOrientation.InputFirst));
        quantizer.Calibrate(w);
        var integers = quantizer.ToIntegers(w);
        Assert.Equal([1f], integers.Scales);                      // 127 / int8n's 127
        Assert.Equal([7, 127, -7, 3], integers.Codes);           // the 4-bit column clamps to ±7
    }

    [Fact]
    public void AMapThatDoesNotFitTheWeightIsRefused()
    {
        Torch.Ensure();
        var family = new IntegerFormat(8, true, true);
        var lowering = WeightLowering.ForConv([16, 6, 5, 5], 1);
        var spec = new QuantizerSpec { Format = family, Precision = WeightPrecision.FromBits(new ScaleGranularity.PerOuBlock(9, 8), [4, 4, 4], family) };
        var e = Assert.Throws<ArgumentException>(() => new WeightQuantizer(spec, lowering));
        Assert.Contains("3 groups given, but ou 9x8 groups of the 150×16 lowered weight number 34", e.Message);
        Assert.Contains(spec.Problems(QuantizerRole.Activation), p => p.Problem == "a per-group precision applies to weights only");
        Assert.Contains((spec with { Affine = true }).Problems(QuantizerRole.Weight), p => p.Field == "precision" && p.Problem.Contains("symmetric"));
        var unsigned = spec with { Precision = WeightPrecision.PerChannel([.. Enumerable.Repeat<NumberFormat?>(new IntegerFormat(4, false), 16)]) };
        Assert.Contains(unsigned.Problems(QuantizerRole.Weight), p => p.Field == "precision.formats" && p.Problem.StartsWith("group 0: uint4 is unsigned"));
        Assert.Equal(WeightPrecision.FromBits(ScaleGranularity.Channel, [2, 0], family), WeightPrecision.PerChannel([new IntegerFormat(2, true, true), null]));
        Assert.NotEqual(WeightPrecision.FromBits(ScaleGranularity.Channel, [2, 0], family), WeightPrecision.FromBits(ScaleGranularity.Channel, [2, 2], family));
    }

    [Fact]
    public void AConfigGivesALayerItsBitsPerGroupInlineOrFromAFile()
    {
        using var graph = ConfigTests.LeNet();
        string dir = Directory.CreateTempSubdirectory("pimq-precision").FullName;
        try
        {
            var bits = Enumerable.Range(0, 34).Select(i => i % 9 == 0 ? 0 : 2 + i % 7).ToArray();
            File.WriteAllText(Path.Combine(dir, "conv2.bits"), "# conv2, 9x8 OU blocks\n" + string.Join(", ", bits.Take(20)) + "\n" + string.Join(" ", bits.Skip(20)) + "\n");
            File.WriteAllText(Path.Combine(dir, "q.yaml"), """
                version: 1
                layers:
                  conv2: {weight: {granularity: {kind: ou, rows: 9, cols: 8}, precision: {bits_file: conv2.bits}}}
                  gemm3: {weight: {precision: {bits: [8, 8, 4, 4, 4, 4, 4, 4, 2, 2]}}}
                  conv1: {weight: {format: pot, bits: 6, precision: {granularity: tensor, bits: [4]}}}
                """);
            var plan = QuantConfigLoader.LoadFile(Path.Combine(dir, "q.yaml")).Resolve(graph);
            var conv2 = plan["conv2"]!.Weight!.Precision!;
            Assert.Equal(new ScaleGranularity.PerOuBlock(9, 8), conv2.Granularity);
            Assert.Equal(bits, conv2.Bits);
            Assert.Equal(new IntegerFormat(8, true, true), conv2.Formats[6]);   // 2 + 6 bits in the family int8n
            var gemm3 = plan["gemm3"]!.Weight!.Precision!;
            Assert.Equal(ScaleGranularity.Channel, gemm3.Granularity);   // the weight's own granularity
            Assert.Equal([8, 8, 4, 4, 4, 4, 4, 4, 2, 2], gemm3.Bits);
            Assert.Equal(new PowerOfTwoFormat(4, true), plan["conv1"]!.Weight!.Precision!.Formats[0]);
            Assert.Null(plan["gemm1"]!.Weight!.Precision);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("layers: {conv2: {weight: {granularity: {kind: ou, rows: 9, cols: 8}, precision: {bits: [4, 4, 4]}}}}",
        "q.yaml: layers.conv2.weight.precision.bits: 3 groups given, but ou 9x8 groups of the 150×16 lowered weight number 34 (layer conv2)")]
    [InlineData("layers: {gemm3: {weight: {precision: {bits: [8, 17, 8, 8, 8, 8, 8, 8, 8, 8]}}}}",
        "q.yaml: layers.gemm3.weight.precision.bits[1]: 17 is not allowed (0 for a pruned group, else 1..16) (line 2)")]
    [InlineData("layers: {gemm3: {weight: {precision: {bits: [8, 1, 8, 8, 8, 8, 8, 8, 8, 8]}}}}",
        "q.yaml: layers.gemm3.weight.precision.bits: group 1: int1n: bits: a signed integer needs at least 2 bits (2..16) (layer gemm3)")]
    [InlineData("layers: {gemm3: {weight: {precision: {bits: [8, x]}}}}",
        "q.yaml: layers.gemm3.weight.precision.bits[1]: 'x' is not an integer (line 2)")]
    [InlineData("layers: {gemm3: {weight: {affine: true, narrow_range: false, precision: {bits: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8]}}}}",
        "q.yaml: layers.gemm3.weight.precision: a per-group precision needs symmetric weights (remove affine): one zero point cannot serve several bit-widths (layer gemm3)")]
    [InlineData("default: {weight: {precision: {bits: [8]}}}",
        "q.yaml: default.weight.precision: a precision map belongs to one layer (its group count is the layer's): set it under layers.NAME.weight (line 2)")]
    [InlineData("layers: {gemm3: {activation: {precision: {bits: [8]}}}}",
        "q.yaml: layers.gemm3.activation.precision: a per-group precision applies to weights only (line 2)")]
    [InlineData("layers: {gemm3: {weight: {precision: {bits: [8], bits_file: b.txt}}}}",
        "q.yaml: layers.gemm3.weight.precision: give exactly one of bits (a list, one per group) and bits_file (a file of integers) (line 2)")]
    [InlineData("layers: {gemm3: {weight: {precision: {bits_file: no-such-file.bits}}}}",
        "q.yaml: layers.gemm3.weight.precision.bits_file: no-such-file.bits: cannot read the file")]
    [InlineData("layers: {gemm3: {weight: {precision: {granularity: {kind: dynamic, group_size: 4}, bits: [8]}}}}",
        "q.yaml: layers.gemm3.weight.precision.granularity: dynamic groups apply to activations only (tensor, channel, array, ou) (line 2)")]
    public void PrecisionConfigErrorsNameTheFilePathLayerAndWhatIsAllowed(string body, string expected)
    {
        using var graph = ConfigTests.LeNet();
        var e = Assert.Throws<QuantConfigException>(() => QuantConfigLoader.Parse("version: 1\n" + body, "q.yaml").Resolve(graph));
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void CapabilitiesCheckEveryGroupOfAPrecisionMap()
    {
        using var graph = ConfigTests.LeNet();
        var plan = QuantConfigLoader.Parse("""
            version: 1
            layers:
              conv1: {weight: {precision: {bits: [8, 8, 12, 8, 0, 8]}}}
              conv2: {weight: {precision: {granularity: {kind: ou, rows: 9, cols: 8}, bits: [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]}}}
              gemm1: {weight: {format: pot, bits: 4, precision: {bits: [4, 2]}}}
            """.Replace("[4, 2]", "[" + string.Join(", ", Enumerable.Repeat(4, 120)) + "]"), "q.yaml").Resolve(graph);
        var hardware = new QuantCapabilities
        {
            Name = "test-xbar",
            MaxWeightBits = 8,
            MinWeightBits = 2,
            WeightPrecisionGranularities = new HashSet<string> { "ou" },
            OperationUnit = (16, 16),
        };
        var mismatches = hardware.Check(plan).Select(m => m.ToString()).ToList();
        Assert.Contains("layer conv1, weight: 12-bit weights (widest group) exceed the 8 bits test-xbar stores", mismatches);
        Assert.Contains("layer conv1, weight: a precision per channel group: test-xbar supports precision per ou", mismatches);
        Assert.Contains("layer conv1, weight: 1 pruned (0-bit) groups: test-xbar cannot leave groups out", mismatches);
        Assert.Contains("layer conv2, weight: precision groups: OU blocks of 9x8 differ from test-xbar's 16x16 operation units", mismatches);
        Assert.Contains("layer gemm1, weight: pot4 weights: test-xbar maps int weights only", mismatches);
        var e = Assert.Throws<CapabilityException>(() => hardware.Require(plan));
        Assert.StartsWith("test-xbar cannot run this quantization: layer conv1, weight: 12-bit weights (widest group) exceed the 8 bits test-xbar stores; ", e.Message);
        // Layers with the same reason are named together.
        Assert.Contains("; layers conv1 and gemm1, weight: a precision per channel group: test-xbar supports precision per ou;", e.Message);
        Assert.DoesNotContain((hardware with { MaxWeightBits = 12, WeightPrecisionGranularities = new HashSet<string> { "channel", "ou" }, OperationUnit = (9, 8), PrunedWeightGroups = true,
            WeightFormats = new HashSet<FormatKind> { FormatKind.Integer, FormatKind.PowerOfTwo } }).Check(plan), m => m.Role == QuantizerRole.Weight);
        // Below the narrowest width the hardware stores.
        Assert.Contains("layer conv2, weight: 4-bit weights (narrowest group) are below the 5 bits test-xbar needs",
            (hardware with { MinWeightBits = 5 }).Check(plan).Select(m => m.ToString()));
    }
}
