using FsCheck;
using FsCheck.Xunit;
using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Methods.ReDy;
using PimQuant.Sim;
using PimQuant.Tests.Sim;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;

namespace PimQuant.Tests.Methods.ReDy;

/// <summary>ReDy's digit policy on the simulator: the lossless rule is static precision with fewer reads, the counts
/// follow the masks, and the exact (fast) path equals the read-by-read paths under the same masks.</summary>
public class ReDyPolicyTests
{
    private static readonly ReDyHeuristic[] Heuristics =
        [new ReDyHeuristic.Lossless(), new ReDyHeuristic.MaxBased(3), new ReDyHeuristic.StatisticsBased(1.0, 2)];

    [Fact]
    public void Windows_worked_by_hand()
    {
        // 0b1011_0000 and 0b0000_0110: non-zero digits 1..7 (1-bit digits).
        byte[] codes = [0b1011_0000, 0b0000_0110];
        Assert.Equal(0b1111_1110u, new ReDyPolicy(new ReDyHeuristic.Lossless()).Window(codes, 1));
        Assert.Equal(0b1100_0000u, new ReDyPolicy(new ReDyHeuristic.MaxBased(2)).Window(codes, 1));
        // mean 91, std 85 (population): r = 91 + 0.5·85 = 133.5 → 133, leading digit 7; 3 digits → 5..7.
        Assert.Equal(0b1110_0000u, new ReDyPolicy(new ReDyHeuristic.StatisticsBased(0.5, 3)).Window(codes, 1));
        // k = 0: r = 91, leading digit 6; 3 digits → 4..7 (the window keeps the leading digit 7).
        Assert.Equal(0b1111_0000u, new ReDyPolicy(new ReDyHeuristic.StatisticsBased(0, 3)).Window(codes, 1));
        // 2-bit digits: 176 has digits 2 and 3 non-zero, 6 digits 0 and 1: the window is 0..3.
        Assert.Equal(0b1111u, new ReDyPolicy(new ReDyHeuristic.Lossless()).Window(codes, 2));
        Assert.Equal(0b1000u, new ReDyPolicy(new ReDyHeuristic.MaxBased(1)).Window(codes, 2));
        Assert.Equal(0u, new ReDyPolicy(new ReDyHeuristic.MaxBased(1)).Window([0, 0, 0], 1));
        // Trailing zero digits go too: 0b0110_0000 reads digits 5 and 6 only.
        Assert.Equal(0b0110_0000u, new ReDyPolicy(new ReDyHeuristic.Lossless()).Window([0b0110_0000, 0b0100_0000], 1));
    }

    [Fact]
    public void Rounding_worked_by_hand()
    {
        var geometry = HandSized(0).Programmed().Geometry;
        var round = new ReDyPolicy(new ReDyHeuristic.MaxBased(2), ReDyGroupScope.OuRows, round: true);
        Assert.True(round.RewritesCodes);
        Assert.False(new ReDyPolicy(new ReDyHeuristic.Lossless(), round: true).RewritesCodes);
        Assert.Equal("redy max:2 ou round", round.ToString());
        // Group 0 (rows 0..3): 183 = 0b1011_0111 and 6 keep digits 6..7: 183 + 32 = 215 → 192 (truncation gives 128), 6 → 0;
        // 255 would carry past the window: it saturates at 192, the largest code digits 6..7 hold.
        byte[] codes = new byte[20];
        (codes[0], codes[1], codes[2]) = (183, 6, 255);
        // Group 1 (rows 4..7), signed: −1 (0xFF) and −96 (0b1010_0000) keep digits 6..7 (the sign digit included):
        // (−1 + 32) >> 6 = 0 → 0; (−96 + 32) >> 6 = −1 → −64 (0b1100_0000).
        round.Rewrite(0, codes, geometry, signed: false);
        Assert.Equal(new byte[] { 192, 0, 192, 0 }, codes[..4]);
        byte[] signed = new byte[20];
        (signed[4], signed[5]) = (0xFF, 0b1010_0000);
        round.Rewrite(0, signed, geometry, signed: true);
        Assert.Equal(new byte[] { 0, 0b1100_0000 }, signed[4..6]);
        // The digits then streamed are the rewritten codes' window.
        Assert.Equal(0b1100_0000u, round.Window(codes.AsSpan(0, 4), 1));
    }

    [Property(MaxTest = 40, Replay = "(8642,9753)")]
    public void A_rounding_policy_is_the_lossless_rule_on_the_rounded_codes(DoNotSize<int> seed)
    {
        var c = Sparse(SimCases.Random(seed.Item, lossless: seed.Item % 2 == 0));
        var layer = c.Programmed();
        bool signed = seed.Item % 3 == 0 && (c.Config.ActivationBits - 1) % c.Config.DacBits == 0;
        var round = new ReDyPolicy(Heuristics[1 + seed.Item % 2], seed.Item % 5 == 0 ? ReDyGroupScope.OuRows : ReDyGroupScope.ArrayRows, round: true);
        var rounded = (byte[])c.Activations.Clone();
        for (int p = 0; p < c.Pixels; p++) round.Rewrite(p, rounded.AsSpan(p * c.K, c.K), layer.Geometry, signed);
        var lossless = new ReDyPolicy(new ReDyHeuristic.Lossless(), round.Scope);
        foreach (var path in SimCases.AllPaths.Where(layer.Supports))
        {
            var (actual, events) = SimCases.Run(layer, c, path, policy: round, signed: signed);
            var (expected, expectedEvents) = SimCases.Run(layer, c with { Activations = rounded }, path, policy: lossless, signed: signed);
            SimCases.AssertIdentical(expected, actual, $"{path} {round} signed={signed} {c}");
            Assert.Equal(expectedEvents, events);
        }
    }

