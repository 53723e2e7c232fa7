using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;

namespace PimQuant.Tests.Hardware;

/// <summary>The balanced layer pipeline and the energy split on whole networks (dense counts, 8-bit weights and activations).</summary>
public sealed class CostPipelineTests
{
    /// <summary>The zoo's ResNet-20 on 28×28 single-channel images (1×1-convolution shortcuts), layer by layer.</summary>
    internal static IReadOnlyList<LayerShape> ResNet20()
    {
        var layers = new List<LayerShape> { LayerShape.Conv("conv1", 1, 16, 3, 3, 28, 28) };
        int inCh = 16, size = 28;
        foreach (var (width, stride) in new[] { (16, 1), (32, 2), (64, 2) })
            for (int block = 0; block < 3; block++)
            {
                int s = block == 0 ? stride : 1;
                int outSize = size / s;
                layers.Add(LayerShape.Conv($"w{width}b{block}a", inCh, width, 3, 3, outSize, outSize));
                layers.Add(LayerShape.Conv($"w{width}b{block}b", width, width, 3, 3, outSize, outSize));
                if (s != 1 || inCh != width) layers.Add(LayerShape.Conv($"w{width}b{block}s", inCh, width, 1, 1, outSize, outSize));
                (inCh, size) = (width, outSize);
            }
        layers.Add(LayerShape.Linear("fc", 64, 10));
        return layers;
    }

    internal static CostReport Dense(HardwareSpec spec, IReadOnlyList<LayerShape> layers, int bits = 8) =>
        new CostModel(spec).Evaluate(layers.Select(l =>
        {
            var m = DenseTiling.Instance.Map(new MappingRequest(l, spec, bits));
            return new LayerWork(m, DenseEventCounts.Compute(m, bits));
        }).ToList());

    private static HardwareSpec Unreplicated(string preset) =>
        HardwareSpecLoader.Parse(PresetCatalog.ReadYaml(preset).Replace("  pipeline: layer\n", "  pipeline: layer\n  replication: none\n"), preset + "-none.yaml");

    [Fact]
    public void ReplicationRaisesResNet20sThroughputOnIsaacWithinTheChip()
    {
        var isaac = PresetCatalog.Load("isaac");
        var balanced = Dense(isaac, ResNet20());
        var single = Dense(Unreplicated("isaac"), ResNet20());
        Assert.True(balanced.Total.Fps > single.Total.Fps, $"{balanced.Total.Fps} <= {single.Total.Fps}");
        Assert.True(balanced.Total.Fits);
        Assert.True(balanced.Total.Imas <= 168 * 12);
        // Unreplicated, a stage-1 layer (784 pixels × 8 digits of full-array reads) is the bottleneck;
        // balanced, the earlier layers hold more copies than the later ones and the period shrinks.
        Assert.All(single.Layers, l => Assert.Equal(1, l.Replication));
        Assert.True(balanced.Layers[0].Replication > balanced.Layers[^2].Replication);
        Assert.Equal(balanced.Layers.Max(l => l.LatencySeconds), balanced.Total.PeriodSeconds);
        Assert.Equal(balanced.Total.BottleneckLayer, balanced.Layers.MaxBy(l => l.LatencySeconds)!.Name);
        Assert.Equal(balanced.Layers.Sum(l => l.LatencySeconds), balanced.Total.LatencySeconds, 1e-15);
        // Events and dynamic energy do not depend on the copies.
        Assert.Equal(single.Total.DynamicEnergyJ, balanced.Total.DynamicEnergyJ, 1e-15);
    }

    [Fact]
    public void ResNet20sStaticEnergyOnIsaacIsUnderAQuarter()
    {
        var total = Dense(PresetCatalog.Load("isaac"), ResNet20()).Total;
        Assert.True(total.StaticEnergyJ < total.EnergyJ / 4, $"static {total.StaticEnergyJ} of {total.EnergyJ}");
        Assert.True(total.StaticEnergyJ > 0);
    }

    [Fact]
    public void BalancingOnlyShortensTheSlowestStageAndRespectsThePixels()
    {
        var isaac = PresetCatalog.Load("isaac");
        var stages = new[] { new Stage(8e-6, 3, 4, "xbar128"), new Stage(1e-6, 1, 100, "xbar128"), new Stage(2e-6, 1, 1, "xbar128") };
        var r = PipelineBalance.Replicate(isaac, stages);
        // The first stage splits at most into its 4 pixels (8 → 2 µs); the 1-pixel stage cannot split and
        // then sets the period at 2 µs, so nothing else is copied.
        Assert.Equal([4, 1, 1], r);
        Assert.Equal(2e-6, PipelineBalance.Seconds(stages[0], 4), 1e-18);
        Assert.Equal(8e-6 * 2 / 4, PipelineBalance.Seconds(stages[0], 3), 1e-18);   // ceil(4 / 3) = 2 pixels per copy
    }
}
