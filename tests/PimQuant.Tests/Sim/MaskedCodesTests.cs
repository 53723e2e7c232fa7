using FsCheck;
using FsCheck.Xunit;
using PimQuant.Sim;
using PimQuant.Sim.Kernels;

namespace PimQuant.Tests.Sim;

/// <summary>The exact path's fused masking and digit count (<see cref="MaskedCodes"/>) equals its scalar reference at every
/// vector width, on random row counts (tails of every length), keeps, DAC widths and activation bits.</summary>
public class MaskedCodesTests
{
    [Property(MaxTest = 80, Replay = "(24680,1357)")]
    public void The_vector_pass_equals_the_scalar_reference(DoNotSize<int> seed)
    {
        var rng = new Random(seed.Item);
        int rows = rng.Next(1, 300), dacBits = rng.Next(4) switch { 0 => 2, 1 => 3, _ => 1 }, bits = rng.Next(2, 9);
        int digits = (bits + dacBits - 1) / dacBits;
        var row = Enumerable.Range(0, rows).Select(_ => (byte)rng.Next(1 << bits)).ToArray();
        byte keep = (byte)rng.Next(256), flip = rng.Next(2) == 0 ? (byte)0 : (byte)(1 << (bits - 1));
        var expectedCodes = new byte[rows];
        var expectedCounts = new int[digits];
        MaskedCodes.ApplyScalar(row, expectedCodes, keep, flip, dacBits, digits, expectedCounts, count: true);
        foreach (var configuration in SimCases.Widths)
        {
            // Stale counts and codes past the rows must be neither read nor touched.
            var codes = Enumerable.Repeat((byte)0xA5, rows + 70).ToArray();
            var counts = Enumerable.Repeat(-7, digits).ToArray();
            MaskedCodes.Apply(row, codes.AsSpan(0, rows), keep, flip, dacBits, digits, counts, count: true, configuration);
            Assert.Equal(expectedCodes, codes[..rows]);
            Assert.All(codes[rows..], b => Assert.Equal(0xA5, b));
            Assert.Equal(expectedCounts, counts);
        }
    }

    [Fact]
    public void Counts_worked_by_hand()
    {
        // Rows 0b1010_0001, 0b0000_0011, 0b1000_0000 under keep 0b1000_0011: digit 0 on two rows, digit 1 on one, digit 7 on two.
        var codes = new byte[3];
        var counts = new int[8];
        MaskedCodes.ApplyScalar([0b1010_0001, 0b0000_0011, 0b1000_0000], codes, 0b1000_0011, 0, 1, 8, counts, count: true);
        Assert.Equal(new byte[] { 0b1000_0001, 0b0000_0011, 0b1000_0000 }, codes);
        // A sign flip changes the codes written, not the digits counted.
        MaskedCodes.ApplyScalar([0b1010_0001, 0b0000_0011, 0b1000_0000], codes, 0b1000_0011, 0b1000_0000, 1, 8, counts, count: true);
        Assert.Equal(new byte[] { 0b0000_0001, 0b1000_0011, 0b0000_0000 }, codes);
        Assert.Equal(new[] { 2, 1, 0, 0, 0, 0, 0, 2 }, counts);
    }
}
