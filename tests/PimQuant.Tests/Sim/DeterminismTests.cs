using PimQuant.Sim;

namespace PimQuant.Tests.Sim;

/// <summary>Same seed, same bits; thread count, block size, batching and vector width never change a result.</summary>
public class DeterminismTests
{
    private static SimCase NoisyCase(int seed) => SimCases.Random(seed, effects: Effects.All);

    [Fact]
    public void Same_seed_gives_identical_output_and_another_seed_differs()
    {
        var c = NoisyCase(42);
        var first = SimCases.Run(c.Programmed(), c, null).Output;
        var again = SimCases.Run(c.Programmed(), c, null).Output;
        SimCases.AssertIdentical(first, again, "same seed");
        var reseeded = c with { Program = c.Program with { Seed = c.Program.Seed + 1 } };
        Assert.NotEqual(first, SimCases.Run(reseeded.Programmed(), reseeded, null).Output);
    }

    [Fact]
    public void Thread_count_and_block_size_do_not_change_results()
    {
        for (int seed = 0; seed < 6; seed++)
        {
            var c = SimCases.Random(300 + seed, effects: seed % 2 == 0 ? Effects.All : Effects.None, bitCount: seed % 3 == 0);
            var layer = c.Programmed(new SimConfiguration { MaxDegreeOfParallelism = 1 });
            var other = c.Programmed(new SimConfiguration { MaxDegreeOfParallelism = 2 });
            foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            {
                var single = SimCases.Run(layer, c, path, new SimConfiguration { MaxDegreeOfParallelism = 1, PixelsPerBlock = 1 });
                var parallel = SimCases.Run(other, c, path, new SimConfiguration { MaxDegreeOfParallelism = 2, PixelsPerBlock = 4 });
                SimCases.AssertIdentical(single.Output, parallel.Output, $"{path} {c}");
                Assert.Equal(single.Events, parallel.Events);
            }
        }
    }

    [Fact]
    public void Batches_keyed_by_first_pixel_equal_one_run()
    {
        var c = SimCases.Random(77, effects: Effects.ReadNoise);
        var layer = c.Programmed();
        var whole = SimCases.Run(layer, c, null).Output;
        int split = c.Pixels / 2;
        var y = new double[c.Pixels * c.N];
        layer.Run(c.Activations.AsMemory(0, split * c.K), y.AsMemory(0, split * c.N), split, SimConfiguration.Default, new RunOptions());
        layer.Run(c.Activations.AsMemory(split * c.K), y.AsMemory(split * c.N), c.Pixels - split, SimConfiguration.Default, new RunOptions { FirstPixel = split });
        SimCases.AssertIdentical(whole, y, "two batches");
    }

    [Fact]
    public void Vector512_disabled_equals_enabled()
    {
        for (int seed = 0; seed < 12; seed++)
        {
            var c = SimCases.Random(900 + seed, effects: seed % 4 == 0 ? Effects.All : Effects.None, bitCount: seed % 2 == 0, lossless: seed % 5 == 0);
            var layer = c.Programmed();
            foreach (var path in SimCases.AllPaths.Where(layer.Supports))
            {
                var wide = SimCases.Run(layer, c, path, new SimConfiguration { SimdWidth = SimdWidth.Vector512 });
                var narrow = SimCases.Run(layer, c, path, new SimConfiguration { SimdWidth = SimdWidth.Vector256 });
                var scalar = SimCases.Run(layer, c, path, new SimConfiguration { SimdWidth = SimdWidth.Scalar });
                SimCases.AssertIdentical(wide.Output, narrow.Output, $"{path} 512 vs 256");
                SimCases.AssertIdentical(wide.Output, scalar.Output, $"{path} 512 vs scalar");
            }
        }
    }
}
