using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FsCheck;
using FsCheck.Xunit;
using PimQuant.Methods.ReDy;

namespace PimQuant.Tests.Methods.ReDy;

/// <summary>ReDy's vectorized group pass (<see cref="GroupMoments.Of"/>) equals its scalar reference on random group lengths
/// (tails of every length) and codes, small and extreme.</summary>
public class GroupMomentsTests
{
    [Property(MaxTest = 80, Replay = "(11223,44557)")]
    public void The_vector_pass_equals_the_scalar_reference(DoNotSize<int> seed)
    {
        var rng = new Random(seed.Item);
        int length = rng.Next(0, 4) == 0 ? rng.Next(1000, 3000) : rng.Next(1, 300);
        int top = rng.Next(3) switch { 0 => 4, 1 => 256, _ => 64 };
        var codes = Enumerable.Range(0, length).Select(_ => rng.Next(5) == 0 ? (byte)255 : (byte)rng.Next(top)).ToArray();
        foreach (bool sums in new[] { true, false })
        {
            var expected = GroupMoments.OfScalar(codes, sums);
            Assert.Equal(expected, GroupMoments.Of(codes, sums));
            // Each width where the machine has it (Of takes the widest).
            if (Vector256.IsHardwareAccelerated && Avx2.IsSupported) Assert.Equal(expected, GroupMoments.Of256(codes, sums));
            if (Vector512.IsHardwareAccelerated && Avx512BW.IsSupported) Assert.Equal(expected, GroupMoments.Of512(codes, sums));
        }
    }

    [Fact]
    public void Moments_worked_by_hand()
    {
        var codes = Enumerable.Repeat((byte)255, 100).Append((byte)0b0001_0010).ToArray();
        Assert.Equal(new GroupMoments(255, 100 * 255 + 18, 100 * 255 * 255 + 18 * 18), GroupMoments.Of(codes, sums: true));
        Assert.Equal(new GroupMoments(0b0001_0010, 0, 0), GroupMoments.Of(new byte[] { 0b0001_0000, 0b0000_0010 }, sums: false));
    }
}
