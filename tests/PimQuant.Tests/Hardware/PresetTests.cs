using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;

namespace PimQuant.Tests.Hardware;

public sealed class PresetTests
{
    public static TheoryData<string> Presets() => [.. PresetCatalog.Names];

    [Theory]
    [MemberData(nameof(Presets))]
    public void EveryPresetLoadsAndValidates(string name)
    {
        var spec = HardwareSpecLoader.Load(name);
        Assert.Equal(name, spec.Name);
        Assert.Equal(HardwareSpec.CurrentVersion, spec.Version);
        Assert.Equal($"{name} (preset)", spec.Origin);
        Assert.False(string.IsNullOrWhiteSpace(spec.Description));
        Assert.True(spec.Source.Length > 100, "every preset cites where its numbers come from");
        Assert.Contains(spec.Mapping, MappingNames.All);
        Assert.Equal(8, spec.Defaults.ActivationBits);
        if (spec.Organisation is not null) Assert.NotNull(new CostModel(spec).Energy);
    }

    [Fact]
    public void CatalogListsExactlyTheEmbeddedFiles()
    {
        Assert.Equal(PresetCatalog.Names.Order(), PresetCatalog.EmbeddedNames().Order());
        Assert.Equal(PresetCatalog.Names, PresetCatalog.List().Select(p => p.Name));
    }

    // ISAAC's published table (docs/hardware.md §2) prints tile power to 3 significant digits (330 mW) and area to
    // 3 decimals (0.372 mm²), so the component sums must land within half a unit of the last
    // printed digit: ±0.5 mW and ±0.0005 mm². The same rounding applies to the subtotals
    // (40.9 mW ±0.05, 0.215 mm² ±0.0005; 289 mW ±0.5, 0.157 mm² ±0.0005) and the chip
    // (65.8 W ±0.05 W, 85.4 mm² ±0.05).
    [Fact]
    public void IsaacTilePowerAndAreaReproduceTheTable()
    {
        var isaac = PresetCatalog.Load("isaac");

        var tile = ComponentTotals.Tile(isaac);
        Assert.InRange(tile.PowerMw, 329.5, 330.5);      // 40.85 + 12 × 24.08 = 329.81 mW
        Assert.InRange(tile.AreaMm2, 0.3715, 0.3725);    // 0.21485 + 12 × 0.01312 = 0.37229 mm²

        var tileLevel = ComponentTotals.TileLevel(isaac);
        Assert.InRange(tileLevel.PowerMw, 40.85, 40.95);   // router quartered: 20.7+7+10.5+0.52+0.05+0.4+1.68 = 40.85
        Assert.InRange(tileLevel.AreaMm2, 0.2145, 0.2155);  // 0.083+0.090+0.03775+0.0006+0.00006+0.00024+0.0032 = 0.21485

        var imas = 12 * ComponentTotals.Ima(isaac);
        Assert.InRange(imas.PowerMw, 288.5, 289.5);       // 12 × 24.08 = 288.96
        Assert.InRange(imas.AreaMm2, 0.1565, 0.1575);     // 12 × 0.01312 = 0.15744

        var chip = ComponentTotals.Chip(isaac);
        Assert.InRange(chip.PowerMw / 1000, 65.75, 65.85); // 168 × 329.81 mW + 10.4 W = 65.81 W
        Assert.InRange(chip.AreaMm2, 85.35, 85.45);         // 168 × 0.37229 + 22.88 = 85.42 mm²
    }

