using PimQuant.Experiments;

namespace PimQuant.Methods.ReDy;

/// <summary>ReDy as the parts it composes into a simulation: its digit policy (docs/methods/redy.md).</summary>
public static class ReDyScheme
{
    /// <summary>The heuristic names <see cref="FromOptions"/> takes.</summary>
    public static readonly IReadOnlyList<string> HeuristicNames = ["lossless", "max", "stats"];

    /// <summary>Threshold of the max-based heuristic when none is given: digits kept below the leading one, included.</summary>
    public const int DefaultMaxDigits = 4;

    /// <summary>Threshold of the statistics heuristic when none is given: k in mean + k·std.</summary>
    public const double DefaultK = 1.0;

    /// <summary>Digits the statistics heuristic keeps at and below the typical magnitude when none are given.</summary>
    public const int DefaultStatisticsDigits = 3;

    /// <summary>The parts of ReDy with <paramref name="heuristic"/> on groups of <paramref name="scope"/>, rounding the dropped
    /// digits to nearest with <paramref name="round"/>.</summary>
    public static MethodParts Parts(ReDyHeuristic heuristic, ReDyGroupScope scope = ReDyGroupScope.ArrayRows, bool round = false)
    {
        var policy = new ReDyPolicy(heuristic, scope, round);
        return new MethodParts("redy", policy.ToString()) { DigitPolicy = policy };
    }

    /// <summary>ReDy from command-line words: a heuristic name (<see cref="HeuristicNames"/>), its threshold (max: digits kept;
    /// stats: k; lossless: none), the statistics heuristic's digits, the group (<c>array</c> or <c>ou</c>) and whether the dropped
    /// digits are rounded to nearest.</summary>
    /// <exception cref="ArgumentException">A name or a value out of range, said as the option's mistake.</exception>
    public static MethodParts FromOptions(string heuristic, double? threshold, int? digits, string group, bool round = false)
    {
        if (round && heuristic == "lossless") throw new ArgumentException("the lossless ReDy rule drops no digit, so there is nothing to round");
        var scope = group switch
        {
            "array" => ReDyGroupScope.ArrayRows,
            "ou" => ReDyGroupScope.OuRows,
            _ => throw new ArgumentException($"ReDy group '{group}': expected array or ou"),
        };
        ReDyHeuristic chosen = heuristic switch
        {
            "lossless" when threshold is null && digits is null => new ReDyHeuristic.Lossless(),
            "lossless" => throw new ArgumentException("the lossless ReDy rule has no threshold or digits"),
            "max" when digits is not null => throw new ArgumentException("the max-based ReDy heuristic takes its digits as the threshold; digits are the statistics heuristic's"),
            "max" when threshold is { } t && (t != Math.Floor(t) || t < 1 || t > 8) => throw new ArgumentException($"the max-based ReDy heuristic's threshold is the digits it keeps, a whole number 1..8, got {t}"),
            "max" => new ReDyHeuristic.MaxBased((int)(threshold ?? DefaultMaxDigits)),
            "stats" => new ReDyHeuristic.StatisticsBased(threshold ?? DefaultK, digits ?? DefaultStatisticsDigits),
            _ => throw new ArgumentException($"ReDy heuristic '{heuristic}': expected one of {string.Join(", ", HeuristicNames)}"),
        };
        return Parts(chosen, scope, round);
    }
}