    [Fact]
    public void Thresholds_out_of_range_are_refused_by_name()
    {
        Assert.Contains("digits must be ≥ 1", Assert.Throws<ArgumentException>(() => new ReDyPolicy(new ReDyHeuristic.MaxBased(0))).Message);
        Assert.Contains("k must be", Assert.Throws<ArgumentException>(() => new ReDyPolicy(new ReDyHeuristic.StatisticsBased(-1, 2))).Message);
        Assert.Contains("k must be", Assert.Throws<ArgumentException>(() => new ReDyPolicy(new ReDyHeuristic.StatisticsBased(double.NaN, 2))).Message);
    }

    [Property(MaxTest = 60, Replay = "(2468,1357)")]
    public void The_lossless_rule_equals_static_precision_with_no_more_reads(DoNotSize<int> seed)
    {
        // Every effect but read noise: a read of all-zero digits draws no current, so skipping it changes nothing.
        var effects = new[] { Effects.None, Effects.Variation | Effects.Leakage | Effects.Faults }[seed.Item & 1];
        var c = SimCases.Random(seed.Item, lossless: seed.Item % 3 == 0, effects: effects);
        var layer = c.Programmed();
        foreach (var scope in new[] { ReDyGroupScope.OuRows, ReDyGroupScope.ArrayRows })
        {
            var policy = new ReDyPolicy(new ReDyHeuristic.Lossless(), scope);
            foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            {
                var (expected, events) = SimCases.Run(layer, c, path);
                var (actual, redy) = SimCases.Run(layer, c, path, policy: policy);
                SimCases.AssertIdentical(expected, actual, $"{path} {scope} {c}");
                Assert.True(redy.OuReads <= events.OuReads, $"{path} {scope}: {redy.OuReads} reads against {events.OuReads}");
                Assert.Equal(events.OuReads, redy.OuReads + redy.DigitSkippedReads);
            }
        }
    }

    [Fact]
    public void The_lossless_rule_saves_reads_on_sparse_activations()
    {
        var c = Sparse(SimCases.Random(11, lossless: true));
        var layer = c.Programmed();
        var (_, events) = SimCases.Run(layer, c, null);
        var (_, redy) = SimCases.Run(layer, c, null, policy: new ReDyPolicy(new ReDyHeuristic.Lossless()));
        Assert.True(redy.OuReads < events.OuReads, $"{redy.OuReads} reads against {events.OuReads}");
    }

    /// <summary>A hand-sized dense layer: K = 20 rows on 16-row arrays with 4 × 4 OUs (row groups 4, 4, 4, 4 | 4),
    /// N = 6 weights of 4 bits on 2-bit cells (2 slices, offset encoding: 12 bitlines in one column tile, 3 OUs per row
    /// group), 8-bit activations on a 1-bit DAC (8 digits).</summary>
    private static SimCase HandSized(int seed)
    {
        var rng = new Random(seed);
        var config = CrossbarConfig.Create(new CrossbarSettings
        {
            Rows = 16, Cols = 16, OuRows = 4, OuCols = 4, CellBits = 2, DacBits = 1, AdcBits = 0, AdcStep = AdcStep.Unit,
            WeightEncoding = WeightEncoding.Offset, ColumnFlip = false, WeightBits = 4, ActivationBits = 8,
        });
        const int K = 20, N = 6, Pixels = 7;
        var weights = Enumerable.Range(0, K * N).Select(_ => rng.Next(-8, 8)).ToArray();
        // Activations of varied magnitude (as after ReLU): many small, some zero, a few large.
        var activations = Enumerable.Range(0, K * Pixels).Select(_ => (byte)(rng.Next(4) == 0 ? 0 : rng.Next(1 << rng.Next(1, 9)))).ToArray();
        return new SimCase(config, weights, K, N, activations, Pixels, new ProgramOptions());
    }

