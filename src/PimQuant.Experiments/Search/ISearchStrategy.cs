namespace PimQuant.Experiments.Search;

/// <summary>
/// A search strategy as ask/tell: <see cref="Next"/> proposes a candidate, <see cref="Report"/> tells it the candidate's
/// reward (higher is better). A strategy must be a pure function of how it was created (its space and seed) and the
/// rewards it was told, in order: <see cref="SearchRun"/> resumes a search by creating it anew and replaying its log.
/// It may propose a candidate again; the run then answers from its cache without evaluating it.
/// </summary>
public interface ISearchStrategy
{
    /// <summary>What the strategy is, with every setting that changes its proposals (e.g. <c>random seed 0</c>); a state
    /// file records it and refuses to resume under another.</summary>
    string Description { get; }

    /// <summary>The next candidate to evaluate.</summary>
    Candidate Next();

    /// <summary>The reward of the candidate <see cref="Next"/> last proposed.</summary>
    void Report(Candidate candidate, double reward);
}
