using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Training;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq eval</c>: top-1 accuracy of an ONNX model on a test set.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var dataset = CommonOptions.Dataset();
        dataset.AcceptOnlyFromAmong(Workspace.KnownDatasets);
        var data = CommonOptions.Data();
        var mean = new Option<string>("--mean") { Description = "Per-channel mean of [0,1] pixels, comma-separated (overrides the model's metadata)" };
        var std = new Option<string>("--std") { Description = "Per-channel std, comma-separated (with --mean)" };
        var batch = CommonOptions.BatchSize(256);
        var limit = new Option<int>("--limit") { Description = "Evaluate only the first N test images" };

        var command = new Command("eval", "Top-1 accuracy of an ONNX model on a dataset's test split")
        {
            modelPath, dataset, data, mean, std, batch, limit, threads, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, null, (output, cancel) =>
        {
            string path = parse.GetValue(modelPath)!;
            using var graph = ModelFiles.Load(path);
            var (normalization, source) = ModelFiles.ResolvePreprocessing(graph, parse.GetValue(mean), parse.GetValue(std));
            string datasetName = parse.GetValue(dataset) ?? graph.Metadata.GetValueOrDefault(ModelFiles.DatasetKey) ?? "fashion-mnist";
            var test = Workspace.LoadDataset(datasetName, "test", parse.GetValue(data));
            if (parse.GetValue(limit) is > 0 and var n && n < test.Count) test = test.Slice(0, n);
            CheckCompatible(path, graph, test);
            var result = Run(output, InferenceExecutor(graph), test, normalization, parse.GetValue(batch), cancel);
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["dataset"] = datasetName,
                ["split"] = "test",
                ["images"] = result.Total,
                ["correct"] = result.Correct,
                ["accuracy"] = result.Accuracy,
                ["preprocessing"] = new JsonObject
                {
                    ["source"] = source,
                    ["mean"] = new JsonArray(normalization.Mean.Select(v => (JsonNode)v).ToArray()),
                    ["std"] = new JsonArray(normalization.Std.Select(v => (JsonNode)v).ToArray()),
                },
                ["seconds"] = result.Seconds,
                ["images_per_second"] = result.ImagesPerSecond,
                ["threads"] = parse.GetValue(threads),
            }, $"accuracy {result.Accuracy:F4} ({result.Correct}/{result.Total}) on {datasetName} test");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>
    /// An executor for FP32 inference: folds <paramref name="graph"/>'s batch norms into its convolutions (in
    /// place; the same function to float rounding, one operator fewer per layer) and runs convolutions
    /// channels-last, which spares libtorch's oneDNN kernels a layout reorder per call; elementwise nodes
    /// write into dying values.
    /// </summary>
    public static GraphExecutor InferenceExecutor(ModelGraph graph)
    {
        BatchNormFolding.Run(graph);
        return new GraphExecutor(graph) { ChannelsLast = true, OverwriteDyingValues = true };
    }

    /// <summary>Checks the model's input against the dataset's images, so a mismatch is named instead of failing inside a kernel.</summary>
    public static void CheckCompatible(string path, ModelGraph graph, ImageDataset data)
    {
        if (graph.Inputs.Count != 1)
            throw new UserError($"{Path.GetFileName(path)}: the model has {graph.Inputs.Count} inputs; an image classifier has one");
        var shape = graph.Inputs[0].Shape;
        long[] expected = [data.Channels, data.Height, data.Width];
        if (shape.Length != 4 || !shape.Skip(1).Zip(expected).All(p => p.First < 0 || p.First == p.Second))
            throw new UserError($"{Path.GetFileName(path)}: input '{graph.Inputs[0].Name}' has shape [{string.Join(",", shape)}], but {data.Name} images are {data.Channels}×{data.Height}×{data.Width}");
    }

    /// <summary>Evaluates with a progress bar on a terminal.</summary>
    public static EvaluationResult Run(Output output, GraphExecutor executor, ImageDataset data, Normalization normalization, int batchSize, CancellationToken cancel)
    {
        if (!output.Interactive)
            return Evaluator.Evaluate(executor, data, normalization, batchSize, cancellation: cancel);
        EvaluationResult result = null!;
        output.Err.Progress().Start(ctx =>
        {
            var task = ctx.AddTask("evaluating", maxValue: data.Count);
            result = Evaluator.Evaluate(executor, data, normalization, batchSize, (done, _) => task.Value = done, cancel);
        });
        return result;
    }
}
