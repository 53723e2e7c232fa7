using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;

namespace PimQuant.Tests.Hardware;

public sealed class CostTests
{
    // The hand-sized layer: Conv 3→5, 3×3, 2×2 output (4 pixels), 8-bit weights, 4-bit inputs,
    // on 8×4 arrays of 2-bit cells read in 3×2 OUs, offset encoding, 1-bit DAC (the tiny spec).
    // Mapping (see MappingTests): 27 × 20 physical matrix, 20 arrays, 100 OU blocks.
    private static readonly LayerShape Layer = LayerShape.Conv("conv", 3, 5, 3, 3, 2, 2);

    private static HardwareSpec Tiny => HardwareSpecLoader.Parse(TestSpecs.TinyCostYaml, "tiny.yaml");

    private static LayerMapping MapTiny() => DenseTiling.Instance.Map(new MappingRequest(Layer, Tiny, 8));

    [Fact]
    public void HandCountedEventsOfAHandSizedLayer()
    {
        var counts = DenseEventCounts.Compute(MapTiny(), activationBits: 4, outputBits: 8);

        // T = 4/1 = 4 digits; every block is read 4 pixels × 4 digits = 16 times.
        // OU reads: 100 blocks × 16                                                     = 1600
        // DAC drives: every matrix row is driven once per column group; 27 rows × 10 column
        //   groups (5 column tiles × 2) = 270 rows over all blocks, × 16                 = 4320
        // ADC conversions: every physical column once per row group; 20 columns × 10 row
        //   groups (3 full row tiles × 3 + 1) = 200 columns over all blocks, × 16          = 3200
        // Shift-and-adds: one per conversion                                             = 3200
        // Cell reads: blocks tile the 27 × 20 matrix exactly once: 540 × 16              = 8640
        // Digit sums (offset encoding): one per array row group: 15 arrays × 3 + 5 × 1 = 50,
        //   × 16                                                                         = 800
        // Buffer reads: 4 pixels × 27 inputs × 4 bits                                    = 432 bits
        // Buffer writes and router: 4 pixels × 5 outputs × 8 bits                        = 160 bits
        // Critical path: a full array holds 6 blocks: 6 × 16                             = 96
        // MACs: 4 × 27 × 5                                                               = 540
        Assert.Equal(new EventCounts
        {
            Macs = 540, OuReads = 1600, DacDrives = 4320, AdcConversions = 3200, ShiftAdds = 3200, CellReads = 8640,
            DigitSums = 800, BufferReadBits = 432, BufferWriteBits = 160, RouterBits = 160, CriticalPathOuReads = 96,
        }, counts);
        Assert.Equal((54.0, 20.0, 20.0), (counts.BufferReadBytes, counts.BufferWriteBytes, counts.RouterBytes));
    }

    [Fact]
    public void DigitSumsOnlyWithOffsetOrColumnFlip()
    {
        var layer = LayerShape.Linear("fc", 20, 3);
        Map(TestSpecs.Geometry(16, 16, encoding: "differential"), 0);
        // 20 rows → 2 row tiles; 3 × 4 slices × 2 = 24 columns → 2 column tiles: 4 arrays, each
        // one row group read whole, each summing its own digits: 4 × 8 digits.
        Map(TestSpecs.Geometry(16, 16, encoding: "differential", flip: true), 4 * 8);
        Map(TestSpecs.Geometry(16, 16, 4, 16), 5 * 8);                               // row groups 0-3, 4-7, 8-11, 12-15 and 16-19

        void Map(HardwareSpec spec, long expected)
        {
            var m = DenseTiling.Instance.Map(new MappingRequest(layer, spec, 8));
            Assert.Equal(expected, DenseEventCounts.Compute(m, 8).DigitSums);
        }
    }

