using PimQuant.Experiments;
using PimQuant.Experiments.Search;

namespace PimQuant.Tests.Experiments;

/// <summary>
/// The ask/tell search: a seed reproduces its sequence, a search stopped at any moment and opened again evaluates no
/// candidate twice and ends with the log and the state file of an uninterrupted one, the cache answers a candidate
/// proposed again, and a state file of another search, or a torn one, is refused naming the file.
/// </summary>
public class SearchRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-search-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Bits for three layers and an ADC resolution: 3·3·3·4 = 108 candidates.</summary>
    private static SearchSpace Space() => new(
    [
        new("conv1", ["2", "4", "8"]), new("conv2", ["2", "4", "8"]), new("fc", ["2", "4", "8"]), new("adc_bits", ["3", "4", "5", "6"]),
    ]);

    /// <summary>A reward that depends on every choice, as an accuracy–cost trade-off would.</summary>
    private static double Reward(Candidate c) =>
        -Math.Abs(int.Parse(c["conv1"]) + int.Parse(c["conv2"]) - 9) - 0.25 * int.Parse(c["fc"]) + 0.1 * int.Parse(c["adc_bits"]);

    /// <summary>Runs the search to its end, counting how often each candidate is evaluated.</summary>
    private static SearchRun RunToEnd(SearchRun run, Dictionary<string, int> evaluated, Func<Candidate, double>? reward = null)
    {
        while (run.Next() is { } candidate)
        {
            evaluated[candidate.Key] = evaluated.GetValueOrDefault(candidate.Key) + 1;
            run.Report(candidate, (reward ?? Reward)(candidate));
        }
        return run;
    }

    private static string[] Log(SearchRun run) => [.. run.Trials.Select(t => $"{t.Trial} {t.Candidate} {t.Reward} {t.Cached}")];

    [Fact]
    public void TheSameSeedProposesTheSameSequence()
    {
        var space = Space();
        var first = RunToEnd(SearchRun.Open(space, new RandomSearch(space, 7), budget: 40), []);
        var second = RunToEnd(SearchRun.Open(space, new RandomSearch(space, 7), budget: 40), []);
        var other = RunToEnd(SearchRun.Open(space, new RandomSearch(space, 8), budget: 40), []);
        Assert.Equal(40, first.Evaluations);
        Assert.Equal(Log(first), Log(second));
        Assert.NotEqual(Log(first), Log(other));
        // Random search ignores rewards: the strategy alone proposes the same sequence.
        var strategy = new RandomSearch(space, 7);
        Assert.Equal(first.Trials.Select(t => t.Candidate.Key), first.Trials.Select(_ => strategy.Next().Key));
    }

    [Fact]
    public void ACandidateProposedAgainIsAnsweredFromTheCache()
    {
        var space = new SearchSpace([new("a", ["0", "1", "2"]), new("b", ["x", "y"])]);
        var evaluated = new Dictionary<string, int>();
        double SmallReward(Candidate c) => int.Parse(c["a"]) + (c["b"] == "y" ? 0.5 : 0);
        var run = RunToEnd(SearchRun.Open(space, new RandomSearch(space, 1), budget: 100), evaluated, SmallReward);
        // The budget is larger than the space: the search ends when all six are evaluated, each once.
        Assert.Equal(6, run.Evaluations);
        Assert.Equal(6, evaluated.Count);
        Assert.All(evaluated.Values, n => Assert.Equal(1, n));
        var cached = run.Trials.Where(t => t.Cached).ToList();
        Assert.NotEmpty(cached);
        foreach (var t in cached)
            Assert.Equal(SmallReward(t.Candidate), t.Reward);
        Assert.Equal(new Candidate([new("a", "2"), new("b", "y")]), run.Best!.Candidate);
        // Content keys: the same choices are the same candidate, whoever builds them.
        Assert.Equal(space.At([2, 1]), new Candidate([new("a", "2"), new("b", "y")]));
        Assert.NotEqual(space.At([2, 1]).Key, new Candidate([new("b", "y"), new("a", "2")]).Key);
    }

    [Fact]
    public void AStoppedAndResumedSearchEvaluatesNoCandidateTwiceAndEndsWhereAnUninterruptedOneEnds()
    {
        var space = Space();
        const int Budget = 60;
        string uninterruptedState = Path.Combine(_dir, "uninterrupted.json");
        var uninterrupted = RunToEnd(SearchRun.Open(space, new RandomSearch(space, 3), Budget, uninterruptedState), []);
        Assert.Contains(uninterrupted.Trials, t => t.Cached); // so resuming replays cached trials too

        string state = Path.Combine(_dir, "stopped.json");
        var evaluated = new Dictionary<string, int>();
        var random = new Random(20261203);
        int stops = 0;
        while (true)
        {
            // A fresh strategy each time, as a new process would create it.
            var run = SearchRun.Open(space, new RandomSearch(space, 3), Budget, state);
            int steps = random.Next(1, 12);
            bool finished = false;
            for (int i = 0; ; i++)
            {
                if (run.Next() is not { } candidate) { finished = true; break; }
                // Stopped while this candidate is being evaluated: its evaluation never completes, nothing is reported.
                if (i == steps) break;
                evaluated[candidate.Key] = evaluated.GetValueOrDefault(candidate.Key) + 1;
                run.Report(candidate, Reward(candidate));
            }
            if (finished)
            {
                Assert.Equal(Log(uninterrupted), Log(run));
                Assert.Equal(uninterrupted.Best, run.Best);
                break;
            }
            stops++;
        }
        Assert.True(stops >= 3, $"stopped only {stops} times");
        Assert.All(evaluated, kv => Assert.Equal(1, kv.Value));
        Assert.Equal(Budget, evaluated.Count);
        Assert.Equal(File.ReadAllText(uninterruptedState), File.ReadAllText(state));
    }

    [Fact]
    public void AStateFileOfAnotherSearchOrATornOneIsRefusedNamingTheFile()
    {
        var space = Space();
        string state = Path.Combine(_dir, "search.json");
        RunToEnd(SearchRun.Open(space, new RandomSearch(space, 5), budget: 10, state), []);

        var otherSeed = Assert.Throws<ExperimentException>(() => SearchRun.Open(space, new RandomSearch(space, 6), 10, state));
        Assert.Equal($"{state}: state of another search (strategy 'random seed 5' there, 'random seed 6' here)", otherSeed.Message);

        var otherSpace = new SearchSpace([.. space.Dimensions.Take(3), new("adc_bits", ["3", "4", "5", "7"])]);
        var spaceError = Assert.Throws<ExperimentException>(() => SearchRun.Open(otherSpace, new RandomSearch(otherSpace, 5), 10, state));
        Assert.Equal($"{state}: state of another search (its search space differs from this one)", spaceError.Message);

        string torn = Path.Combine(_dir, "torn.json");
        string text = File.ReadAllText(state);
        File.WriteAllText(torn, text[..(text.Length / 2)]);
        var tornError = Assert.Throws<ExperimentException>(() => SearchRun.Open(space, new RandomSearch(space, 5), 10, torn));
        Assert.StartsWith($"{torn}: truncated or corrupt search state (", tornError.Message);

        // A file written under a larger budget resumes whole under a smaller one, and the search is done.
        var resumed = SearchRun.Open(space, new RandomSearch(space, 5), budget: 4, state);
        Assert.Equal(10, resumed.Evaluations);
        Assert.Null(resumed.Next());
    }
}
