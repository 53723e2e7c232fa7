using FsCheck;
using FsCheck.Xunit;
using PimQuant.Sim;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;

namespace PimQuant.Tests.Sim;

/// <summary>Every path at every vector width equals the plain reference bit for bit, and lossless
/// layers equal the integer product.</summary>
public class SimulatorExactnessTests
{
    /// <summary>Runs every applicable path at every width and compares outputs and events with the reference; returns the
    /// paths that ran, so a test can assert it reached the ones it claims to test.</summary>
    private static IReadOnlyList<SimulationPath> AssertMatchesReference(SimCase c, IInputDigitPolicy? policy = null, IOuSkipPolicy? skip = null, bool signed = false)
    {
        if (skip is not null) c = c with { Program = c.Program with { OuSkip = skip } };
        var reference = CrossbarReference.Run(c.Config, c.Weights, c.K, c.N, c.Activations, c.Pixels, c.Program, policy, firstPixel: 11, signed: signed);
        var layer = c.Programmed();
        foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            foreach (var width in SimCases.Widths)
            {
                var (y, events) = SimCases.Run(layer, c, path, width, policy, firstPixel: 11, signed: signed);
                // The exact path sums digitally scaled products in its own order: equal to float64 rounding only.
                if (path == SimulationPath.Exact && c.Program.DigitalScales is not null) SimCases.AssertClose(reference.Output, y, 1e-12, $"{path} {width.SimdWidth} {c}");
                else SimCases.AssertIdentical(reference.Output, y, $"{path} {width.SimdWidth} {c}");
                Assert.Equal(reference.Events, events);
            }
        return SimCases.AllPaths.Where(layer.Supports).ToArray();
    }

    [Property(MaxTest = 200, Replay = "(20251,4441)")]
    public void Lossy_noise_free_equals_reference(DoNotSize<int> seed) => AssertMatchesReference(SimCases.Random(seed.Item));

    [Property(MaxTest = 80, Replay = "(9001,17)")]
    public void Lossy_bit_count_layers_equal_reference(DoNotSize<int> seed)
    {
        var c = SimCases.RandomBitCount(seed.Item, seed.Item % 2 == 0 ? Effects.None : Effects.Leakage | Effects.Faults);
        Assert.True(c.Programmed().Supports(SimulationPath.BitCount), c.ToString());
        AssertMatchesReference(c);
    }

    [Fact]
    public void Bit_count_layers_with_a_step_per_array_equal_reference()
    {
        // 64-bitline arrays: every chunk of the bit-count path lies in one array and looks up that array's codes.
        var rng = new Random(12);
        int k = 150, n = 20, pixels = 7;
        foreach (bool reference in new[] { false, true })
        {
            var config = CrossbarConfig.Create(new CrossbarSettings
            {
                Rows = 64, Cols = 64, OuRows = 64, OuCols = 64, CellBits = 1, DacBits = 1, AdcBits = 5, ColumnFlip = false,
                WeightBits = 8, ActivationBits = 8, NonIdealities = new NonIdealities { OnOffRatio = 10 }, ReferenceColumn = reference,
            });
            var geometry = LayerGeometry.For(config, k, n);
            Assert.True(geometry.ColumnTileCount > 1 && geometry.RowTileCount > 1);
            var steps = Enumerable.Range(0, geometry.RowTileCount * geometry.ColumnTileCount).Select(a => 0.5 + 0.25 * a).ToArray();
            var c = new SimCase(config, Enumerable.Range(0, k * n).Select(_ => rng.Next(-128, 128)).ToArray(), k, n,
                SimCases.RandomActivations(rng, pixels * k, 8), pixels,
                new ProgramOptions { Name = "tiles", AdcSteps = steps, ReferenceAdcSteps = reference ? steps.Select(x => x / 3).ToArray() : null });
            Assert.True(c.Programmed().Supports(SimulationPath.BitCount));
            AssertMatchesReference(c);
        }
    }

