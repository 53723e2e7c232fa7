using System.CommandLine;
using PimQuant.Cli;
using PimQuant.Cli.Commands;

var root = new RootCommand("pimq: quantization and compute-in-memory crossbar simulation of CNNs")
{
    DemoCommand.Create(),
    TrainCommand.Create(),
    EvalCommand.Create(),
    InfoCommand.Create(),
    BenchCommand.Create(),
    ZooCommand.Create(),
    QuantizeCommand.Create(),
    FinetuneCommand.Create(),
    HwCommand.Create(),
};
return CommandRunner.Execute(root, args);
