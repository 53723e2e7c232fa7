using System.Text.Json;
using System.Text.Json.Nodes;
using PimQuant.Engine.Runtime;

namespace PimQuant.Experiments.Search;

/// <summary>One trial of a search: the candidate proposed, its reward, and whether the reward came from the cache.</summary>
/// <param name="Trial">0-based position in the search.</param>
/// <param name="Candidate">What the strategy proposed.</param>
/// <param name="Reward">Its reward (higher is better).</param>
/// <param name="Cached">True when the candidate had been evaluated before and its reward was reused, not evaluated again.</param>
public sealed record SearchTrial(int Trial, Candidate Candidate, double Reward, bool Cached);

/// <summary>
/// Drives an ask/tell search (<see cref="ISearchStrategy"/>) for its caller, who evaluates candidates:
/// <code>
/// var run = SearchRun.Open(space, new RandomSearch(space, seed), budget, "search.json");
/// while (run.Next() is { } candidate) run.Report(candidate, Evaluate(candidate));
/// </code>
/// It logs every trial, keeps a cache of rewards keyed by the candidate's content (a candidate proposed again is answered
/// from it and never evaluated twice), stops after <c>budget</c> evaluations or when every candidate of the space has
/// been evaluated, and with a state file saves the log atomically after every reported reward. Opened on an existing
/// state file, it recreates the strategy's state by replaying the log into the fresh strategy it is given, so a search
/// stopped at any moment (killed between two rewards, or while one was being evaluated) and opened again evaluates no
/// candidate twice and ends with the log of an uninterrupted search.
/// </summary>
public sealed class SearchRun
{
    private const string Format = "pimquant-search";
    private const int FormatVersion = 1;

    /// <summary>Proposals in a row that hit the cache before the strategy is deemed stuck (it proposes only evaluated candidates).</summary>
    public const int MaxCachedInARow = 1_000_000;

    private readonly SearchSpace _space;
    private readonly ISearchStrategy _strategy;
    private readonly int _budget;
    private readonly string? _statePath;
    private readonly List<SearchTrial> _trials = [];
    private readonly Dictionary<string, double> _cache = new(StringComparer.Ordinal);
    private Candidate? _pending;

    private SearchRun(SearchSpace space, ISearchStrategy strategy, int budget, string? statePath)
    {
        _space = space;
        _strategy = strategy;
        _budget = budget;
        _statePath = statePath;
    }

    /// <summary>Every trial so far, in order: evaluated and cached.</summary>
    public IReadOnlyList<SearchTrial> Trials => _trials;

    /// <summary>Candidates evaluated so far (distinct, by content).</summary>
    public int Evaluations => _cache.Count;

    /// <summary>The evaluated trial with the highest reward (the earliest among equals); null before any.</summary>
    public SearchTrial? Best => _trials.Where(t => !t.Cached).MaxBy(t => t.Reward);

