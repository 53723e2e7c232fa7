using System.Diagnostics;
using System.Text.Json.Nodes;

namespace PimQuant.Tests.Cli;

/// <summary>What one run of the pimq executable printed and returned.</summary>
internal sealed record PimqRun(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>stdout as the single JSON object --json promises (throws if it is anything else).</summary>
    public JsonObject Json() => JsonNode.Parse(Stdout)!.AsObject();

    /// <summary>The stderr lines that are not blank.</summary>
    public string[] ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>Runs pimq as a user would: a separate process, from the repository root.</summary>
internal static class PimqProcess
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "pimq.dll");

    public static PimqRun Run(params string[] args) => RunIn(TestPaths.Root, args);

    /// <summary>Runs pimq in <paramref name="directory"/> as the working folder.</summary>
    public static PimqRun RunIn(string directory, params string[] args)
    {
        using var process = StartIn(directory, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"pimq {string.Join(' ', args)} did not finish in 3 minutes");
        }
        return new PimqRun(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts pimq without waiting, stdout and stderr redirected; a caller that does not read them must expect little output.</summary>
    public static Process Start(params string[] args) => StartIn(TestPaths.Root, args);

    /// <summary><see cref="Start"/> in <paramref name="directory"/> as the working folder.</summary>
    public static Process StartIn(string directory, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        process.StandardInput.Close();
        return process;
    }
}
