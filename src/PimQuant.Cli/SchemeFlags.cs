using System.CommandLine;
using PimQuant.Experiments;
using PimQuant.Methods.Cimq;
using PimQuant.Methods.ReDy;

namespace PimQuant.Cli;

/// <summary>The method flags of the commands that simulate a scheme: <c>--scheme</c> and each method's parameters
/// (docs/cli.md). Parsing only: the parts come from the method's own library entry point.</summary>
public sealed class SchemeFlags
{
    /// <summary>--scheme: the method applied.</summary>
    public Option<string> Scheme { get; } = new("--scheme")
    {
        Description = "The method applied on the crossbars: conventional (none), redy (dynamic activation precision, docs/methods/redy.md) or cimq (bit-sparse activations, array-wise weights, learned ADC clipping, QDrop; docs/methods/cimq.md)",
        DefaultValueFactory = _ => "conventional",
    };

    /// <summary>--redy-heuristic.</summary>
    public Option<string> RedyHeuristic { get; } = new("--redy-heuristic")
    {
        Description = "ReDy's heuristic: lossless (skip all-zero leading and trailing digits), max (keep --redy-threshold digits from the leading one), stats (resolution from mean + k·std)",
        DefaultValueFactory = _ => "lossless",
    };

    /// <summary>--redy-threshold.</summary>
    public Option<double?> RedyThreshold { get; } = CommonOptions.OptionalReal("--redy-threshold",
        $"ReDy's threshold: max: digits kept (default {ReDyScheme.DefaultMaxDigits}); stats: k (default {ReDyScheme.DefaultK})", 0, 255);

    /// <summary>--redy-digits.</summary>
    public Option<int?> RedyDigits { get; } = CommonOptions.OptionalInteger("--redy-digits",
        $"ReDy stats: digits kept at and below the typical magnitude (default {ReDyScheme.DefaultStatisticsDigits})", 1, 8);

    /// <summary>--redy-group.</summary>
    public Option<string> RedyGroup { get; } = new("--redy-group")
    {
        Description = "ReDy's group: array (the rows one crossbar holds) or ou (one OU row group)",
        DefaultValueFactory = _ => "array",
    };

    /// <summary>--redy-round.</summary>
    public Option<bool> RedyRound { get; } = new("--redy-round")
    {
        Description = "ReDy: round the dropped digits to nearest into the kept ones instead of truncating them (max and stats)",
    };

    /// <summary>--cimq-parts.</summary>
    public Option<string> CimqParts { get; } = new("--cimq-parts")
    {
        Description = "CIMQ's parts: all, none, or a comma-separated list of sparsity (bit-sparse activation scales, zero digits skipped), array (array-wise weight scales), clip (learned ADC clipping; needs --adc-step calibrated), qdrop (QDrop reconstruction)",
        DefaultValueFactory = _ => "all",
    };

    /// <summary>The flags.</summary>
    public SchemeFlags()
    {
        Scheme.AcceptOnlyFromAmong("conventional", "redy", "cimq");
        RedyHeuristic.AcceptOnlyFromAmong([.. ReDyScheme.HeuristicNames]);
        RedyGroup.AcceptOnlyFromAmong("array", "ou");
    }

    /// <summary>Adds every flag to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Scheme, RedyHeuristic, RedyThreshold, RedyDigits, RedyGroup, RedyRound, CimqParts }) command.Options.Add(option);
    }

    /// <summary>The method's parts, or null for the conventional scheme; a method flag without its <c>--scheme</c>, or a value the
    /// method refuses, is a usage error naming it.</summary>
    public MethodParts? Read(ParseResult parse)
    {
        bool redyGiven = new Option[] { RedyHeuristic, RedyThreshold, RedyDigits, RedyGroup, RedyRound }.Any(o => parse.GetResult(o) is { Implicit: false });
        bool cimqGiven = parse.GetResult(CimqParts) is { Implicit: false };
        string scheme = parse.GetValue(Scheme)!;
        if (redyGiven && scheme != "redy") throw new UserError("the --redy-* flags set ReDy's parameters: add --scheme redy", ExitCodes.Usage);
        if (cimqGiven && scheme != "cimq") throw new UserError("--cimq-parts sets CIMQ's parts: add --scheme cimq", ExitCodes.Usage);
        try
        {
            return scheme switch
            {
                "redy" => ReDyScheme.FromOptions(parse.GetValue(RedyHeuristic)!, parse.GetValue(RedyThreshold), parse.GetValue(RedyDigits), parse.GetValue(RedyGroup)!, parse.GetValue(RedyRound)),
                "cimq" => CimqScheme.Parts(CimqOptions.Only(parse.GetValue(CimqParts)!.Split(','))),
                _ => null,
            };
        }
        catch (ArgumentException e) { throw new UserError($"--{scheme}-*: {e.Message}", ExitCodes.Usage); }
    }
}
