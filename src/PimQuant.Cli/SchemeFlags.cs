using System.CommandLine;
using PimQuant.Experiments;
using PimQuant.Methods.Bwq;
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
        Description = "CIMQ's parts: default (all but array), all, none, or a comma-separated list of sparsity (bit-sparse activation scales, zero digits skipped), array (array-wise weight scales), clip (learned ADC clipping; needs --adc-step calibrated), qdrop (QDrop reconstruction)",
        DefaultValueFactory = _ => "default",
    };

    private readonly string[] _schemes;

    /// <summary>The flags of every simulated method's scheme, or of those named (<c>redy</c>, <c>cimq</c>, <c>bwq</c>): a command whose
    /// work a method cannot change (ReDy's run-time digits do not change a quantized model) does not offer it. BWQ, whose model
    /// carries its own precision, is named by the commands that make that model.</summary>
    public SchemeFlags(params string[] schemes)
    {
        _schemes = schemes.Length == 0 ? ["redy", "cimq"] : schemes;
        Scheme.AcceptOnlyFromAmong(["conventional", .. _schemes]);
        Scheme.Description = "The method applied: conventional (none)" + string.Concat(_schemes.Select(m => m switch
        {
            "redy" => ", redy (dynamic activation precision on the crossbars, docs/methods/redy.md)",
            "bwq" => ", bwq (bit-plane weights with a precision per 9x8 block, for bwq-h; docs/methods/bwq.md)",
            _ => ", cimq (bit-sparse activations, array-wise weights, learned ADC clipping, QDrop; docs/methods/cimq.md)",
        }));
        RedyHeuristic.AcceptOnlyFromAmong([.. ReDyScheme.HeuristicNames]);
        RedyGroup.AcceptOnlyFromAmong("array", "ou");
    }

    /// <summary>Adds every flag to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Scheme);
        if (_schemes.Contains("redy")) foreach (var option in new Option[] { RedyHeuristic, RedyThreshold, RedyDigits, RedyGroup, RedyRound }) command.Options.Add(option);
        if (_schemes.Contains("cimq")) command.Options.Add(CimqParts);
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
                "bwq" => BwqScheme.Parts,
                _ => null,
            };
        }
        catch (ArgumentException e) { throw new UserError($"--{scheme}-*: {e.Message}", ExitCodes.Usage); }
    }
}