    [Fact]
    public void HandComputedEnergyLatencyAndAreaOnTheTinySpec()
    {
        var model = new CostModel(Tiny);
        var counts = DenseEventCounts.Compute(MapTiny(), 4, 8);
        var report = model.Evaluate([new LayerWork(MapTiny(), counts)]);
        var layer = Assert.Single(report.Layers);

        // Dynamic energy, pJ (tiny.yaml's prices):
        //   buffer:    432/64 × 32 + 160/64 × 64 = 216 + 160                       = 376
        //   adc:       3200 conversions × 1 (4-bit entry)                          = 3200
        //   dac:       4320 × 0.25                                                 = 1080
        //   crossbar:  8640 × 0.125                                                = 1080
        //   shift_add: 3200 × 0.5 + 800 digit sums × 0.75 = 1600 + 600             = 2200
        //   total                                                                  = 7936
        // Latency: 96 critical OU reads × 10 ns (2 conversions on half an ADC per array at 0.4 GS/s:
        // ceil(2 / 0.5) / 0.4 GS/s) = 960 ns; one layer, so the period is 960 ns.
        // Allocation: ceil(20 arrays / 4) = 5 IMAs = 2.5 tiles' worth (2 IMAs per tile).
        // Leakage over the period: buffer 3 mW × 2.5 × 960 ns = 7200 pJ; shift_add 1 mW × 5 × 960 ns = 4800 pJ.
        Assert.Equal(7936e-12, layer.DynamicEnergyJ, 1e-18);
        Assert.Equal(12000e-12, layer.StaticEnergyJ, 1e-18);
        Assert.Equal(["buffer", "adc", "dac", "crossbar", "shift_add"], layer.EnergyByComponentJ.Keys);
        double[] byComponentPj = [376 + 7200, 3200, 1080, 1080, 2200 + 4800];
        Assert.Equal(byComponentPj, layer.EnergyByComponentJ.Values.Select(j => Math.Round(j * 1e12, 9)));
        Assert.Equal(960e-9, layer.LatencySeconds, 1e-18);
        Assert.Equal((20, 5), (layer.Arrays, layer.Imas));
        Assert.Equal(0.84375, layer.Utilisation);
        // Area: 5 IMAs × (0.01 + 0.001 + 0.002 + 0.003) + 2.5 × 0.5 tile-level = 0.08 + 1.25 = 1.33 mm².
        Assert.Equal(1.33, layer.AreaMm2, 1e-12);
        // Figures of merit: 1080 ops (2 × 540 MACs).
        Assert.Equal(1080, layer.Ops);
        Assert.Equal(1080 / 19936.0, layer.TopsPerWatt, 1e-12);        // ops / (19936 pJ) / 1e12
        Assert.Equal(1080 / 960e-9 / 1e12, layer.Tops, 1e-15);
        Assert.Equal(1 / 960e-9, layer.Fps, 1e-6);

        var total = report.Total;
        Assert.Equal(counts, total.Counts);
        Assert.Equal(layer.EnergyJ, total.EnergyJ, 1e-18);
        Assert.Equal((3, true), (total.TilesUsed, total.Fits));          // ceil(5 / 2) tiles of the chip's 4
        Assert.Equal(3 * (0.5 + 2 * 0.016), total.AreaMm2, 1e-12);       // whole tiles: 3 × 0.532
        Assert.Equal(4 * (0.5 + 2 * 0.016), total.ChipAreaMm2, 1e-12);
        Assert.Equal(960e-9, total.LatencySeconds, 1e-18);
        Assert.Equal(960e-9, total.PeriodSeconds, 1e-18);
        Assert.Equal(1080 / 960e-9 / 1e12 / (3 * 0.532), total.TopsPerMm2, 1e-12);
    }

    [Fact]
    public void LayerAdcBitsChangeTheConversionPrice()
    {
        var model = new CostModel(Tiny);
        var m = MapTiny();
        var counts = DenseEventCounts.Compute(m, 4, 8);
        double at4 = model.Evaluate([new LayerWork(m, counts)]).Total.DynamicEnergyJ;
        double at3 = model.Evaluate([new LayerWork(m, counts, AdcBits: 3)]).Total.DynamicEnergyJ;
        Assert.Equal(3200 * (1 - 0.5) * 1e-12, at4 - at3, 1e-18);
        // Beyond the table {3: 0.5, 4: 1}: ×4 per bit above (5 bits: 4 pJ), ×2 per bit below (1 bit: 0.125 pJ).
        double at5 = model.Evaluate([new LayerWork(m, counts, AdcBits: 5)]).Total.DynamicEnergyJ;
        double at1 = model.Evaluate([new LayerWork(m, counts, AdcBits: 1)]).Total.DynamicEnergyJ;
        Assert.Equal(3200 * (4 - 1) * 1e-12, at5 - at4, 1e-18);
        Assert.Equal(3200 * (0.5 - 0.125) * 1e-12, at3 - at1, 1e-18);
        var e = Assert.Throws<HardwareSpecException>(() => model.Evaluate([new LayerWork(m, counts, AdcBits: 17)]));
        Assert.Equal("tiny.yaml: field 'adc.bits' = 17: the cost model prices ADC resolutions from 1 to 16 bits", e.Message);
    }

    [Fact]
    public void LayerPipelineSetsThePeriodAndTilesAreCounted()
    {
        // Two copies of the layer: latency adds, the layer pipeline delivers one image per 960 ns,
        // and 10 IMAs need 5 tiles of the chip's 4.
        var m = MapTiny();
        var counts = DenseEventCounts.Compute(m, 4, 8);
        var report = new CostModel(Tiny).Evaluate([new LayerWork(m, counts), new LayerWork(m, counts)]);
        Assert.Equal(1920e-9, report.Total.LatencySeconds, 1e-18);
        Assert.Equal(960e-9, report.Total.PeriodSeconds, 1e-18);
        Assert.Equal((5, false), (report.Total.TilesUsed, report.Total.Fits));
        Assert.Equal(2 * 19936e-12, report.Total.EnergyJ, 1e-18);
        Assert.Equal(1 / 960e-9, report.Total.Fps, 1e-6);
    }

