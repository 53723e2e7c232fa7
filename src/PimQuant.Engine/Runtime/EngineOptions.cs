namespace PimQuant.Engine.Runtime;

/// <summary>How libtorch runs: threads, seed and determinism. Validated on construction.</summary>
public sealed record EngineOptions
{
    /// <summary>Creates options; <paramref name="threads"/> 0 means all cores.</summary>
    public EngineOptions(int threads = 0, long seed = 0, bool deterministic = true)
    {
        if (threads < 0) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be 0 (all cores) or positive");
        Threads = threads == 0 ? Environment.ProcessorCount : threads;
        Seed = seed;
        Deterministic = deterministic;
    }

    /// <summary>libtorch intra-op threads.</summary>
    public int Threads { get; }

    /// <summary>Seed of libtorch's generator (weight initialisation, dropout).</summary>
    public long Seed { get; }

    /// <summary>Ask libtorch for deterministic algorithms, so the same seed and threads give identical bits.</summary>
    public bool Deterministic { get; }
}
