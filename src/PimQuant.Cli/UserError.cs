namespace PimQuant.Cli;

/// <summary>A mistake in what the user asked or supplied; reported as one line, never with a stack trace.</summary>
public sealed class UserError(string message, int exitCode = ExitCodes.BadInput) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The process exit codes of every pimq command (documented in docs/cli.md).</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>Bad input: a file, dataset, model or value that cannot be used.</summary>
    public const int BadInput = 1;
    /// <summary>Bad command line: unknown command or option, missing or malformed argument.</summary>
    public const int Usage = 2;
    /// <summary>Interrupted (Ctrl+C); checkpoints written so far are kept.</summary>
    public const int Interrupted = 130;
    /// <summary>A defect in pimq itself; please report it with the stack trace printed.</summary>
    public const int InternalError = 70;
}
