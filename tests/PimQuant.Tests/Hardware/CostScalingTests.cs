using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;

namespace PimQuant.Tests.Hardware;

/// <summary>Components scale from the component basis to each geometry and ADC resolution; reads take the ADC-bound time.</summary>
public sealed class CostScalingTests
{
    // A table published for 128×128 arrays, 2 per IMA, 2 ADCs of 8 bits at 1 GS/s; the spec keeps
    // the IMA make-up and holds 64×64, 128×128 and 256×256 arrays.
    private static HardwareSpec Sized(int adcBits = 8, double rate = 1) => HardwareSpecLoader.Parse($$$"""
        version: 1
        name: sized
        source: hand-made for tests
        arrays:
          - {name: g64, rows: 64, cols: 64, tiles: 1}
          - {name: g128, rows: 128, cols: 128, tiles: 1}
          - {name: g256, rows: 256, cols: 256, tiles: 1}
        cell: {bits: 2}
        dac: {bits: 1}
        adc: {bits: {{{adcBits}}}}
        encoding: {weights: offset}
        organisation: {imas_per_tile: 1, arrays_per_ima: 2, adcs_per_ima: 2, adc_rate_gsps: {{{rate}}}, settle_ns: 1}
        component_basis: {rows: 128, cols: 128, arrays_per_ima: 2, adcs_per_ima: 2, adc_bits: 8, adc_rate_gsps: 1}
        components:
          - {name: buffer, level: tile, power_mw: 10, area_mm2: 1, events: [{event: buffer_read, energy_pj: 1, bits: 8}]}
          - {name: crossbar, level: ima, count: 2, power_mw: 2, area_mm2: 0.2, scales_with: cells, events: [{event: cell_read, energy_pj: 0.001}]}
          - {name: dac, level: ima, power_mw: 1, area_mm2: 0.01, scales_with: rows, events: [{event: dac_drive, energy_pj: 0.1}]}
          - {name: sample_hold, level: ima, power_mw: 0.5, area_mm2: 0.02, scales_with: cols}
          - {name: adc, level: ima, count: 2, power_mw: 4, area_mm2: 0.04, scales_with: adcs, events: [{event: adc_conversion, energy_pj_by_bits: {4: 0.5, 8: 2}}]}
          - {name: register, level: ima, power_mw: 1, area_mm2: 0.1, events: [{event: shift_add, energy_pj: 0.01}]}
        """, "sized.yaml");

    [Theory]
    // IMA at 64×64: crossbar ×¼ (0.5 mW, 0.05), DAC and S&H ×½ (0.5, 0.005; 0.25, 0.01), ADC and register fixed (4, 0.04; 1, 0.1)
    //   = 6.25 mW, 0.205 mm²; the tile adds the buffer: 16.25 mW, 1.205 mm².
    [InlineData("g64", 16.25, 1.205)]
    // At the basis: 10 + 2 + 1 + 0.5 + 4 + 1 = 18.5 mW; 1 + 0.2 + 0.01 + 0.02 + 0.04 + 0.1 = 1.37 mm².
    [InlineData("g128", 18.5, 1.37)]
    // At 256×256: crossbar ×4 (8, 0.8), DAC and S&H ×2 (2, 0.02; 1, 0.04): 10 + 8 + 2 + 1 + 4 + 1 = 26 mW; 1 + 0.8 + 0.02 + 0.04 + 0.04 + 0.1 = 2 mm².
    [InlineData("g256", 26, 2)]
    public void TilePowerAndAreaScaleWithTheArrayGeometry(string geometry, double powerMw, double areaMm2)
    {
        var spec = Sized();
        var tile = ComponentTotals.Tile(spec, spec.Array(geometry));
        Assert.Equal(powerMw, tile.PowerMw, 1e-12);
        Assert.Equal(areaMm2, tile.AreaMm2, 1e-12);
    }

