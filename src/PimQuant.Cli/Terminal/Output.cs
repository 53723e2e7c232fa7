using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace PimQuant.Cli.Terminal;

/// <summary>
/// Where a command writes. With --json, stdout carries exactly one JSON object and nothing else;
/// without it, stdout gets a short plain summary. Tables, progress and logs always go to stderr.
/// </summary>
public sealed class Output
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public Output(bool json)
    {
        Json = json;
        Err = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(System.Console.Error),
            Interactive = System.Console.IsErrorRedirected ? InteractionSupport.No : InteractionSupport.Detect,
            Ansi = System.Console.IsErrorRedirected ? AnsiSupport.No : AnsiSupport.Detect,
        });
    }

    /// <summary>True when the command was given --json.</summary>
    public bool Json { get; }

    /// <summary>The stderr console for tables, progress bars and logs.</summary>
    public IAnsiConsole Err { get; }

    /// <summary>True when stderr is a terminal that can redraw a progress bar.</summary>
    public bool Interactive => !System.Console.IsErrorRedirected;

    /// <summary>A log line on stderr.</summary>
    public void Log(string message) => Err.MarkupLine($"[grey]{Markup.Escape(message)}[/]");

    /// <summary>Writes the command's result: the JSON object with --json, else the plain summary lines.</summary>
    public void Result(JsonObject result, params string[] summary)
    {
        if (Json) System.Console.Out.WriteLine(result.ToJsonString(Indented));
        else foreach (var line in summary) System.Console.Out.WriteLine(line);
    }

    /// <summary>Reports an error: one line on stderr, and with --json the error object on stdout.</summary>
    public void Error(string message, int exitCode)
    {
        System.Console.Error.WriteLine($"pimq: error: {message}");
        if (Json)
            System.Console.Out.WriteLine(new JsonObject { ["ok"] = false, ["error"] = message, ["exit_code"] = exitCode }.ToJsonString());
    }
}
