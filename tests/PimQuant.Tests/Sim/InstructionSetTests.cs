using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using PimQuant.Sim;

namespace PimQuant.Tests.Sim;

/// <summary>A fact that runs only where AVX-512 F/BW/DQ are on; elsewhere the suite lists it as skipped, with the reason.</summary>
public sealed class RequiresAvx512FactAttribute : FactAttribute
{
    public RequiresAvx512FactAttribute()
    {
        if (!(Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported))
            Skip = "this machine has no AVX-512 F/BW/DQ: the simulator's 512-bit kernels were not exercised (the 256-bit and scalar ones were)";
    }
}

/// <summary>A fact that runs only where AVX2 and FMA are on; elsewhere the suite lists it as skipped, with the reason.</summary>
public sealed class RequiresAvx2FactAttribute : FactAttribute
{
    public RequiresAvx2FactAttribute()
    {
        if (!(Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported))
            Skip = "this machine has no AVX2/FMA: the simulator's 256-bit kernels were not exercised (the scalar ones were)";
    }
}

/// <summary>A fact that runs only where AVX-VNNI is on; elsewhere the suite lists it as skipped, with the reason.</summary>
public sealed class RequiresAvxVnniFactAttribute : FactAttribute
{
    public RequiresAvxVnniFactAttribute()
    {
        if (!(AvxVnni.IsSupported && Vector256.IsHardwareAccelerated))
            Skip = "this machine has no AVX-VNNI: the exact path's byte product was not exercised (its float64 product was)";
    }
}

/// <summary>
/// Which vector kernels the exactness tests reached on this machine. Those tests compare every path against the scalar
/// reference under each of <see cref="SimCases.Widths"/>; a width the machine lacks silently falls back to a narrower
/// kernel, so these facts say what ran: passed means exercised, skipped (with the reason) means not.
/// </summary>
public class InstructionSetTests
{
    [RequiresAvx512Fact]
    public void TheAutoWidthCasesRanThe512BitKernels() => Assert.True(SimCases.Widths[0].Use512);

    [RequiresAvx2Fact]
    public void TheVector256CasesRanThe256BitKernels()
    {
        var narrow = SimCases.Widths[1];
        Assert.Equal(SimdWidth.Vector256, narrow.SimdWidth);
        Assert.False(narrow.Use512);
        Assert.True(narrow.Use256);
    }

    [RequiresAvxVnniFact]
    public void TheVectorCasesRanTheByteProduct()
    {
        Assert.True(PimQuant.Sim.Kernels.ByteProductKernel.Vectorized(SimCases.Widths[0]));
        Assert.True(PimQuant.Sim.Kernels.ByteProductKernel.Vectorized(SimCases.Widths[1]));
        Assert.False(PimQuant.Sim.Kernels.ByteProductKernel.Vectorized(SimCases.Widths[2]));
    }

    [Fact]
    public void TheScalarCasesRanNoVectorKernels()
    {
        var scalar = SimCases.Widths[2];
        Assert.False(scalar.Use512);
        Assert.False(scalar.Use256);
    }
}