    [Fact]
    public void IsaacCostOfTheHandLayer()
    {
        // Conv 3→5, 3×3, 4×4 output on isaac: one 128×128 array, one 27 × 20 block read whole;
        // 8-bit inputs on the 1-bit DAC: 16 pixels × 8 digits = 128 reads.
        var isaac = PresetCatalog.Load("isaac");
        var m = DenseTiling.Instance.Map(new MappingRequest(LayerShape.Conv("conv", 3, 5, 3, 3, 4, 4), isaac, 8));
        var counts = DenseEventCounts.Compute(m, 8);
        Assert.Equal((128L, 128L * 27, 128L * 20, 128L * 540, 128L, 16L * 27 * 8, 16L * 5 * 8),
            (counts.OuReads, counts.DacDrives, counts.AdcConversions, counts.CellReads, counts.DigitSums, counts.BufferReadBits, counts.BufferWriteBits));

        var layer = new CostModel(isaac).Evaluate([new LayerWork(m, counts)]).Layers[0];
        var e = layer.EnergyByComponentJ.ToDictionary(kv => kv.Key, kv => kv.Value * 1e12);
        // A read converts the block's 20 bitlines on the array's one ADC at 1.28 GS/s: 15.625 ns; one
        // copy takes 128 reads = 2 µs. The only layer, alone on the chip, is replicated once per output
        // pixel: 16 copies = 16 arrays = 2 IMAs, each copy one pixel: 125 ns.
        Assert.Equal((16, 2), (layer.Replication, layer.Imas));
        double period = 8 * 20 / 1.28e9;                                  // 125 ns
        Assert.Equal(2560 * 1.67, e["adc"], 1e-9);                        // 4275.2 pJ
        Assert.Equal(3456 * 0.417, e["dac"], 1e-9);                       // 1441.152 pJ
        Assert.Equal(69120 * 0.001831, e["crossbar"], 1e-9);              // 126.55872 pJ
        Assert.Equal((2560 + 128) * 0.021, e["shift_add_ima"], 1e-9);     // 56.448 pJ
        Assert.Equal((3456 + 640) / 256.0 * 20.45, e["edram_buffer"], 1e-9); // 16 accesses = 327.2 pJ
        // Activity-charged rows: per access, plus leakage of 2 IMAs and 2/12 of a tile over 125 ns (mW × s × 1e9 = pJ).
        Assert.Equal(3456 * 0.10898 + 2 * 0.124 * period * 1e9, e["input_register"], 1e-6);        // 376.63 + 31 pJ
        Assert.Equal(640 / 8.0 * 4.9219 + 4.2 / 4 * 2 / 12 * period * 1e9, e["router"], 1e-6);     // 393.75 + 21.875 pJ
        Assert.False(e.ContainsKey("hypertransport"));
        // Dynamic energy = Σ events × per-event price, over every priced event.
        var table = EnergyTable.From(isaac);
        double sum = System.Enum.GetValues<EventKind>().Except(table.Unpriced).Sum(k => counts.Of(k) * table.PerEventPj(k));
        Assert.Equal(sum * 1e-12, layer.DynamicEnergyJ, 1e-18);
        Assert.Equal(period, layer.LatencySeconds, 1e-18);
        var unreplicated = HardwareSpecLoader.Parse(PresetCatalog.ReadYaml("isaac").Replace("  pipeline: layer\n", "  pipeline: layer\n  replication: none\n"), "none.yaml");
        var single = new CostModel(unreplicated).Evaluate([new LayerWork(DenseTiling.Instance.Map(new MappingRequest(m.Layer, unreplicated, 8)), counts)]).Layers[0];
        Assert.Equal((1, 1), (single.Replication, single.Imas));
        Assert.Equal(16 * period, single.LatencySeconds, 1e-18);
    }

    [Fact]
    public void AnIdealAdcCannotBePricedWithoutResolution()
    {
        var yaml = PresetCatalog.ReadYaml("isaac").Replace("  bits: 8                 #", "  bits: ideal             #");
        var spec = HardwareSpecLoader.Parse(yaml, "ideal.yaml");
        var m = DenseTiling.Instance.Map(new MappingRequest(Layer, spec, 8));
        var counts = DenseEventCounts.Compute(m, 8);
        var e = Assert.Throws<HardwareSpecException>(() => new CostModel(spec).Evaluate([new LayerWork(m, counts)]));
        Assert.StartsWith("ideal.yaml: field 'adc.bits' = ideal:", e.Message);
        Assert.True(new CostModel(spec).Evaluate([new LayerWork(m, counts, AdcBits: 8)]).Total.EnergyJ > 0);
    }
}
