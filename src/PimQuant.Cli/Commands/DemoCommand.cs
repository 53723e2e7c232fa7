using System.CommandLine;
using PimQuant.Experiments;
using PimQuant.Methods;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq demo</c>: <c>pimq compare</c> on the embedded default model (ResNet-20, Fashion-MNIST) with every scheme of the
/// catalogue, and the conventional scheme on the neurosim-rram preset besides, on the 10,000 test images.</summary>
public static class DemoCommand
{
    /// <summary>The schemes the demo runs: the catalogue, then the baseline on a second accelerator (an RRAM chip with device effects).</summary>
    public static string Schemes => string.Join(",", [.. SchemeCatalog.DefaultNames, SchemeCatalog.Baseline + "@neurosim-rram"]);

    /// <summary>The command.</summary>
    public static Command Create()
    {
        // The data is the embedded default's (no --dataset or --data); how much of it is the user's.
        var images = CommonOptions.Images("all 10,000");
        var flags = new CompareCommand.RunFlags();
        var command = new Command("demo", "What PimQuant is for, on the embedded default model (ResNet-20, Fashion-MNIST): pimq compare with every scheme " +
            $"({Schemes}) on the 10,000 test images; writes report.html, plots, results.json and the database rows (docs/report.md).\n\n" +
            "Examples:\n  pimq demo\n  pimq demo --images 1000 -o runs/quick\n  pimq demo --json > demo.json")
        {
            images,
        };
        flags.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(parse, flags.Json, flags.Threads, flags.Seed, (output, cancel) =>
        {
            string path = Workspace.DefaultModel;
            if (!File.Exists(path))
                throw new UserError($"{path}: the embedded default model is missing; run pimq from a PimQuant checkout");
            return CompareCommand.Execute(parse, flags, output, cancel, path, "demo", CompareCommand.ParseSchemes(Schemes, null, path),
                new DataOptions("fashion-mnist"), parse.GetValue(images), "demo");
        }));
        return command;
    }
}
