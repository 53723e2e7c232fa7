using System.CommandLine;
using PimQuant.Cli;
using PimQuant.Cli.Commands;

var bench = BenchCommand.Create();
bench.Subcommands.Add(BenchSimCommand.Create());
var root = new RootCommand("pimq: quantization and compute-in-memory crossbar simulation of CNNs")
{
    DemoCommand.Create(),
    TrainCommand.Create(),
    EvalCommand.Create(),
    InfoCommand.Create(),
    bench,
    ZooCommand.Create(),
    QuantizeCommand.Create(),
    FinetuneCommand.Create(),
    HwCommand.Create(),
    SimulateCommand.Create(),
};
return CommandRunner.Execute(root, args);
