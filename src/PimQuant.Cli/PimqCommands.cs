using System.CommandLine;
using PimQuant.Cli.Commands;

namespace PimQuant.Cli;

/// <summary>The command tree of <c>pimq</c>.</summary>
public static class PimqCommands
{
    /// <summary>Every command, freshly created (options belong to one tree).</summary>
    public static RootCommand Root()
    {
        var bench = BenchCommand.Create();
        bench.Subcommands.Add(BenchSimCommand.Create());
        return new RootCommand("pimq: quantization and compute-in-memory crossbar simulation of CNNs")
        {
            DemoCommand.Create(),
            CompareCommand.Create(),
            TrainCommand.Create(),
            EvalCommand.Create(),
            InfoCommand.Create(),
            bench,
            ZooCommand.Create(),
            QuantizeCommand.Create(),
            FinetuneCommand.Create(),
            HwCommand.Create(),
            SimulateCommand.Create(),
            ReproduceCommand.Create(),
            ResultsCommand.Create(),
        };
    }
}
