namespace PimQuant.Data;

/// <summary>xoshiro256** (Blackman and Vigna), seeded through SplitMix64. Used instead of
/// <see cref="System.Random"/>, whose algorithm is unspecified and may change between .NET versions,
/// because shuffles and augmentations must be reproducible bit for bit.</summary>
internal struct Xoshiro256StarStar
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Creates a generator from its raw state, which must not be all zero.</summary>
    public Xoshiro256StarStar(ulong s0, ulong s1, ulong s2, ulong s3)
    {
        if ((s0 | s1 | s2 | s3) == 0) throw new ArgumentException("the state of xoshiro256** must not be all zero");
        (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
    }

    /// <summary>A generator whose stream is a pure function of the keys, e.g. (seed, purpose, epoch,
    /// position). The keys are hashed one after another with the SplitMix64 finaliser, then SplitMix64
    /// expands the hash into the state, as the xoshiro authors recommend.</summary>
    public static Xoshiro256StarStar FromKeys(params ReadOnlySpan<ulong> keys)
    {
        ulong hash = 0;
        foreach (ulong key in keys) hash = SplitMix64.Mix(hash ^ key);
        var seeder = new SplitMix64(hash);
        // Four consecutive SplitMix64 outputs are never all zero, since its output function is a bijection.
        return new Xoshiro256StarStar(seeder.Next(), seeder.Next(), seeder.Next(), seeder.Next());
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong Next()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform integer in [0, <paramref name="bound"/>), without modulo bias: draws in the
    /// incomplete top stretch of the 64-bit range are rejected.</summary>
    public int NextInt(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bound, 1);
        ulong n = (ulong)bound;
        ulong threshold = (0 - n) % n; // = 2^64 mod n
        while (true)
        {
            ulong r = Next();
            if (r >= threshold) return (int)(r % n);
        }
    }

    /// <summary>A fair coin, from the top bit (the best-mixed one).</summary>
    public bool NextBool() => Next() >> 63 != 0;

    /// <summary>Shuffles <paramref name="items"/> uniformly in place (Fisher–Yates, from the end).</summary>
    public void Shuffle(Span<int> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}

/// <summary>SplitMix64 (Steele, Lea and Flood; Vigna's constants): a 64-bit counter passed through a
/// mixing function. Used for seeding xoshiro256** and for hashing keys.</summary>
internal struct SplitMix64(ulong state)
{
    private const ulong Gamma = 0x9E3779B97F4A7C15;
    private ulong _state = state;

    /// <summary>The next output.</summary>
    public ulong Next()
    {
        _state += Gamma;
        return Finalize(_state);
    }

    /// <summary>One step from <paramref name="value"/> as a state: a bijective 64-bit hash.</summary>
    public static ulong Mix(ulong value) => Finalize(value + Gamma);

    private static ulong Finalize(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