    [Fact]
    public void AdcPowerAndAreaFollowResolutionAndRate()
    {
        // 4 bits: E(4) / E(8) = 0.5 / 2 = ¼ → 1 mW, 0.01 mm²; at 2 GS/s power doubles again.
        var adc4 = ComponentTotals.Row(Sized(adcBits: 4), Sized().Components[4]);
        Assert.Equal((1.0, 0.01), (adc4.PowerMw, adc4.AreaMm2));
        var fast = ComponentTotals.Row(Sized(adcBits: 4, rate: 2), Sized().Components[4]);
        Assert.Equal((2.0, 0.01), (fast.PowerMw, fast.AreaMm2));
        // 12 bits: above the table ×4 per bit: 2 × 4⁴ = 512 pJ, 256× the 8-bit row.
        Assert.Equal(4.0 * 256, ComponentTotals.Row(Sized(adcBits: 12), Sized().Components[4]).PowerMw, 1e-9);
    }

    [Fact]
    public void TheAdcLawInterpolatesIsaacsTableAndExtendsItToOneAndSixteenBits()
    {
        var table = PresetCatalog.Load("isaac").Components.Single(c => c.Name == "adc").Events[0].EnergyPjByBits!;
        Assert.Equal(1.67, AdcEnergyLaw.EnergyPj(table, 8));
        Assert.Equal(0.79 / 8, AdcEnergyLaw.EnergyPj(table, 1), 1e-12);     // 4 → 1 bit: ÷2³
        Assert.Equal(2.38 * 4096, AdcEnergyLaw.EnergyPj(table, 16), 1e-9);  // 10 → 16 bits: ×4⁶
        var gap = new Dictionary<int, double> { [4] = 1, [8] = 16 };
        Assert.Equal(4, AdcEnergyLaw.EnergyPj(gap, 6), 1e-12);             // geometric between neighbours
        for (int bits = AdcEnergyLaw.MinBits; bits < AdcEnergyLaw.MaxBits; bits++)
            Assert.True(AdcEnergyLaw.EnergyPj(table, bits + 1) > AdcEnergyLaw.EnergyPj(table, bits));
    }

    [Fact]
    public void EveryPricedPresetPricesEveryAdcResolution()
    {
        foreach (var name in PresetCatalog.Names)
        {
            var spec = PresetCatalog.Load(name);
            if (spec.Organisation is null) continue;
            var table = new CostModel(spec).Energy;
            for (int bits = 1; bits <= 16; bits++)
                Assert.True(table.PerEventPj(EventKind.AdcConversion, bits) > 0, $"{name} at {bits} bits");
        }
    }

    [Fact]
    public void AReadTakesTheLongerOfSettleAndConversionsOverTheAdcsOfItsArray()
    {
        var isaac = PresetCatalog.Load("isaac").Organisation!;              // 1 ADC per array, 1.28 GS/s, settle 1 ns
        Assert.Equal(100e-9, ReadTiming.Seconds(isaac, 128), 1e-18);       // ISAAC's whole-array read: 128 / 1.28 GS/s
        Assert.Equal(6.25e-9, ReadTiming.Seconds(isaac, 8), 1e-18);        // a 9 × 8 OU: 8 conversions
        Assert.Equal(1e-9, ReadTiming.Seconds(isaac, 1), 1e-18);           // 0.78 ns of conversion: the settle time rules
        var shared = isaac with { AdcsPerIma = 4 };                         // half an ADC per array: arrays take turns
        Assert.Equal(200e-9, ReadTiming.Seconds(shared, 128), 1e-18);
        var wide = isaac with { AdcsPerIma = 64 };                          // 8 ADCs per array: ceil(20 / 8) = 3 conversion slots
        Assert.Equal(3 / 1.28e9, ReadTiming.Seconds(wide, 20), 1e-18);
    }

    [Fact]
    public void PeakEfficiencyOfIsaacAt16BitsIsThePapers()
    {
        // ISAAC-CE: 478.95 GOPs/s/mm², 644.84 GOPs/W. Every array: 128 rows × 16 weights (8 cells of
        // 2 bits each) per 16 reads of 100 ns → 2.56 GOPs/s; 16,128 arrays → 41,288 GOPs/s over
        // 85.42 mm² and 65.81 W.
        var peak = PeakThroughput.Of(PresetCatalog.Load("isaac"), 16, 16);
        Assert.Equal(168 * 12 * 8 * 2.56e9, peak.OpsPerSecond, 1);
        Assert.InRange(peak.GopsPerMm2 / 478.95, 0.95, 1.05);
        Assert.InRange(peak.GopsPerWatt / 644.84, 0.95, 1.05);
    }

