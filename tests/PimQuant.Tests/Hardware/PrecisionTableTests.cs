using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;

namespace PimQuant.Tests.Hardware;

/// <summary>The per-block precision table of a precision-aware mapping: its storage, its reads and their price (docs/hardware.md §4).</summary>
public sealed class PrecisionTableTests
{
    // MappingTests' hand-worked layer: Linear 20 → 12, 9 × 8 blocks, 4-bit weights (3 stored magnitude bits), precisions
    // [[3, 0], [1, 3], [2, 2]]: 3 block rows × 2 block columns = 6 entries, block (0, 1) pruned.
    private static readonly LayerShape Fc = LayerShape.Linear("fc", 20, 12);
    private static readonly BlockPrecision WrittenMap = new(Fc.Lowering, 9, 8, [3, 0, 1, 3, 2, 2]);

    private static LayerMapping MapFc(HardwareSpec spec) =>
        PrecisionAwareMapping.Instance.Map(new MappingRequest(Fc, spec, 4, Precision: WrittenMap));

    [Theory]
    [InlineData(1, 1)] // precisions 0..1
    [InlineData(2, 2)]
    [InlineData(3, 2)] // 0..3
    [InlineData(4, 3)]
    [InlineData(7, 3)]
    [InlineData(8, 4)] // bwq-h's 9-bit weights: 0..8
    [InlineData(15, 4)]
    public void An_entry_holds_every_precision_from_0_to_the_stored_bits(int stored, int bits) =>
        Assert.Equal(bits, PrecisionTable.EntryBitsFor(stored));

    [Fact]
    public void The_hand_worked_layers_table_and_its_reads()
    {
        var m = MapFc(TestSpecs.Geometry(18, 48, 9, 8, cellBits: 1, encoding: "differential"));
        var table = Assert.IsType<PrecisionTable>(m.Table);
        // 6 entries (the pruned block's 0 included) × ceil(log2(3 + 1)) = 2 bits = 12 bits.
        Assert.Equal((6L, 2, 12L, 2), (table.Entries, table.EntryBits, table.Bits, table.EntriesPerBlockRow));
        Assert.Equal(12, m.IndexBits);
        Assert.Equal(0, table.Blocks[0, 0, 1]);
        // One input vector of 4 digits on the 1-bit DAC: each of the 3 block rows has 4 rounds, each reading its 2 entries
        // of 2 bits: 3 · 4 · 2 · 2 = 48 bits = 4 digits × the 12-bit table.
        var counts = DenseEventCounts.Compute(m, 4);
        Assert.Equal(48, counts.IndexReadBits);
        Assert.Equal(4 * 12, counts.IndexReadBits);
        Assert.Equal(5 * 48, DenseEventCounts.Compute(m, 4, pixels: 5).IndexReadBits);
    }

    [Fact]
    public void A_pruned_block_is_stored_and_read_but_reads_no_ou()
    {
        // Raising the pruned block (0, 1) to 1 bit adds its 2 OUs (G+, G−) to every round of block row 0, 4 digits: 8 OU reads
        // more. Its entry was in the table and read before every round already: storage and index reads do not change.
        var spec = TestSpecs.Geometry(18, 48, 9, 8, cellBits: 1, encoding: "differential");
        var pruned = MapFc(spec);
        var kept = PrecisionAwareMapping.Instance.Map(new MappingRequest(Fc, spec, 4, Precision: new BlockPrecision(Fc.Lowering, 9, 8, [3, 1, 1, 3, 2, 2])));
        var (a, b) = (DenseEventCounts.Compute(pruned, 4), DenseEventCounts.Compute(kept, 4));
        Assert.Equal(a.OuReads + 8, b.OuReads);
        Assert.Equal(a.IndexReadBits, b.IndexReadBits);
        Assert.Equal(pruned.IndexBits, kept.IndexBits);
        Assert.DoesNotContain(pruned.Blocks, x => x.MatrixRow == 0 && x.Columns.Span[0].Column >= 8);
    }

    [Fact]
    public void A_grouped_convolution_keeps_one_entry_per_block_of_every_group()
    {
        // Conv 6 → 20, 3 × 3, 2 groups: K = 3·9 = 27 rows (3 block rows), 10 columns per group (2 block columns): 2·3·2 = 12
        // entries of ceil(log2(8 + 1)) = 4 bits at 9-bit weights.
        var layer = LayerShape.Conv("c", 6, 20, 3, 3, 4, 4, groups: 2);
        var m = PrecisionAwareMapping.Instance.Map(new MappingRequest(layer, PresetCatalog.Load("bwq-h"), 9));
        Assert.Equal((12L, 4, 48L), (m.Table!.Entries, m.Table.EntryBits, m.IndexBits));
        // 16 pixels × 8 digits × 48 bits.
        Assert.Equal(16L * 8 * 48, DenseEventCounts.Compute(m, 8).IndexReadBits);
    }

