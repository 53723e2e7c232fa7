namespace PimQuant.Experiments.Search;

/// <summary>
/// The random-search baseline: every dimension's choice drawn uniformly and independently on every trial, with
/// replacement (a candidate drawn again is answered from the run's cache). Trial t's draws are a pure function of
/// (seed, t, dimension), so the sequence depends on nothing else, rewards included.
/// </summary>
public sealed class RandomSearch(SearchSpace space, long seed) : ISearchStrategy
{
    private readonly SearchSpace _space = space ?? throw new ArgumentNullException(nameof(space));
    private long _trial;

    /// <inheritdoc/>
    public string Description => $"random seed {seed}";

    /// <inheritdoc/>
    public Candidate Next()
    {
        Span<int> indices = stackalloc int[_space.Dimensions.Count];
        for (int d = 0; d < indices.Length; d++) indices[d] = Draw(_trial, d, _space.Dimensions[d].Choices.Count);
        _trial++;
        return _space.At(indices);
    }

    /// <inheritdoc/>
    public void Report(Candidate candidate, double reward)
    {
        // Random search proposes without looking at rewards.
    }

    /// <summary>A uniform index in [0, <paramref name="count"/>) for (seed, trial, dimension): counter-based, no state to
    /// save; rejection of the incomplete top stretch of the 64-bit range avoids modulo bias.</summary>
    private int Draw(long trial, int dimension, int count)
    {
        ulong stream = Mix(Mix(Mix((ulong)seed) ^ (ulong)trial) ^ (ulong)dimension);
        ulong n = (ulong)count, threshold = (0 - n) % n;
        for (ulong attempt = 0; ; attempt++)
        {
            ulong r = Mix(stream + attempt * 0x9E3779B97F4A7C15UL);
            if (r >= threshold) return (int)(r % n);
        }
    }

    /// <summary>The SplitMix64 finaliser (Steele, Lea and Flood): a bijection of 64-bit words that mixes every input bit into every output bit.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