    /// <summary>
    /// A search over <paramref name="space"/> proposing with <paramref name="strategy"/> (freshly created) until
    /// <paramref name="budget"/> candidates are evaluated; with <paramref name="statePath"/>, saved there after every reward
    /// and, if the file exists, resumed from it.
    /// </summary>
    /// <exception cref="ExperimentException">The state file is truncated or corrupt, or belongs to another search (space or strategy), named.</exception>
    public static SearchRun Open(SearchSpace space, ISearchStrategy strategy, int budget, string? statePath = null)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentOutOfRangeException.ThrowIfLessThan(budget, 1);
        var run = new SearchRun(space, strategy, budget, statePath);
        if (statePath is not null && File.Exists(statePath)) run.Replay(statePath);
        return run;
    }

    /// <summary>
    /// The next candidate to evaluate, or null when the search is done. Candidates already evaluated are answered from the
    /// cache (logged as cached trials) without being returned. Until it is reported, the same candidate is returned again.
    /// </summary>
    /// <exception cref="InvalidOperationException">The strategy proposed only evaluated candidates <see cref="MaxCachedInARow"/> times in a row.</exception>
    public Candidate? Next() => _pending ??= Propose(_budget);

    /// <summary>The reward of the candidate <see cref="Next"/> returned; logs it, tells the strategy and saves the state.</summary>
    /// <exception cref="InvalidOperationException">It is not the candidate <see cref="Next"/> returned.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The reward is not finite.</exception>
    public void Report(Candidate candidate, double reward)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        if (!double.IsFinite(reward)) throw new ArgumentOutOfRangeException(nameof(reward), reward, "a reward is a finite number");
        if (_pending is null || !_pending.Equals(candidate))
            throw new InvalidOperationException($"report the candidate Next proposed ({_pending?.ToString() ?? "none is pending"}), not {candidate}");
        Record(candidate, reward);
        if (_statePath is not null) AtomicFile.WriteAllText(_statePath, State().ToJsonString() + "\n");
    }

    /// <summary>Asks the strategy until it proposes a candidate not evaluated yet, answering the others from the cache; null
    /// once <paramref name="budget"/> candidates or the whole space are evaluated.</summary>
    private Candidate? Propose(int budget)
    {
        for (int cached = 0; Evaluations < budget && Evaluations < _space.Size; cached++)
        {
            if (cached == MaxCachedInARow)
                throw new InvalidOperationException($"{_strategy.Description} proposed only evaluated candidates {MaxCachedInARow:N0} times in a row");
            var candidate = _strategy.Next();
            if (!_cache.TryGetValue(candidate.Key, out double reward)) return candidate;
            _strategy.Report(candidate, reward);
            _trials.Add(new SearchTrial(_trials.Count, candidate, reward, Cached: true));
        }
        return null;
    }

    private void Record(Candidate candidate, double reward)
    {
        _pending = null;
        _strategy.Report(candidate, reward);
        _cache.Add(candidate.Key, reward);
        _trials.Add(new SearchTrial(_trials.Count, candidate, reward, Cached: false));
    }

    /// <summary>The state file: what searched (strategy, space) and every trial so far.</summary>
    private JsonObject State() => new()
    {
        ["format"] = Format,
        ["version"] = FormatVersion,
        ["strategy"] = _strategy.Description,
        ["space"] = _space.ToJson(),
        ["trials"] = new JsonArray([.. _trials.Select(t => (JsonNode)new JsonObject
        {
            ["trial"] = t.Trial,
            ["key"] = t.Candidate.Key,
            ["candidate"] = t.Candidate.ToJson(),
            ["reward"] = t.Reward,
            ["cached"] = t.Cached,
        })]),
    };

    /// <summary>
    /// Reads the state file and replays its evaluated trials into the fresh strategy: each must be what the strategy
    /// proposes again, and it is told the logged reward, so the strategy ends in the state of the search that wrote the file
    /// (and the cached trials between come out as they did). The budget does not apply here: a file written under a larger
    /// one replays whole.
    /// </summary>
    private void Replay(string path)
    {
        List<(string Key, double Reward, bool Cached)> logged;
        JsonObject state;
        try
        {
            state = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new JsonException("the file holds null");
            if ((string?)state["format"] != Format) throw new ExperimentException($"{path}: not a pimq search state");
            if ((int?)state["version"] != FormatVersion)
                throw new ExperimentException($"{path}: search state of version {state["version"]?.ToJsonString() ?? "none"}; this pimq reads version {FormatVersion}");
            logged = [.. state["trials"]!.AsArray().Select(t => ((string)t!["key"]!, (double)t["reward"]!, (bool)t["cached"]!))];
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new ExperimentException($"{path}: truncated or corrupt search state ({e.Message})");
        }
        if ((string?)state["strategy"] is var strategy && strategy != _strategy.Description)
            throw new ExperimentException($"{path}: state of another search (strategy '{strategy}' there, '{_strategy.Description}' here)");
        if (!JsonNode.DeepEquals(state["space"], _space.ToJson()))
            throw new ExperimentException($"{path}: state of another search (its search space differs from this one)");

        foreach (var (key, reward, _) in logged.Where(t => !t.Cached))
        {
            var candidate = Propose(int.MaxValue);
            if (candidate is null || candidate.Key != key)
                throw new ExperimentException($"{path}: trial {_trials.Count} is {key} there but {candidate?.Key ?? "nothing"} here: the state of another search");
            Record(candidate, reward);
        }
        if (_trials.Count != logged.Count || _trials.Zip(logged).Any(p => p.First.Candidate.Key != p.Second.Key || p.First.Reward != p.Second.Reward || p.First.Cached != p.Second.Cached))
            throw new ExperimentException($"{path}: the cached trials logged there differ from those replayed here: the state of another search");
    }
}