    [Fact]
    public void A_dense_mapping_keeps_no_table()
    {
        var m = DenseTiling.Instance.Map(new MappingRequest(Fc, PresetCatalog.Load("isaac"), 8));
        Assert.Null(m.Table);
        Assert.Equal(0, m.IndexBits);
        Assert.Equal(0, DenseEventCounts.Compute(m, 8).IndexReadBits);
        var report = new CostModel(PresetCatalog.Load("isaac")).Evaluate([new LayerWork(m, DenseEventCounts.Compute(m, 8))]);
        Assert.Equal((0L, 0L), (report.Layers[0].IndexBits, report.Total.IndexBits));
    }

    [Fact]
    public void The_cost_report_gives_the_tables_bits_and_prices_its_reads_on_bwq_h()
    {
        var spec = PresetCatalog.Load("bwq-h");
        var m = MapFc(spec);
        var counts = DenseEventCounts.Compute(m, 4);
        var report = new CostModel(spec).Evaluate([new LayerWork(m, counts)]);
        Assert.Equal((12L, 12L, 48L), (report.Layers[0].IndexBits, report.Total.IndexBits, report.Total.Counts.IndexReadBits));
        // bwq-h prices a bit read at the input register's 0.10898 pJ (PimQuant's estimate), on a row of its own.
        Assert.Equal(0.10898, new CostModel(spec).Energy.PerEventPj(EventKind.IndexRead), 12);
        Assert.Equal(48 * 0.10898e-12, report.Layers[0].EnergyByComponentJ["precision_table"], 1e-24);
        Assert.Equal(48 * 0.10898e-12, report.Total.EnergyByComponentJ["precision_table"], 1e-24);
    }

    [Fact]
    public void A_priced_precision_aware_spec_must_price_the_tables_reads()
    {
        string yaml = PresetCatalog.ReadYaml("bwq-h");
        const string line = "      - {event: index_read, energy_pj: 0.10898, bits: 1}\n";
        Assert.Contains(line, yaml);
        var e = Assert.Throws<HardwareSpecException>(() => HardwareSpecLoader.Parse(yaml.Replace(line, "      - {event: dac_drive, energy_pj: 0}\n"), "chip.yaml"));
        Assert.Equal(("chip.yaml", "components[].events"), (e.File, e.Field));
        Assert.Contains("mapping 'precision_aware' reads a per-block precision table", e.Message);
        Assert.Contains("'index_read'", e.Message);
        // A bit event: its price says how many bits one access reads.
        var noBits = Assert.Throws<HardwareSpecException>(() => HardwareSpecLoader.Parse(yaml.Replace(line, "      - {event: index_read, energy_pj: 0.10898}\n"), "chip.yaml"));
        Assert.Contains("field 'components[14].events[0].bits' is missing", noBits.Message);
    }

    [Fact]
    public void The_cost_model_refuses_a_table_on_a_spec_that_does_not_price_its_reads()
    {
        // A dense-designed spec without an index_read price, mapped precision-aware by hand: its table cannot be priced.
        var spec = HardwareSpecLoader.Parse(TestSpecs.TinyCostYaml.Replace("weights: offset", "weights: differential"), "tiny.yaml");
        var layer = LayerShape.Linear("fc", 6, 4);
        var m = PrecisionAwareMapping.Instance.Map(new MappingRequest(layer, spec, 3));
        var e = Assert.Throws<HardwareSpecException>(() => new CostModel(spec).Evaluate([new LayerWork(m, DenseEventCounts.Compute(m, 2))]));
        Assert.Contains("layer 'fc' is mapped with a per-block precision table (precision_aware)", e.Message);
        Assert.Contains("'index_read'", e.Message);
        // Its dense mapping is priced as before.
        var dense = DenseTiling.Instance.Map(new MappingRequest(layer, spec, 3));
        Assert.Equal(0, new CostModel(spec).Evaluate([new LayerWork(dense, DenseEventCounts.Compute(dense, 2))]).Total.IndexBits);
    }
}