    [Fact]
    public void IsaacPerEventEnergiesAreTheDerivedOnes()
    {
        var isaac = PresetCatalog.Load("isaac");
        var table = EnergyTable.From(isaac);
        // ADC: 16 mW / (8 × 1.2 GS/s) = 1.6667 pJ at 8 bits, printed as 1.67.
        Assert.Equal(16e-3 / (8 * 1.2e9) * 1e12, table.PerEventPj(EventKind.AdcConversion, 8), 0.005);
        // A conversion also costs its sample-and-hold sample (0.00087891 pJ).
        double[] expected = [0.79, 0.99, 1.20, 1.42, 1.67, 1.97, 2.38];
        for (int bits = 4; bits <= 10; bits++)
            Assert.Equal(expected[bits - 4] + 0.00087891, table.PerEventPj(EventKind.AdcConversion, bits), 1e-12);
        // Per-event prices sum ISAAC's own figure and the activity-derived share of the row that rides on the event.
        Assert.Equal(0.417 + 0.10898, table.PerEventPj(EventKind.DacDrive), 1e-12);          // DAC + input register
        Assert.Equal(4e-3 / (8 * 1.2e9) * 1e12, 0.417, 0.0005);                               // 4 mW / (8 × 1.2 GHz)
        Assert.Equal(0.021 + 0.020215, table.PerEventPj(EventKind.ShiftAdd), 1e-12);         // shift-and-add + output register
        Assert.Equal(20.45 / 256 + 0.36458 / 8, table.PerEventPj(EventKind.BufferRead), 1e-12);   // 256-bit eDRAM access + bus byte
        Assert.Equal(20.45 / 256 + (0.36458 + 0.24375 + 0.0234375 + 0.1875 + 0.7875) / 8, table.PerEventPj(EventKind.BufferWrite), 1e-12);
        Assert.Equal(4.9219 / 8, table.PerEventPj(EventKind.RouterTransfer), 1e-12);
        // 2.4 mW shared by 8 arrays, one 128×128 read per 100 ns.
        Assert.Equal(2.4e-3 / 8 * 100e-9 / (128 * 128) * 1e12, table.PerEventPj(EventKind.CellRead), 1e-6);
        // A dense mapping keeps no precision table, so isaac reads none and need not price index_read.
        Assert.Equal([EventKind.OuRead, EventKind.IndexRead], table.Unpriced);
    }

    [Fact]
    public void AtIsaacsActivityEveryRowDrawsItsPublishedPower()
    {
        // ISAAC's activity per tile and µs: every array reads 128 rows per 100 ns (12 IMAs × 8 arrays ×
        // 128 rows × 10 reads = 122,880 DAC drives, conversions and shift-and-adds); 16-bit values, so
        // an IMA takes in 2 KB and gives out 256 B per 1.6 µs: 122,880 bits read from the buffer and
        // 15,360 bits written and routed per µs. Events priced per µs give µW; rows derived from their
        // power (90% dynamic) plus their leakage (10%) give back the table's power; rows ISAAC prices
        // itself come back within 128/120 (its 1.2 GS/s derivation at the 1.28 GS/s rate).
        var isaac = PresetCatalog.Load("isaac");
        var perMicrosecond = new EventCounts
        {
            DacDrives = 122_880, AdcConversions = 122_880, ShiftAdds = 122_880, CellReads = 122_880 * 128,
            BufferReadBits = 122_880, BufferWriteBits = 15_360, RouterBits = 15_360,
        };
        var byComponent = new Dictionary<string, double>();
        EnergyTable.From(isaac).Charge(perMicrosecond, 8, byComponent);
        foreach (var c in isaac.Components.Where(c => c.Level != ComponentLevel.Chip))
        {
            double units = c.Level == ComponentLevel.Ima ? 12 : 1.0 / c.SharedBy;              // per tile
            double published = units * c.PowerMw;
            double drawn = byComponent.GetValueOrDefault(c.Name) / 1000 + units * c.LeakageMw;
            if (c.Name is "adc" or "dac" or "shift_add_ima") Assert.InRange(drawn / published, 1.0, 1.08);
            else if (c.Name == "edram_buffer") Assert.InRange(drawn / published, 0.5, 0.6);  // ISAAC's 20.45 pJ per 256 bits: the buffer is half busy
            else Assert.Equal(published, drawn, published * 1e-4);
        }
    }

