using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq demo</c>: the main job on the embedded default model and test set.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var command = new Command("demo", "Evaluate the embedded default model (ResNet-20, Fashion-MNIST) and print its accuracy, parameters and MACs")
        {
            threads, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, null, (output, cancel) =>
        {
            string path = Workspace.DefaultModel;
            if (!File.Exists(path))
                throw new UserError($"{path}: the embedded default model is missing; run pimq from a PimQuant checkout");
            using var graph = ModelFiles.Load(path);
            var (normalization, _) = ModelFiles.ResolvePreprocessing(graph, null, null);
            var test = Workspace.LoadDataset("fashion-mnist", "test", null);
            EvalCommand.CheckCompatible(path, graph, test);
            var summary = ModelSummary.Of(graph);
            var result = EvalCommand.Run(output, new GraphExecutor(graph), test, normalization, 256, cancel);

            var table = new Table().Title("PimQuant demo: resnet20 on Fashion-MNIST (10,000 test images)")
                .AddColumns("model", "accuracy", "parameters", "MACs / image", "images/s");
            table.AddRow("FP32", $"{result.Accuracy:P2}", summary.Parameters.ToString("N0"), summary.Macs.ToString("N0"), result.ImagesPerSecond.ToString("F0"));
            output.Err.Write(table);
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["dataset"] = "fashion-mnist",
                ["images"] = result.Total,
                ["rows"] = new JsonArray(new JsonObject
                {
                    ["name"] = "FP32",
                    ["accuracy"] = result.Accuracy,
                    ["parameters"] = summary.Parameters,
                    ["macs"] = summary.Macs,
                    ["seconds"] = result.Seconds,
                    ["images_per_second"] = result.ImagesPerSecond,
                }),
            }, $"FP32 accuracy {result.Accuracy:F4}, {summary.Parameters:N0} parameters, {summary.Macs:N0} MACs per image");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
