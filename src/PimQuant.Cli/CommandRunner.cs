using System.CommandLine;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Runtime;
using PimQuant.Experiments;
using PimQuant.Training;

namespace PimQuant.Cli;

/// <summary>
/// Runs a parsed command line: usage errors exit 2 with the parser's message, user errors exit 1
/// with one line naming the file and the problem, Ctrl+C exits 130; only a defect in pimq itself
/// prints a stack trace.
/// </summary>
public static class CommandRunner
{
    /// <summary>Parses and runs <paramref name="args"/> against <paramref name="root"/>.</summary>
    public static int Execute(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            bool json = args.Contains("--json");
            // One error object however many parse errors: --json promises exactly one JSON object.
            new Output(json).Error(UsageError(parse), ExitCodes.Usage);
            System.Console.Error.WriteLine("Run 'pimq --help' for usage.");
            return ExitCodes.Usage;
        }
        return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>
    /// The parse errors as one line: System.CommandLine lists the allowed values of a choice (--dataset, --path, ...)
    /// on lines of their own, which a one-line error puts after one another.
    /// </summary>
    public static string UsageError(ParseResult parse) =>
        string.Join(" ", parse.Errors.Select(e => string.Join(" ", e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))));

    /// <summary>
    /// The body every command action goes through: sets up libtorch, routes output, converts
    /// user mistakes to exit codes.
    /// </summary>
    public static int Run(ParseResult parse, Option<bool> json, Option<int>? threads, Option<long>? seed, Func<Output, CancellationToken, int> body)
    {
        var output = new Output(parse.GetValue(json));
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        System.Console.CancelKeyPress += onCancel;
        try
        {
            TorchRuntime.Apply(new EngineOptions(
                threads is null ? 0 : parse.GetValue(threads),
                seed is null ? 0 : parse.GetValue(seed)));
            return body(output, cancel.Token);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            output.Error("interrupted; checkpoints written so far are kept (use --resume)", ExitCodes.Interrupted);
            return ExitCodes.Interrupted;
        }
        catch (Exception e) when (UserMessage(e) is { } message)
        {
            int code = e switch
            {
                UserError u => u.ExitCode,
                ExperimentException { Kind: ExperimentErrorKind.InvalidOption } => ExitCodes.Usage,
                _ => ExitCodes.BadInput,
            };
            output.Error(message, code);
            return code;
        }
        catch (Exception e)
        {
            output.Error($"internal error (a defect in pimq, please report it): {e}", ExitCodes.InternalError);
            return ExitCodes.InternalError;
        }
        finally
        {
            System.Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>The one-line message of an exception caused by the user's input, or null for a defect.</summary>
    private static string? UserMessage(Exception e) => e switch
    {
        UserError u => u.Message,
        ExperimentException x => x.Message,
        DataException d => d.Message,
        GraphException g => g.Message,
        CheckpointException c => c.Message,
        PimQuant.Hardware.Spec.HardwareSpecException h => h.Message,
        PimQuant.Accelerator.SimulationException s => s.Message,
        UnauthorizedAccessException a => a.Message,
        DirectoryNotFoundException d => d.Message,
        FileNotFoundException f => f.Message,
        IOException io when io.GetType() == typeof(IOException) => io.Message,
        _ => null,
    };
}