    [Fact]
    public void IsaacOuLayerLatencyOverIsaacsIsTheReadCountsTimesTheReadTimes()
    {
        // docs/hardware.md §5 works this layer by hand: a ResNet-20 stage-1 conv, 16→16, 3×3, 28×28
        // outputs, 8-bit weights and activations. Lowered: 144 rows × 16 columns × 4 slices = 64 bitlines,
        // two arrays (rows 0–127 and 128–143).
        // isaac: each array is one 128-row block of 64 bitlines: a read converts 64 → 50 ns;
        //   8 digits × 784 pixels × 1 read × 50 ns = 313.6 µs.
        // isaac-ou: the full array has 15 OU row groups × 8 column groups = 120 blocks of 8 bitlines
        //   → 6.25 ns each; 8 × 784 × 120 × 6.25 ns = 4.704 ms; ratio 120 × 6.25 / 50 = 15.
        // (One copy of the weights each: replication divides both by the copies the chip gives them.)
        var layer = LayerShape.Conv("conv", 16, 16, 3, 3, 28, 28);
        double Latency(string preset)
        {
            var spec = HardwareSpecLoader.Parse(PresetCatalog.ReadYaml(preset).Replace("  pipeline: layer\n", "  pipeline: layer\n  replication: none\n"), preset);
            var m = DenseTiling.Instance.Map(new MappingRequest(layer, spec, 8));
            return new CostModel(spec).Evaluate([new LayerWork(m, DenseEventCounts.Compute(m, 8))]).Layers[0].LatencySeconds;
        }
        Assert.Equal(313.6e-6, Latency("isaac"), 1e-12);
        Assert.Equal(4.704e-3, Latency("isaac-ou"), 1e-11);
        Assert.Equal(15, Latency("isaac-ou") / Latency("isaac"), 1e-9);
    }

    [Fact]
    public void OverlappingOusDivideTheReadTimeByTheOusTheAdcsConvertTogether()
    {
        // The layer above on isaac-ou with 32 ADCs per array (256 per IMA): a 9 × 8 OU needs 8 ADCs, so with
        // ou_overlap 4 OUs of different column groups (the array has 8) are read together. Either way one OU read
        // is 1 conversion slot (ceil(8 / 32)), 0.78 ns at 1.28 GS/s, so the 1 ns settle time sets it.
        var layer = LayerShape.Conv("conv", 16, 16, 3, 3, 28, 28);
        string yaml = PresetCatalog.ReadYaml("isaac-ou")
            .Replace("  pipeline: layer\n", "  pipeline: layer\n  replication: none\n")
            .Replace("  adcs_per_ima: 8 ", "  adcs_per_ima: 256 ");
        double Latency(bool overlap)
        {
            var spec = HardwareSpecLoader.Parse(overlap ? yaml.Replace("  replication: none\n", "  replication: none\n  ou_overlap: true\n") : yaml, "isaac-ou-32");
            Assert.Equal(overlap, spec.Organisation!.OuOverlap);
            var m = DenseTiling.Instance.Map(new MappingRequest(layer, spec, 8));
            return new CostModel(spec).Evaluate([new LayerWork(m, DenseEventCounts.Compute(m, 8))]).Layers[0].LatencySeconds;
        }
        Assert.Equal(8 * 784 * 120 * 1e-9, Latency(false), 1e-12);
        Assert.Equal(8 * 784 * 120 * 1e-9 / 4, Latency(true), 1e-12);
        var o = PresetCatalog.Load("isaac").Organisation! with { AdcsPerIma = 256, OuOverlap = true };
        Assert.Equal(4, ReadTiming.ConcurrentReads(o, 8, columnGroups: 8));
        Assert.Equal(2, ReadTiming.ConcurrentReads(o, 8, columnGroups: 2));   // no more OUs than column groups
        Assert.Equal(3, ReadTiming.ConcurrentReads(o, 9, columnGroups: 8));   // 9 bitlines (a reference column): floor(32 / 9)
        Assert.Equal(1, ReadTiming.ConcurrentReads(o with { OuOverlap = false }, 8, columnGroups: 8));
    }
}