    [Theory]
    [InlineData(ReDyGroupScope.OuRows)]
    [InlineData(ReDyGroupScope.ArrayRows)]
    public void Counted_reads_and_conversions_equal_a_brute_force_count_over_the_vectors(ReDyGroupScope scope)
    {
        int[] groupStart = [0, 4, 8, 12, 16], groupRows = [4, 4, 4, 4, 4], groupTile = [0, 0, 0, 0, 1];
        const int OusPerGroup = 3, Bitlines = 12, Digits = 8;
        foreach (var heuristic in Heuristics)
            for (int seed = 0; seed < 4; seed++)
            {
                var c = HandSized(seed);
                var layer = c.Programmed();
                Assert.Equal(groupStart, layer.Geometry.GroupStart.ToArray());
                long reads = 0, conversions = 0;
                for (int p = 0; p < c.Pixels; p++)
                {
                    var vector = c.Activations.AsSpan(p * c.K, c.K);
                    for (int g = 0; g < groupStart.Length; g++)
                    {
                        // The group's rows: its own, or every row of its array.
                        var rows = scope == ReDyGroupScope.OuRows ? vector.Slice(groupStart[g], groupRows[g])
                            : groupTile[g] == 0 ? vector[..16] : vector[16..];
                        int kept = KeptDigits(rows.ToArray(), heuristic, Digits);
                        reads += kept * OusPerGroup;
                        conversions += kept * Bitlines;
                    }
                }
                foreach (var path in SimCases.AllPaths.Where(layer.Supports))
                {
                    var (_, events) = SimCases.Run(layer, c, path, policy: new ReDyPolicy(heuristic, scope));
                    Assert.True(reads == events.OuReads, $"{heuristic.Name} {scope} {path}: {events.OuReads} reads counted, {reads} by hand");
                    Assert.True(conversions == events.AdcConversions, $"{heuristic.Name} {scope} {path}: {events.AdcConversions} conversions counted, {conversions} by hand");
                    Assert.Equal((long)c.Pixels * groupStart.Length * Digits * OusPerGroup, events.OuReads + events.DigitSkippedReads);
                    // The selector examines every input of every pixel once, however the inputs are grouped.
                    Assert.Equal((long)c.Pixels * c.K, events.DigitSelections);
                }
            }
    }

    [Fact]
    public void The_selector_is_counted_only_under_a_policy_and_priced_by_the_presets()
    {
        var c = HandSized(0);
        var layer = c.Programmed();
        Assert.Equal(0, SimCases.Run(layer, c, null).Events.DigitSelections);
        foreach (var preset in new[] { "isaac", "isaac-ou", "bwq-h" })
            Assert.Equal(0.18, EnergyTable.From(PresetCatalog.Load(preset)).PerEventPj(EventKind.DigitSelection), 12);
    }

    /// <summary>The digits a heuristic keeps for one group, worked out plainly from the digit values (1-bit digits).</summary>
    private static int KeptDigits(byte[] rows, ReDyHeuristic heuristic, int digits)
    {
        var nonzero = Enumerable.Range(0, digits).Where(t => rows.Any(a => (a >> t & 1) != 0)).ToArray();
        if (nonzero.Length == 0) return 0;
        int high = nonzero.Max(), low = nonzero.Min();
        int kept = heuristic switch
        {
            ReDyHeuristic.MaxBased m => Math.Max(low, high - m.Digits + 1),
            ReDyHeuristic.StatisticsBased s => Math.Clamp(Lead(rows.Average(a => (double)a) + s.K * StdDev(rows)) - s.Digits + 1, low, high),
            _ => low,
        };
        return high - kept + 1;

        static int Lead(double r) => r < 1 ? 0 : (int)Math.Floor(Math.Log2(Math.Floor(Math.Min(255, r))));
        static double StdDev(byte[] v)
        {
            double mean = v.Average(a => (double)a);
            return Math.Sqrt(v.Average(a => (a - mean) * (a - mean)));
        }
    }

    [Property(MaxTest = 60, Replay = "(97531,8643)")]
    public void The_exact_path_equals_the_read_by_read_paths_under_the_same_masks(DoNotSize<int> seed)
    {
        var c = Sparse(SimCases.Random(seed.Item, lossless: true));
        var layer = c.Programmed();
        Assert.Equal(SimulationPath.Exact, layer.DefaultPath);
        var policy = new ReDyPolicy(Heuristics[1 + seed.Item % 2], seed.Item % 3 == 0 ? ReDyGroupScope.OuRows : ReDyGroupScope.ArrayRows);
        var (fast, fastEvents) = SimCases.Run(layer, c, SimulationPath.Exact, policy: policy);
        var paths = SimCases.AllPaths.Where(p => p != SimulationPath.Exact && layer.Supports(p)).ToArray();
        Assert.Contains(SimulationPath.Conductance, paths);
        foreach (var path in paths)
        {
            var (slow, slowEvents) = SimCases.Run(layer, c, path, policy: policy);
            SimCases.AssertIdentical(slow, fast, $"{path} against the exact path, {policy.Heuristic.Name} {policy.Scope} {c}");
            Assert.Equal(slowEvents, fastEvents);
        }
    }

    /// <summary>The case with ReLU-like activations: a quarter zero, the rest of varied magnitude.</summary>
    private static SimCase Sparse(SimCase c)
    {
        var rng = new Random(c.K * 31 + c.N);
        int bits = c.Config.ActivationBits;
        return c with { Activations = c.Activations.Select(_ => (byte)(rng.Next(4) == 0 ? 0 : rng.Next(1 << rng.Next(1, bits + 1)))).ToArray() };
    }
}
