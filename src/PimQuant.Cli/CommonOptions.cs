using System.CommandLine;

namespace PimQuant.Cli;

/// <summary>Options shared by several commands, created fresh per command.</summary>
public static class CommonOptions
{
    public static Option<bool> Json() => new("--json") { Description = "Print exactly one JSON object on stdout (progress and logs stay on stderr)" };

    public static Option<int> Threads() => new("--threads")
    {
        Description = "libtorch threads (default: all cores)",
        DefaultValueFactory = _ => Environment.ProcessorCount,
        Validators = { r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--threads must be at least 1"); } },
    };

    public static Option<long> Seed() => new("--seed") { Description = "Seed of every random choice", DefaultValueFactory = _ => 0 };

    public static Option<string> Dataset() => new("--dataset")
    {
        Description = "fashion-mnist, mnist or cifar10 (default: from the model's metadata, else fashion-mnist)",
    };

    public static Option<DirectoryInfo> Data() => new("--data") { Description = "Directory holding the dataset files" };

    public static Option<int> BatchSize(int fallback) => new("--batch-size")
    {
        Description = $"Images per batch (default {fallback})",
        DefaultValueFactory = _ => fallback,
        Validators = { r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--batch-size must be at least 1"); } },
    };
}