    [Theory]
    [InlineData(Effects.Variation)]
    [InlineData(Effects.Leakage)]
    [InlineData(Effects.Faults)]
    [InlineData(Effects.ReadNoise)]
    [InlineData(Effects.All)]
    public void Each_non_ideality_equals_reference(Effects effects)
    {
        var reached = new HashSet<SimulationPath>();
        for (int seed = 0; seed < 12; seed++)
        {
            // Every third case draws again until the bit-count path takes it, where the effects allow that path.
            bool bitCountAllowed = (effects & (Effects.Variation | Effects.ReadNoise)) == 0;
            var c = seed % 3 == 0 && bitCountAllowed ? SimCases.RandomBitCount(1000 * (int)effects + seed, effects)
                : SimCases.Random(1000 * (int)effects + seed, effects: effects, bitCount: seed % 3 == 0);
            var paths = AssertMatchesReference(c);
            Assert.Contains(SimulationPath.Conductance, paths);
            if (seed % 3 == 0 && bitCountAllowed) Assert.Contains(SimulationPath.BitCount, paths);
            reached.UnionWith(paths);
        }
        // The table path reads no noise; every other effect reaches it in some case.
        if ((effects & Effects.ReadNoise) == 0) Assert.Contains(SimulationPath.OuTable, reached);
    }

    [Property(MaxTest = 120, Replay = "(777,31337)")]
    public void Lossless_layers_equal_the_integer_product_on_every_path(DoNotSize<int> seed)
    {
        var c = SimCases.Random(seed.Item, lossless: true);
        var expected = SimCases.IntegerProduct(c);
        var layer = c.Programmed();
        Assert.True(layer.IsLossless, c.ToString());
        Assert.Equal(SimulationPath.Exact, layer.DefaultPath);
        SimCases.AssertIdentical(expected, CrossbarReference.Run(c.Config, c.Weights, c.K, c.N, c.Activations, c.Pixels, c.Program).Output, "reference");
        foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            foreach (var width in SimCases.Widths)
                SimCases.AssertIdentical(expected, SimCases.Run(layer, c, path, width).Output, $"{path} {width.SimdWidth} {c}");
    }

    /// <summary>Digital scales (weight scales per OU block, array or column, applied to the digitized partial sums): every
    /// path equals the reference bit for bit, with and without non-idealities, digit policies and signed inputs; the cases
    /// that can reach the bit-count path do.</summary>
    [Property(MaxTest = 80, Replay = "(3131,29)")]
    public void Digital_scales_equal_reference(DoNotSize<int> seed)
    {
        int s = seed.Item;
        bool whole = s % 2 != 0; // row tiles of whole OU row groups, as OU-block scales on a weight-major array take them
        var c = SimCases.WithDigitalScales(s % 3 == 0 ? SimCases.RandomBitCount(s, wholeOuRowTiles: whole)
            : SimCases.Random(s, effects: s % 4 == 1 ? Effects.All : Effects.None, wholeOuRowTiles: whole), s);
        var layer = c.Programmed();
        if (s % 3 == 0) Assert.True(layer.Supports(SimulationPath.BitCount), c.ToString());
        bool signed = s % 5 == 2 && (c.Config.ActivationBits - 1) % c.Config.DacBits == 0;
        AssertMatchesReference(c, s % 2 == 0 ? new HashedDigitPolicy() : null, signed: signed);
    }

    /// <summary>Lossless layers with digital scales equal Σ scale·a·w on every path (the exact path sums the scaled products
    /// in its own order, the others per segment: equal to float64 rounding), and stay lossless.</summary>
    [Property(MaxTest = 60, Replay = "(5151,3)")]
    public void Lossless_layers_with_digital_scales_equal_the_scaled_integer_product(DoNotSize<int> seed)
    {
        var c = SimCases.WithDigitalScales(SimCases.Random(seed.Item, lossless: true, wholeOuRowTiles: seed.Item % 2 == 0), seed.Item);
        var expected = SimCases.ScaledIntegerProduct(c);
        var layer = c.Programmed();
        Assert.True(layer.IsLossless, c.ToString());
        foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            SimCases.AssertClose(expected, SimCases.Run(layer, c, path, SimCases.Widths[(seed.Item % 3 + 3) % 3]).Output, 1e-12, $"{path} {c}");
    }

