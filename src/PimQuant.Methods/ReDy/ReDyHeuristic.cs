namespace PimQuant.Methods.ReDy;

/// <summary>
/// How ReDy picks the digits one group streams (docs/methods/redy.md). Every heuristic keeps a window of consecutive
/// digits [low, high] of the group's activation codes (a precision high − low + 1 and a shift low, what the hardware
/// computes on the fly): <c>high</c> is always the group's leading non-zero digit, so no large activation is clipped;
/// the heuristics differ in how many trailing digits they drop. Digits outside the window are not read.
/// </summary>
public abstract record ReDyHeuristic
{
    private protected ReDyHeuristic() { }

    /// <summary>The lowest digit to keep, given the lossless window [<paramref name="lowest"/>, <paramref name="highest"/>]
    /// (the group's lowest and highest digits that are non-zero for some row) and the moments of the group's
    /// <paramref name="rows"/> codes.</summary>
    internal abstract int LowestKept(GroupMoments moments, int rows, int lowest, int highest, int digitBits);

    /// <summary>The heuristic reads the group's sums (<see cref="GroupMoments.Sum"/>, <see cref="GroupMoments.Squares"/>),
    /// not only its or.</summary>
    internal virtual bool ReadsSums => false;

    /// <summary>A short name for result rows and plots, e.g. <c>max:4</c>.</summary>
    public abstract string Name { get; }

    /// <summary>Lossless: skip the leading and the trailing digits that are zero for every row of the group. The outputs
    /// equal static precision; only reads of all-zero digits go.</summary>
    public sealed record Lossless : ReDyHeuristic
    {
        internal override int LowestKept(GroupMoments moments, int rows, int lowest, int highest, int digitBits) => lowest;

        /// <inheritdoc/>
        public override string Name => "lossless";
    }

    /// <summary>Max-based: keep <paramref name="Digits"/> digits from the group's leading one down (fewer when the lossless
    /// window is narrower); the rest of every code below them is dropped (truncated).</summary>
    /// <param name="Digits">Digits kept, ≥ 1 (the threshold).</param>
    public sealed record MaxBased(int Digits) : ReDyHeuristic
    {
        internal override int LowestKept(GroupMoments moments, int rows, int lowest, int highest, int digitBits) =>
            Math.Max(lowest, highest - Digits + 1);

        /// <inheritdoc/>
        public override string Name => $"max:{Digits}";
    }

    /// <summary>Statistics-based: the group's typical magnitude r = mean + <paramref name="K"/>·std of its codes sets the
    /// resolution: digits more than <paramref name="Digits"/> − 1 below r's leading digit are dropped, so a group whose values
    /// are mostly small keeps its fine digits and one with a few outliers keeps those outliers' leading digits and only
    /// as many digits below the typical magnitude as asked.</summary>
    /// <param name="K">Standard deviations above the mean (the threshold), ≥ 0.</param>
    /// <param name="Digits">Digits kept at and below r's leading digit, ≥ 1.</param>
    public sealed record StatisticsBased(double K, int Digits) : ReDyHeuristic
    {
        internal override bool ReadsSums => true;

        internal override int LowestKept(GroupMoments moments, int rows, int lowest, int highest, int digitBits)
        {
            // Integer sums (GroupMoments) are exact and cheaper than float ones.
            double mean = (double)moments.Sum / rows, std = Math.Sqrt(Math.Max(0, (double)moments.Squares / rows - mean * mean));
            int typical = (int)Math.Min(255, Math.Floor(mean + K * std));
            int lead = typical == 0 ? 0 : (31 - int.LeadingZeroCount(typical)) / digitBits;
            return Math.Clamp(lead - Digits + 1, lowest, highest);
        }

        /// <inheritdoc/>
        public override string Name => $"stats:{K:0.##}:{Digits}";
    }

    /// <summary>Checks the parameters.</summary>
    /// <exception cref="ArgumentException">A threshold out of range, named.</exception>
    public void Validate()
    {
        switch (this)
        {
            case MaxBased { Digits: < 1 } m: throw new ArgumentException($"ReDy max-based heuristic: digits must be ≥ 1, got {m.Digits}");
            case StatisticsBased { Digits: < 1 } s: throw new ArgumentException($"ReDy statistics heuristic: digits must be ≥ 1, got {s.Digits}");
            case StatisticsBased s when !(s.K >= 0) || double.IsInfinity(s.K): throw new ArgumentException($"ReDy statistics heuristic: k must be a finite value ≥ 0, got {s.K}");
        }
    }
}
