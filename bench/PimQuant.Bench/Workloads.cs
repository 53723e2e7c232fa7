using PimQuant.Sim;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;

namespace PimQuant.Bench;

/// <summary>One lowered layer: K rows, N columns, output pixels per image.</summary>
public sealed record LayerShape(string Name, int K, int N, int PixelsPerImage)
{
    public long MacsPerImage => (long)K * N * PixelsPerImage;
}

/// <summary>Networks and crossbar settings of the throughput runs. The settings restate docs/hardware.md §0's
/// preset descriptions; the shipped presets (PimQuant.Hardware) are the authority.</summary>
public static class Workloads
{
    /// <summary>resnet20 on 32×32 CIFAR images (option-A shortcuts: no 1×1 convolutions), 40.6 M MACs.</summary>
    public static IReadOnlyList<LayerShape> Resnet20 { get; } =
    [
        new("conv1", 27, 16, 1024),
        .. Enumerable.Range(1, 6).Select(i => new LayerShape($"s1.conv{i}", 144, 16, 1024)),
        new("s2.conv1", 144, 32, 256),
        .. Enumerable.Range(2, 5).Select(i => new LayerShape($"s2.conv{i}", 288, 32, 256)),
        new("s3.conv1", 288, 64, 64),
        .. Enumerable.Range(2, 5).Select(i => new LayerShape($"s3.conv{i}", 576, 64, 64)),
        new("fc", 64, 10, 1),
    ];

    /// <summary>vgg8 on 32×32 images: 616 M MACs.</summary>
    public static IReadOnlyList<LayerShape> Vgg8 { get; } =
    [
        new("conv1", 27, 128, 1024), new("conv2", 1152, 128, 1024),
        new("conv3", 1152, 256, 256), new("conv4", 2304, 256, 256),
        new("conv5", 2304, 512, 64), new("conv6", 4608, 512, 64),
        new("fc1", 8192, 1024, 1), new("fc2", 1024, 10, 1),
    ];

    /// <summary>bwq-h: 128×128, 1-bit cells, 9×8 OUs, 1-bit DAC, 4-bit ADC, 8-bit weights and activations,
    /// precision-aware (slice-major) mapping. Step 1 makes 9-row OUs lossless (15 ≥ 9); the lossy
    /// variant uses the full-range step 9/15.</summary>
    public static CrossbarSettings BwqH(AdcStep step, WeightEncoding encoding) => new()
    {
        Rows = 128, Cols = 128, OuRows = 9, OuCols = 8, CellBits = 1, DacBits = 1, AdcBits = 4, AdcStep = step,
        WeightEncoding = encoding, ColumnFlip = false, WeightBits = 8, ActivationBits = 8, ColumnLayout = ColumnLayout.SliceMajor,
    };

    /// <summary>neurosim-rram: 128×128 arrays read whole, 1-bit cells, 1-bit DAC, 5-bit ADC (full range),
    /// on/off ratio 10, 8-bit weights and activations.</summary>
    public static CrossbarSettings NeuroSim => new()
    {
        Rows = 128, Cols = 128, OuRows = 128, OuCols = 128, CellBits = 1, DacBits = 1, AdcBits = 5, AdcStep = AdcStep.FullRange,
        WeightEncoding = WeightEncoding.Offset, ColumnFlip = false, WeightBits = 8, ActivationBits = 8,
        NonIdealities = new NonIdealities { OnOffRatio = 10 },
    };

    /// <summary>isaac: 128×128, 2-bit cells, whole-array reads, 8-bit ADC, offset with column flip (lossless).</summary>
    public static CrossbarSettings Isaac => new();

    /// <summary>Random weight codes in the encoding's range.</summary>
    public static int[] RandomWeights(Random rng, CrossbarConfig config, int count)
    {
        int max = (1 << (config.WeightBits - 1)) - 1, min = config.WeightEncoding == WeightEncoding.Offset ? -max - 1 : -max;
        var weights = new int[count];
        for (int i = 0; i < count; i++) weights[i] = rng.Next(min, max + 1);
        return weights;
    }

    /// <summary>Post-ReLU-like codes: half zeros, the rest uniform in [1, 2^bits).</summary>
    public static byte[] RandomActivations(Random rng, int count, int bits)
    {
        var codes = new byte[count];
        for (int i = 0; i < count; i++) codes[i] = rng.Next(2) == 0 ? (byte)0 : (byte)rng.Next(1, 1 << bits);
        return codes;
    }
}
