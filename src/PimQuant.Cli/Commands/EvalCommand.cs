using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq eval</c>: top-1 accuracy of an ONNX model on a test set.</summary>
public static class EvalCommand
{
    /// <summary>The command.</summary>
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var data = new DataFlags();
        var batch = CommonOptions.BatchSize(256);
        // --limit, the earlier name of --images, still works.
        var limit = data.Images;
        limit.Aliases.Add("--limit");
        var logits = new Option<string>("--logits") { Description = "Also write every evaluated image's logits to FILE (CSV: one line per image, its logits comma-separated)" };

        var command = new Command("eval", CommonOptions.Help("Top-1 accuracy of an ONNX model on a dataset's test split",
            "pimq eval models/resnet20-fmnist.onnx", "pimq eval my.onnx --dataset cifar10 --data ~/cifar10 --mean 0.49,0.48,0.45 --std 0.25,0.24,0.26")) { modelPath };
        data.AddTo(command);
        foreach (var option in new Option[] { batch, logits, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, null, (output, cancel) =>
        {
            string path = parse.GetValue(modelPath)!;
            var request = data.Read(parse);
            using var graph = ModelFiles.Load(path);
            var resolved = request.Resolve(graph, path, parse.GetValue(limit));
            var result = Evaluation.Run(Evaluation.InferenceExecutor(graph), resolved.Test, resolved.Normalization, parse.GetValue(batch),
                new ConsoleProgress(output), cancel, parse.GetValue(logits));
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["dataset"] = resolved.DatasetName,
                ["split"] = "test",
                ["images"] = result.Total,
                ["correct"] = result.Correct,
                ["accuracy"] = result.Accuracy,
                ["preprocessing"] = Reports.PreprocessingJson(resolved.Preprocessing),
                ["seconds"] = result.Seconds,
                ["images_per_second"] = result.ImagesPerSecond,
                ["threads"] = parse.GetValue(threads),
                ["logits"] = parse.GetValue(logits) is { } file ? Path.GetFullPath(file) : null,
            }, $"accuracy {result.Accuracy:F4} ({result.Correct}/{result.Total}) on {resolved.DatasetName} test");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
