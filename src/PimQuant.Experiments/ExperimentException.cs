namespace PimQuant.Experiments;

/// <summary>What an experiment's caller got wrong, as opposed to a defect.</summary>
public enum ExperimentErrorKind
{
    /// <summary>A file, dataset, model or config that cannot be used as given.</summary>
    BadInput,
    /// <summary>An option's value that does not fit the rest of the request (e.g. three means for 1-channel images):
    /// the CLI reports it as a usage error, before any work.</summary>
    InvalidOption,
}

/// <summary>A mistake in what an experiment was asked to do or was given; its message is one line naming the
/// file or option, the value and what is allowed, fit to show a user without a stack trace.</summary>
public sealed class ExperimentException(string message, ExperimentErrorKind kind = ExperimentErrorKind.BadInput) : Exception(message)
{
    /// <summary>Whether the input or an option's value is at fault.</summary>
    public ExperimentErrorKind Kind { get; } = kind;
}