    [Theory]
    [InlineData("isaac", 192, 8, true)]          // column flip: floor(128·3/2)·1
    [InlineData("isaac-ou", 13, 4, true)]        // column flip: floor(9·3/2)·1; 5 bits also hold the unflipped 27
    [InlineData("bwq-h", 9, 4, true)]            // 9·1·1
    [InlineData("neurosim-rram", 128, 8, false)] // 128·1·1 > 31: NeuroSim's 5-bit ADC is lossy
    public void AdcExactnessPerPreset(string name, long bound, int bitsForExact, bool exact)
    {
        var spec = PresetCatalog.Load(name);
        Assert.Equal(bound, spec.PartialSumBound(spec.DefaultArray));
        Assert.Equal(bitsForExact, spec.AdcBitsForExact(spec.DefaultArray));
        Assert.Equal(exact, spec.AdcIsExact(spec.DefaultArray));
    }

    [Fact]
    public void PresetParametersAreTheDocumentedOnes()
    {
        var isaacOu = PresetCatalog.Load("isaac-ou");
        Assert.Equal((9, 8, 5), (isaacOu.DefaultArray.OuRows, isaacOu.DefaultArray.OuCols, isaacOu.Adc.Bits));
        Assert.True(9 * 3 * 1 <= isaacOu.Adc.MaxCode); // p_max = 27 fits 5 bits even without the flip
        Assert.Equal(0.99 + 0.00087891, EnergyTable.From(isaacOu).PerEventPj(EventKind.AdcConversion), 1e-12);

        var bwq = PresetCatalog.Load("bwq-h");
        Assert.Equal((128, 128, 9, 8), (bwq.DefaultArray.Rows, bwq.DefaultArray.Cols, bwq.DefaultArray.OuRows, bwq.DefaultArray.OuCols));
        Assert.Equal((1, 1, 4, 1.2), (bwq.Cell.Bits, bwq.Dac.Bits, bwq.Adc.Bits, bwq.ClockGhz!.Value));
        Assert.Equal(MappingNames.PrecisionAware, bwq.Mapping);
        Assert.Equal(0.79 + 0.00087891, EnergyTable.From(bwq).PerEventPj(EventKind.AdcConversion), 1e-12);

        var ns = PresetCatalog.Load("neurosim-rram");
        Assert.Equal((128, 128, 128), (ns.DefaultArray.Rows, ns.DefaultArray.Cols, ns.DefaultArray.OuRows));
        Assert.Equal((1, 1, 5), (ns.Cell.Bits, ns.Dac.Bits, ns.Adc.Bits));
        Assert.Equal(10, ns.NonIdealities.OnOffRatio);
        Assert.Equal(new PrecisionDefaults(8, 8), ns.Defaults);
        Assert.True(PresetCatalog.Load("isaac").NonIdealities.IsIdeal);
    }

    [Fact]
    public void CostModelRefusesASpecWithoutOrganisationInsteadOfInventingIt()
    {
        var e = Assert.Throws<HardwareSpecException>(() => new CostModel(TestSpecs.Geometry(16, 16)));
        Assert.StartsWith("test.yaml: field 'organisation' is missing", e.Message);
    }

    [Fact]
    public void NeurosimRramIsPricedWithIsaacsTableScaledToItsAdcs()
    {
        // 16 ADCs per array (8 columns each) at 5 bits: ISAAC's 16 mW row × 128/8 × 0.99/1.67.
        var ns = PresetCatalog.Load("neurosim-rram");
        var adc = ComponentTotals.Row(ns, ns.Components.Single(c => c.Name == "adc"));
        Assert.Equal(16 * 16 * 0.99 / 1.67, adc.PowerMw, 1e-9);
        Assert.Equal(0.0096 * 16 * 0.99 / 1.67, adc.AreaMm2, 1e-12);
        // A whole-array read converts 128 bitlines and the reference column on 16 ADCs: ceil(129 / 16) = 9 conversions.
        Assert.Equal(9 / 1.28e9, ReadTiming.Seconds(ns.Organisation!, 129), 1e-18);
    }
}
