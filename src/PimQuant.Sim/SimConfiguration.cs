using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PimQuant.Sim;

/// <summary>The widest vectors the kernels may use.</summary>
public enum SimdWidth
{
    /// <summary>The widest the machine accelerates.</summary>
    Auto,
    /// <summary>At most 512-bit vectors.</summary>
    Vector512,
    /// <summary>At most 256-bit vectors (what an AVX2-only machine runs).</summary>
    Vector256,
    /// <summary>No vectors: the portable scalar kernels.</summary>
    Scalar,
}

/// <summary>How the simulator runs (never what it computes): degree of parallelism, vector width,
/// blocking and memory budgets. Passed explicitly to every call, like ImageSharp's Configuration;
/// results are identical for every setting.</summary>
public sealed record SimConfiguration
{
    /// <summary>All cores, widest vectors.</summary>
    public static SimConfiguration Default { get; } = new();

    /// <summary>Worker threads; 0 (default) means <see cref="Environment.ProcessorCount"/>.</summary>
    public int MaxDegreeOfParallelism { get; init; }

    /// <summary>Widest vectors the kernels may use.</summary>
    public SimdWidth SimdWidth { get; init; } = SimdWidth.Auto;

    /// <summary>Pixels (rows of the lowered activation matrix) per parallel work item; the kernels keep
    /// one block's accumulators in cache while a row group's cells are reused across its pixels.</summary>
    public int PixelsPerBlock { get; init; } = 16;

    /// <summary>Largest OU lookup table (bytes, per layer) the narrow-OU path may build; above it the
    /// layer runs on a path that needs no table.</summary>
    public long TableBudgetBytes { get; init; } = 96L << 20;

    internal int Threads => MaxDegreeOfParallelism > 0 ? MaxDegreeOfParallelism : Environment.ProcessorCount;

    internal int BlockPixels => Math.Max(1, PixelsPerBlock);

    /// <summary>512-bit kernels: the width allows them and AVX-512 F/BW/DQ are on.</summary>
    internal bool Use512 => SimdWidth is SimdWidth.Auto or SimdWidth.Vector512
        && Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported;

    /// <summary>256-bit kernels (when 512 is not used): the width allows them and AVX2 + FMA are on.</summary>
    internal bool Use256 => SimdWidth != SimdWidth.Scalar && Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported;

    internal void Validate()
    {
        if (MaxDegreeOfParallelism < 0) throw new ArgumentException("MaxDegreeOfParallelism must be 0 (all cores) or positive");
        if (TableBudgetBytes < 0) throw new ArgumentException("TableBudgetBytes must be ≥ 0");
    }
}
