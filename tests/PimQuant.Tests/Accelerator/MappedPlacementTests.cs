using FsCheck;
using FsCheck.Xunit;
using PimQuant.Accelerator;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Sim;

namespace PimQuant.Tests.Accelerator;

/// <summary>One layout: the mapping the cost model prices is the one the simulator reads, OU for OU and array for array,
/// on random (grouped) layers, for both strategies.</summary>
public class MappedPlacementTests
{
    [Property(MaxTest = 60, Replay = "(1234,567)")]
    public void Dense_mappings_are_the_simulators_tiling(DoNotSize<int> seed)
    {
        var rng = new Random(seed.Item);
        var spec = PresetCatalog.Load(new[] { "isaac", "isaac-ou", "neurosim-rram" }[rng.Next(3)]);
        int groups = new[] { 1, 1, 2, 3, 4 }[rng.Next(5)], kernel = 1 + 2 * rng.Next(2);
        var layer = LayerShape.Conv("l", groups * (1 + rng.Next(40)), groups * (1 + rng.Next(40)), kernel, kernel, 2, 2, groups);
        int weightBits = rng.Next(2, 9);
        bool whole = rng.Next(2) == 0;
        var mapping = DenseTiling.Instance.Map(new MappingRequest(layer, spec, weightBits, WholeOuRowTiles: whole));
        var config = CrossbarConfig.Create(CrossbarTranslation.Settings(spec, new CrossbarPlan { WeightBits = weightBits, ActivationBits = 8, WholeOuRowTiles = whole }));
        var geometry = LayerGeometry.For(config, layer.RowsPerGroup, layer.ColumnsPerGroup);
        int arrays = 0;
        for (int g = 0; g < groups; g++)
        {
            var placement = MappedPlacement.Of(mapping, g, geometry, config);
            MappedPlacement.RequireTiling(placement, geometry, mapping);
            arrays += placement.Arrays;
        }
        Assert.Equal(mapping.Arrays.Count, arrays);
        Assert.Null(MappedPlacement.Index(mapping, geometry)); // a dense mapping keeps no precision table
    }

    [Property(MaxTest = 40, Replay = "(4321,765)")]
    public void Precision_aware_mappings_place_every_block_on_one_of_the_simulators_ous(DoNotSize<int> seed)
    {
        var rng = new Random(seed.Item);
        var spec = PresetCatalog.Load("bwq-h");
        int groups = new[] { 1, 2, 3 }[rng.Next(3)];
        var layer = LayerShape.Conv("l", groups * (1 + rng.Next(30)), groups * (1 + rng.Next(30)), 3, 3, 2, 2, groups);
        var lowered = layer.Lowering;
        var precision = new BlockPrecision(lowered, 9, 8, Enumerable.Range(0, BlockPrecision.Uniform(lowered, 9, 8, 1).Bits.Count).Select(_ => rng.Next(0, 8)).ToArray());
        var mapping = PrecisionAwareMapping.Instance.Map(new MappingRequest(layer, spec, 8, Precision: precision));
        var config = CrossbarConfig.Create(CrossbarTranslation.Settings(spec, 8, 8));
        var geometry = LayerGeometry.For(config, layer.RowsPerGroup, layer.ColumnsPerGroup);
        int placed = 0;
        for (int g = 0; g < groups; g++)
            placed += MappedPlacement.Of(mapping, g, geometry, config).ArrayOf.Count(a => a >= 0);
        Assert.Equal(mapping.Blocks.Count, placed);
        // Every row group of every convolution group reads its block row's entries: together, the whole table.
        var index = MappedPlacement.Index(mapping, geometry)!;
        Assert.Equal(mapping.Table!.Entries, groups * index.EntriesPerRowGroup.Sum(e => (long)e));
        Assert.Equal(3, index.EntryBits); // 8-bit weights: 7 stored bits, precisions 0..7
    }

    [Fact]
    public void A_step_per_packed_array_is_refused_naming_the_field_and_a_step_per_layer_is_taken()
    {
        var spec = PresetCatalog.Load("bwq-h");
        var perArray = spec with { Adc = new AdcSpec(3, AdcStepMode.Calibrated, AdcCalibration.Array) };
        var e = Assert.Throws<HardwareSpecException>(() => CrossbarTranslation.Settings(perArray, 8, 8));
        Assert.Contains("field 'adc.calibration' = array", e.Message);
        Assert.Contains("use calibration: layer", e.Message);
        var perLayer = spec with { Adc = new AdcSpec(3, AdcStepMode.Calibrated, AdcCalibration.Layer) };
        Assert.Equal(3, CrossbarTranslation.Settings(perLayer, 8, 8).AdcBits);
    }
}
