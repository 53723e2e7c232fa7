using PimQuant.Accelerator;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Formats;

namespace PimQuant.Tests.Accelerator;

public class HardwareCapabilitiesTests
{
    private static QuantizationPlan Plan(string yaml)
    {
        using var graph = PimQuant.Tests.Quant.ConfigTests.LeNet();
        return QuantConfigLoader.Parse(yaml, "q.yaml").Resolve(graph);
    }

    private const string BwqBlocks = """
        version: 1
        default: {weight: {bits: 9}, activation: {bits: 8}}
        layers:
          conv2: {weight: {granularity: {kind: ou, rows: 9, cols: 8}, precision: {bits: [9, 9, 5, 0, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]}}}
        """;

    [Fact]
    public void TheSpecDecidesGeometryEncodingAndFormats()
    {
        var isaac = HardwareCapabilities.Of(HardwareSpecLoader.Load("isaac"));
        var bwq = HardwareCapabilities.Of(HardwareSpecLoader.Load("bwq-h"));
        Assert.Equal(("isaac", 1, 16, 8), (isaac.Name, isaac.MinWeightBits, isaac.MaxWeightBits, isaac.MaxActivationBits));   // offset encoding
        Assert.Equal(2, bwq.MinWeightBits);                                   // differential: sign + a magnitude bit
        Assert.Equal(((128, 128), (128, 128)), (isaac.Array, isaac.OperationUnit));
        Assert.Equal(((126, 128), (9, 8)), (bwq.Array, bwq.OperationUnit)); // the precision-aware mapping fills 14 whole OU rows of 9
        Assert.Equal([FormatKind.Integer], isaac.WeightFormats);
        var aligned = HardwareCapabilities.Of(HardwareSpecLoader.Load("isaac") with { Mapping = MappingNames.MagnitudeAligned });
        Assert.Contains(FormatKind.AdditivePowerOfTwo, aligned.WeightFormats);
    }

    [Fact]
    public void BlockPrecisionFitsBwqHButNotIsaacsWholeArrayReads()
    {
        var plan = Plan(BwqBlocks);
        Assert.Empty(HardwareCapabilities.Of(HardwareSpecLoader.Load("bwq-h")).Check(plan));
        var mismatches = HardwareCapabilities.Of(HardwareSpecLoader.Load("isaac")).Check(plan).Select(m => m.ToString()).ToList();
        Assert.Equal(
        [
            "layer conv2, weight: OU blocks of 9x8 differ from isaac's 128x128 operation units",
            "layer conv2, weight: precision groups: OU blocks of 9x8 differ from isaac's 128x128 operation units",
        ], mismatches);
    }

    [Fact]
    public void RequireNamesLayersWithTheSameReasonTogetherOnOneLine()
    {
        var plan = Plan("version: 1\ndefault: {weight: {granularity: {kind: ou, rows: 9, cols: 8}}}");
        var e = Assert.Throws<CapabilityException>(() => HardwareCapabilities.Of(HardwareSpecLoader.Load("isaac")).Require(plan));
        Assert.Equal("isaac cannot run this quantization: layers conv1, conv2, gemm1 and 2 more, weight: OU blocks of 9x8 differ from isaac's 128x128 operation units", e.Message);
        HardwareCapabilities.Of(HardwareSpecLoader.Load("isaac-ou")).Require(plan);   // 9 × 8 operation units: fits
    }

    [Fact]
    public void WhatTheCrossbarsCannotHoldIsNamedByLayer()
    {
        var plan = Plan("""
            version: 1
            default: {weight: {bits: 8}, activation: {bits: 8}}
            layers:
              conv1: {weight: {affine: true, narrow_range: false}}
              conv2: {activation: {bits: 9}}
              gemm1: {weight: {format: pot, bits: 4}, activation: {granularity: {kind: dynamic, group_size: 16}}}
            """);
        var bwq = HardwareCapabilities.Of(HardwareSpecLoader.Load("bwq-h"));
        var mismatches = bwq.Check(plan).Select(m => m.ToString()).ToList();
        Assert.Contains("layer conv1, weight: weights with a zero point: bwq-h stores symmetric weights only", mismatches);
        Assert.Contains("layer conv2, activation: 9-bit activations exceed the 8 bits bwq-h streams", mismatches);
        Assert.Contains("layer gemm1, weight: pot4 weights: bwq-h maps int weights only", mismatches);
        Assert.Contains("layer gemm1, activation: dynamic activation scales: bwq-h supports tensor", mismatches);
        Assert.Equal(4, mismatches.Count);
    }
}
