using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Experiments;
using PimQuant.Engine.Passes;
using PimQuant.Models;
using PimQuant.Training;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq train</c>: trains a zoo model and writes it as ONNX.</summary>
public static class TrainCommand
{
    /// <summary>The command.</summary>
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var model = new Option<string>("--model") { Description = $"Zoo model: {string.Join(", ", ModelZoo.Names)}", Required = true };
        model.AcceptOnlyFromAmong([.. ModelZoo.Names]);
        var dataFlags = new DataFlags();
        var dataset = dataFlags.Dataset;
        var data = dataFlags.Data;
        // Training reads the whole training split; --images shortens the test split each epoch is evaluated on.
        var images = dataFlags.Images;
        var outputPath = new Option<string>("--output", "-o") { Description = "Where to write the trained ONNX model (default MODEL-DATASET.onnx)" };

        var training = new TrainingFlags(defaultEpochs: 30, sgdLearningRate: 0.1, adamWLearningRate: 1e-3);

        var command = new Command("train", CommonOptions.Help("Train a zoo model on a dataset and write it as ONNX",
            "pimq train --model resnet20 --dataset fashion-mnist --epochs 30 -o resnet20.onnx", "pimq train --model vgg8 --epochs 4 -o vgg8.onnx --checkpoint vgg8.ckpt --resume")) { model, dataset, data, images };
        training.AddTo(command);
        foreach (var option in new Option[] { outputPath, seed, threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            string modelName = parse.GetValue(model)!;
            string datasetName = parse.GetValue(dataset) ?? "fashion-mnist";
            var options = training.Read(parse, parse.GetValue(seed));
            string outPath = parse.GetValue(outputPath) ?? $"{modelName}-{datasetName}.onnx";
            string ckptPath = training.CheckpointPath(parse, outPath);

            var train = Workspace.LoadDataset(datasetName, "train", parse.GetValue(data));
            var test = Workspace.LoadDataset(datasetName, "test", parse.GetValue(data));
            if (parse.GetValue(images) is { } n && n < test.Count) test = test.Slice(0, n);
            output.Log($"{train}; test {test.Count} images");
            if (train.Height is not (28 or 32) || train.Height != train.Width)
                throw new UserError($"{datasetName}: {train.Height}×{train.Width} images; zoo models take 28×28 or 32×32");
            var normalization = DatasetCatalog.Get(datasetName).Normalization;
            using var graph = ModelZoo.Build(modelName, new ModelInput(train.Channels, train.Height, train.Classes), parse.GetValue(seed));
            // The per-epoch test accuracies are part of the checkpoint; a key without images is the whole test split's, as before --images existed.
            string runKey = $"{modelName}|{datasetName}|{train.Count}|{options}" + (parse.GetValue(images) is null ? "" : $"|test={test.Count}");
            var policy = new Trainer.CheckpointPolicy(ckptPath, parse.GetValue(training.Resume), runKey);

            var result = TrainingObserver.Run(new ConsoleProgress(output), "training",
                observer => new Trainer(graph, options, observer).Run(train, test, normalization, policy, cancel));

            ModelFiles.StampPreprocessing(graph, normalization, datasetName);
            ShapeInference.Run(graph);
            ModelFiles.Save(graph, outPath, "pimq " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)));
            var last = result.History[^1];
            var history = new JsonArray(result.History.Select(h => (JsonNode)new JsonObject
            {
                ["epoch"] = h.Epoch, ["train_loss"] = h.TrainLoss, ["train_accuracy"] = h.TrainAccuracy,
                ["test_accuracy"] = h.TestAccuracy, ["seconds"] = h.Seconds, ["images_per_second"] = h.ImagesPerSecond,
            }).ToArray());
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = modelName,
                ["dataset"] = datasetName,
                ["output"] = Path.GetFullPath(outPath),
                ["checkpoint"] = Path.GetFullPath(ckptPath),
                ["epochs"] = options.Epochs,
                ["resumed_from_epoch"] = result.ResumedFromEpoch,
                ["seed"] = options.Seed,
                ["threads"] = parse.GetValue(threads),
                ["test_accuracy"] = last.TestAccuracy,
                ["train_accuracy"] = last.TrainAccuracy,
                ["test_images"] = test.Count,
                ["parameters"] = graph.ParameterCount(),
                ["seconds"] = result.Seconds,
                ["history"] = history,
            }, $"test accuracy {last.TestAccuracy:F4} after {options.Epochs} epochs; wrote {outPath}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
