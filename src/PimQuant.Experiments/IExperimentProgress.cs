namespace PimQuant.Experiments;

/// <summary>How far a long step is: <paramref name="Done"/> of <paramref name="Total"/> units of
/// <paramref name="Stage"/>, with a detail such as the block being reconstructed.</summary>
public readonly record struct StepProgress(string Stage, long Done, long Total, string Detail = "");

/// <summary>
/// Where an experiment reports what it does: log lines, and the progress of long steps. The CLI shows them on
/// stderr (a progress bar on a terminal, a line per stage otherwise); a method running many experiments can
/// collect or drop them. Reporting never changes a result.
/// </summary>
public interface IExperimentProgress
{
    /// <summary>One line of what the experiment did or found.</summary>
    void Log(string message);

    /// <summary>Runs <paramref name="body"/>, a long step called <paramref name="title"/>, which reports its
    /// progress through the callback it is given; returns what the body returns.</summary>
    T Step<T>(string title, Func<Action<StepProgress>, T> body);
}
