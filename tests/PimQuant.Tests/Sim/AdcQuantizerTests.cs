using System.Runtime.Intrinsics;
using PimQuant.Sim.Kernels;

namespace PimQuant.Tests.Sim;

/// <summary>The kernels' ADC (estimate by reciprocal, settle by two fused multiply-adds) equals exact
/// rational rounding, including exact ties and values a hair either side of them.</summary>
public class AdcQuantizerTests
{
    private static readonly double[] Steps = [1, 0.5, 1.5, 2, 1.0 / 3, 0.1, 128.0 / 31, 255.0 / 7, 3.25, 1e-3, 7.0 / 11];

    [Fact]
    public void Scalar_and_vector_codes_equal_exact_rounding()
    {
        var rng = new Random(3);
        foreach (double step in Steps)
            foreach (int fraction in new[] { 0, 5, 16 })
                foreach (int max in new[] { 1, 3, 31, 255, 65535 })
                {
                    var adc = new AdcQuantizer(step, fraction, max);
                    var partialSums = new List<long> { 0, -1, 1, long.MaxValue >> 12, -(1L << 40) };
                    for (int k = 0; k <= Math.Min(max + 2, 300); k++)
                    {
                        // The tie (k − ½)·step·2^F and its integer neighbours.
                        long tie = (long)Math.Round((k - 0.5) * step * Math.Pow(2, fraction));
                        partialSums.AddRange([tie - 1, tie, tie + 1]);
                    }
                    for (int r = 0; r < 200; r++) partialSums.Add(rng.NextInt64(-(1L << 20), 1L << (20 + fraction)));
                    var scaled = Vector512.Create(Math.ScaleB(step, fraction));
                    var reciprocal = Vector512.Create(1.0 / Math.ScaleB(step, fraction));
                    foreach (long p in partialSums)
                    {
                        long expected = CrossbarReference.AdcCode(p, step, fraction, max);
                        Assert.Equal(expected, adc.Code(p));
                        if (Math.Abs(p) >= 1L << 53) continue;
                        var lanes = AdcQuantizer.Code(Vector512.Create((double)p), scaled, reciprocal, Vector512.Create((double)max));
                        Assert.Equal(expected, (long)lanes[3]);
                    }
                }
    }

    [Fact]
    public void Ties_the_reciprocal_misjudges_are_settled()
    {
        // Near ties ⌊P·fl(1/(step·2^F)) + ½⌋ can land one code off; these were found by search (the last
        // lands one too high). Random odd steps add more; require that the corrections were exercised.
        var cases = new List<(double Step, int Fraction, long P)>
        {
            (3953, 5, 4996592), (3123, 14, 11180040192), (1919, 11, 112008192), (7253, 1, 689035),
            (8179, 16, 14204502016), (8095, 11, 4136350720), (6467, 13, 3099193344), (10.444444444444445, 1, 4042),
        };
        var rng = new Random(11);
        for (int r = 0; r < 20000; r++)
        {
            double step = 2 * rng.Next(1, 5000) + 1;
            int fraction = rng.Next(0, 17);
            double tie = (rng.Next(1, 256) - 0.5) * Math.ScaleB(step, fraction);
            cases.Add((step, fraction, (long)Math.Floor(tie)));
            cases.Add((step, fraction, (long)Math.Ceiling(tie)));
        }
        int misjudged = 0;
        foreach (var (step, fraction, p) in cases)
        {
            double scaled = Math.ScaleB(step, fraction);
            long expected = CrossbarReference.AdcCode(p, step, fraction, 255);
            if ((long)Math.Min(Math.Floor(p * (1.0 / scaled) + 0.5), 255) != expected) misjudged++;
            Assert.Equal(expected, new AdcQuantizer(step, fraction, 255).Code(p));
            var lanes = AdcQuantizer.Code(Vector512.Create((double)p), Vector512.Create(scaled), Vector512.Create(1.0 / scaled), Vector512.Create(255.0));
            Assert.Equal(expected, (long)lanes[0]);
        }
        Assert.True(misjudged >= 8, $"only {misjudged} misjudged ties: the corrections went untested");
    }

    [Fact]
    public void Exact_ties_round_up()
    {
        // step 2 at F = 0: p = 1 is ½ step → 1; p = 3 → 1.5 → 2; p = -1 → 0 (clamped).
        var adc = new AdcQuantizer(2, 0, 7);
        Assert.Equal(1, adc.Code(1));
        Assert.Equal(2, adc.Code(3));
        Assert.Equal(0, adc.Code(-1));
        // step 0.1 is not a binary fraction: p = 0.05 (F = 0 cannot hold it) – use F = 20 and P near 0.05·2^20.
        Assert.Equal(CrossbarReference.AdcCode(52429, 0.1, 20, 7), new AdcQuantizer(0.1, 20, 7).Code(52429));
    }
}