    [Fact]
    public void Digital_scales_must_be_shared_by_the_rows_of_an_ou_row_group()
    {
        var config = CrossbarConfig.Create(new CrossbarSettings { Rows = 8, Cols = 8, OuRows = 4, OuCols = 8, AdcBits = 0, WeightBits = 4, ActivationBits = 2 });
        var scales = Enumerable.Repeat(1.0, 8 * 2).ToArray();
        scales[3 * 2 + 1] = 2; // row 3, column 1: inside the row group of rows 0..3
        var e = Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(config, new int[16], 8, 2, new ProgramOptions { DigitalScales = scales }));
        Assert.Contains("rows 0..3", e.Message);
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(config, new int[16], 8, 2, new ProgramOptions { DigitalScales = new double[16] }));
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(config, new int[16], 8, 2, new ProgramOptions { DigitalScales = [1.0] }));
        // Tiles of whole OU row groups: 9-row OUs on 20-row arrays use 18 rows per tile, so row groups start at multiples of 9.
        var whole = LayerGeometry.For(CrossbarConfig.Create(new CrossbarSettings { Rows = 20, Cols = 8, OuRows = 9, OuCols = 8, AdcBits = 0, WholeOuRowTiles = true }), 40, 1);
        Assert.Equal([0, 9, 18, 27, 36], whole.GroupStart.ToArray());
        Assert.Equal([0, 0, 1, 1, 2], whole.GroupTile.ToArray());
        // Scales that change at the row group boundary are fine.
        scales[3 * 2 + 1] = 1;
        for (int i = 4; i < 8; i++) scales[i * 2 + 1] = 2;
        Assert.NotNull(ProgrammedLayer.Program(config, new int[16], 8, 2, new ProgramOptions { DigitalScales = scales }));
    }

    /// <summary>A mapping's OU placement (the precision-aware mapping's): OUs left out are never read, events count the
    /// placement's arrays and the precision table's reads; every path equals the reference, which reads the placement as plainly.</summary>
    [Property(MaxTest = 40, Replay = "(4242,77)")]
    public void Ou_placements_equal_reference(DoNotSize<int> seed)
    {
        bool bitCount = seed.Item % 2 == 0 && seed.Item % 5 != 4;
        var c = bitCount ? SimCases.RandomBitCount(seed.Item) : SimCases.Random(seed.Item, effects: seed.Item % 5 == 4 ? Effects.ReadNoise : Effects.None);
        var geometry = LayerGeometry.For(c.Config, c.K, c.N);
        var rng = new Random(seed.Item);
        int ouIds = geometry.ColumnTileCount * geometry.OusPerColumnTile, arrays = 1 + rng.Next(4);
        var arrayOf = Enumerable.Range(0, geometry.RowGroupCount * ouIds).Select(_ => rng.Next(-1, arrays)).ToArray();
        var steps = c.Program.AdcSteps is { Count: > 1 } many ? [many[0]] : c.Program.AdcSteps;
        // A precision table of random entries per row group: its reads are counted per streamed round, as the reference counts them.
        var index = new PrecisionIndex(1 + rng.Next(4), Enumerable.Range(0, geometry.RowGroupCount).Select(_ => rng.Next(5)).ToArray());
        c = c with { Program = c.Program with { Placement = new OuPlacement(arrays, arrayOf), PrecisionIndex = index, AdcSteps = steps, ReferenceAdcSteps = null } };
        var paths = AssertMatchesReference(c, seed.Item % 3 == 0 ? new HashedDigitPolicy() : null);
        Assert.Contains(SimulationPath.Conductance, paths);
        if (bitCount) Assert.Contains(SimulationPath.BitCount, paths);
    }

    [Fact]
    public void Ou_placements_refuse_steps_per_array_and_leave_unread_ous_lossy_only_where_they_hold_levels()
    {
        var config = CrossbarConfig.Create(new CrossbarSettings
        {
            Rows = 18, Cols = 16, OuRows = 9, OuCols = 4, CellBits = 1, DacBits = 1, AdcBits = 4, WeightEncoding = WeightEncoding.Differential,
            ColumnFlip = false, WeightBits = 3, ActivationBits = 2, ColumnLayout = ColumnLayout.SliceMajor,
        });
        // K = 9, N = 4: one row group; slice-major OUs: G+ bit 0, G+ bit 1, G− bit 0, G− bit 1 of the 4 columns.
        var weights = Enumerable.Repeat(1, 36).ToArray(); // only G+ bit 0 holds levels
        var geometry = LayerGeometry.For(config, 9, 4);
        Assert.Equal((1, 4), (geometry.RowGroupCount, geometry.ColumnTileCount * geometry.OusPerColumnTile));
        var held = ProgrammedLayer.Program(config, weights, 9, 4, new ProgramOptions { Placement = new OuPlacement(1, [0, -1, -1, -1]) });
        Assert.True(held.IsLossless);
        var events = held.Run(new byte[] { 1, 2, 3, 1, 2, 3, 1, 2, 3 }, new double[4], 1);
        Assert.Equal((2L, 2L, 6L), (events.OuReads, events.CriticalPathOuReads, events.OuSkippedReads)); // 1 OU × 2 digits
        var dropped = ProgrammedLayer.Program(config, weights, 9, 4, new ProgramOptions { Placement = new OuPlacement(1, [-1, 0, 0, 0]) });
        Assert.False(dropped.IsLossless);
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(config, weights, 9, 4,
            new ProgramOptions { Placement = new OuPlacement(2, [0, 1, -1, -1]), AdcSteps = [1.0, 2.0] }));
        Assert.Throws<ArgumentException>(() => ProgrammedLayer.Program(config, weights, 9, 4, new ProgramOptions { Placement = new OuPlacement(1, [0, 0]) }));
    }

    [Fact]
    public void Digit_policies_and_ou_skips_equal_reference()
    {
        for (int seed = 0; seed < 16; seed++)
        {
            // Even seeds take the bit-count path, so it too is compared under the digit policy and the OU skips.
            var c = seed % 2 == 0
                ? SimCases.RandomBitCount(500 + seed)
                : SimCases.Random(500 + seed, effects: seed % 4 == 3 ? Effects.ReadNoise : Effects.None);
            if (seed % 2 == 0) Assert.True(c.Programmed().Supports(SimulationPath.BitCount), c.ToString());
            var skip = OuSkip.Where(ou => ou.AllLevelsZero || (ou.RowGroup + ou.Ou) % 3 == 0);
            AssertMatchesReference(c, new HashedDigitPolicy(), skip);
        }
    }

    /// <summary>Two's-complement inputs (the first layer's normalised image): every digit read as for the
    /// unsigned pattern, the sign digit subtracted.</summary>
    [Fact]
    public void Signed_activations_equal_reference_with_non_idealities_and_digit_policies()
    {
        int tested = 0;
        for (int seed = 0; tested < 24; seed++)
        {
            var c = SimCases.Random(3000 + seed, effects: seed % 5 == 4 ? Effects.All : Effects.None, bitCount: seed % 3 == 0);
            if ((c.Config.ActivationBits - 1) % c.Config.DacBits != 0) continue;
            AssertMatchesReference(c, seed % 2 == 0 ? null : new HashedDigitPolicy(), signed: true);
            tested++;
        }
    }

    [Property(MaxTest = 60, Replay = "(4242,99)")]
    public void Signed_lossless_layers_equal_the_signed_integer_product(DoNotSize<int> seed)
    {
        var c = SimCases.Random(seed.Item, lossless: true);
        if ((c.Config.ActivationBits - 1) % c.Config.DacBits != 0) return;
        var expected = SimCases.SignedIntegerProduct(c);
        var layer = c.Programmed();
        foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            SimCases.AssertIdentical(expected, SimCases.Run(layer, c, path, SimCases.Widths[0], signed: true).Output, $"{path} {c}");
    }

    [Fact]
    public void Signed_activations_need_the_sign_bit_as_a_digit_of_its_own()
    {
        var config = CrossbarConfig.Create(new CrossbarSettings { Rows = 8, Cols = 8, OuRows = 8, OuCols = 8, DacBits = 2, ActivationBits = 8, AdcBits = 0 });
        var layer = ProgrammedLayer.Program(config, new int[8], 8, 1);
        var e = Assert.Throws<ArgumentException>(() => layer.Run(new byte[8], new double[1], 1, null, new RunOptions { SignedActivations = true }));
        Assert.Contains("sign bit", e.Message);
    }

    [Fact]
    public void Skipping_all_zero_ous_keeps_a_lossless_layer_lossless()
    {
        for (int seed = 0; seed < 10; seed++)
        {
            var c = SimCases.Random(700 + seed, lossless: true);
            var sparse = c with { Weights = c.Weights.Select((w, i) => i % 3 == 0 ? w : 0).ToArray(), Program = c.Program with { OuSkip = OuSkip.AllZero } };
            if (sparse.Config.WeightEncoding == WeightEncoding.Offset) continue; // offset codes of 0 are not zero levels
            var layer = sparse.Programmed();
            Assert.True(layer.IsLossless);
            SimCases.AssertIdentical(SimCases.IntegerProduct(sparse), SimCases.Run(layer, sparse, null).Output, sparse.ToString());
        }
    }

    /// <summary>A deterministic, data-dependent digit schedule (drops digits by a hash of pixel and group).</summary>
    internal sealed class HashedDigitPolicy : IInputDigitPolicy
    {
        public void SelectDigits(long pixel, ReadOnlySpan<byte> activations, LayerGeometry geometry, Span<uint> digitMasks)
        {
            for (int g = 0; g < digitMasks.Length; g++)
                digitMasks[g] = (uint)(SimRandom.Mix((ulong)(pixel * 131 + g) ^ activations[geometry.GroupStart[g]]) & ((1u << geometry.Digits) - 1));
        }
    }
}
