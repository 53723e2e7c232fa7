using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Experiments;
using PimQuant.Models;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq zoo</c>: the model zoo — list it, or write a freshly initialised model as ONNX.</summary>
public static class ZooCommand
{
    /// <summary>The command and its subcommands.</summary>
    public static Command Create() => new("zoo", "The model zoo: list models, export a freshly initialised one as ONNX") { List(), Export() };

    private static Command List()
    {
        var json = CommonOptions.Json();
        var command = new Command("list", CommonOptions.Help("List the zoo's models with their parameters and MACs at 1×28×28 and 3×32×32",
            "pimq zoo list", "pimq zoo list --json")) { json };
        command.SetAction(parse => CommandRunner.Run(parse, json, null, null, (output, _) =>
        {
            var table = new Table().AddColumns("model", "input", "parameters", "MACs / image");
            var rows = new JsonArray();
            foreach (var name in ModelZoo.Names)
                foreach (var (channels, size) in new[] { (1, 28), (3, 32) })
                {
                    using var graph = ModelZoo.Build(name, new ModelInput(channels, size));
                    ShapeInference.Run(graph);
                    var summary = ModelSummary.Of(graph);
                    table.AddRow(name, $"{channels}×{size}×{size}", summary.Parameters.ToString("N0"), summary.Macs.ToString("N0"));
                    rows.Add(new JsonObject { ["model"] = name, ["channels"] = channels, ["size"] = size, ["parameters"] = summary.Parameters, ["macs"] = summary.Macs });
                }
            output.Err.Write(table);
            output.Result(new JsonObject { ["ok"] = true, ["models"] = rows }, [.. ModelZoo.Names]);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Export()
    {
        var json = CommonOptions.Json();
        var seed = CommonOptions.Seed();
        var model = new Argument<string>("model") { Description = $"Zoo model: {string.Join(", ", ModelZoo.Names)}" };
        model.AcceptOnlyFromAmong([.. ModelZoo.Names]);
        var dataset = new DataFlags().Dataset;
        var outputPath = new Option<string>("--output", "-o") { Description = "Where to write the ONNX model", Required = true };
        var command = new Command("export", CommonOptions.Help("Write a freshly initialised (untrained) zoo model as ONNX, shaped for a dataset",
            "pimq zoo export vgg8 -o vgg8.onnx", "pimq zoo export resnet20 --dataset cifar10 -o resnet20-cifar.onnx"))
        {
            model, dataset, outputPath, seed, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, null, seed, (output, _) =>
        {
            string name = parse.GetValue(model)!, datasetName = parse.GetValue(dataset) ?? "fashion-mnist", path = parse.GetValue(outputPath)!;
            var info = DatasetCatalog.Get(datasetName);
            if (info.Height != info.Width || info.Height is not (28 or 32))
                throw new UserError($"{datasetName}: {info.Height}×{info.Width} images; zoo models take 28×28 or 32×32");
            using var graph = ModelZoo.Build(name, new ModelInput(info.Channels, info.Height, info.Classes), parse.GetValue(seed));
            ShapeInference.Run(graph);
            ModelFiles.StampPreprocessing(graph, info.Normalization, datasetName);
            ModelFiles.Save(graph, path, "pimq " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)));
            output.Result(new JsonObject
            {
                ["ok"] = true, ["model"] = name, ["dataset"] = datasetName, ["output"] = Path.GetFullPath(path),
                ["parameters"] = graph.ParameterCount(), ["trained"] = false,
            }, $"wrote untrained {name} for {datasetName} to {path}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
