using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Accelerator;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using PimQuant.Hardware.Presets;
using PimQuant.Sim;
using Spectre.Console;
using static TorchSharp.torch;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq demo</c>: the main job on the embedded default model and test set — FP32, the ideal
/// 8-bit integer model, and that model simulated on the isaac and neurosim-rram crossbar presets.</summary>
public static class DemoCommand
{
    private static readonly string[] Presets = ["isaac", "neurosim-rram"];

    /// <summary>The command.</summary>
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        // The data is the embedded default's (no --dataset or --data); how much of it, and in what batches, is the user's.
        var images = CommonOptions.Images("all 10,000");
        var batch = CommonOptions.BatchSize(256);
        var calibrationImages = CommonOptions.CalibrationImages();
        var command = new Command("demo", "The default model (ResNet-20, Fashion-MNIST) in FP32, as an 8-bit integer model, and simulated on the isaac and neurosim-rram crossbar accelerators")
        {
            images, batch, calibrationImages, threads, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, null, (output, cancel) =>
        {
            string path = Workspace.DefaultModel;
            if (!File.Exists(path))
                throw new UserError($"{path}: the embedded default model is missing; run pimq from a PimQuant checkout");
            var progress = new ConsoleProgress(output);
            var specs = Presets.Select(PresetCatalog.Load).ToList();
            using var scope = NewDisposeScope();
            using var session = SimulationSession.Open(path, new DataOptions("fashion-mnist"), parse.GetValue(images), Quantization.Config(8, 8), specs,
                parse.GetValue(calibrationImages), 0, parse.GetValue(batch), progress, cancel);
            var summary = session.Summary;
            var options = new SimulationOptions { Configuration = new SimConfiguration { MaxDegreeOfParallelism = parse.GetValue(threads) } };
            var runs = specs.Select(spec => (Name: spec.Name, Run: session.Run(spec, options, progress, cancel))).ToList();

            var table = new Table().Title($"PimQuant demo: resnet20 on Fashion-MNIST ({session.Test.Count:N0} test images), {summary.Parameters:N0} parameters, {summary.Macs:N0} MACs/image")
                .AddColumns("model", "accuracy", "images/s (this machine)", "on the accelerator, per image");
            table.AddRow("FP32", $"{session.Fp32.Accuracy:P2}", $"{session.Fp32.ImagesPerSecond:F0}", "");
            table.AddRow("ideal integer W8A8", $"{session.Ideal.Accuracy:P2}", $"{session.Ideal.ImagesPerSecond:F0}", "");
            foreach (var (name, run) in runs)
                table.AddRow(Markup.Escape($"{name} simulated"), $"{run.Simulated.Accuracy:P2}", $"{run.Simulated.ImagesPerSecond:F1}", Markup.Escape(Reports.CostLine(run.Cost)));
            output.Err.Write(table);
            output.Log("neurosim-rram: 5-bit ADC steps calibrated per array on 64 calibration images; a reference column cancels the leakage of its on/off ratio of 10 (docs/simulation.md)");

            static JsonObject Row(string name, double accuracy, double seconds, double imagesPerSecond) => new()
            {
                ["name"] = name, ["accuracy"] = accuracy, ["seconds"] = seconds, ["images_per_second"] = imagesPerSecond,
            };
            var rows = new JsonArray(
                Row("FP32", session.Fp32.Accuracy, session.Fp32.Seconds, session.Fp32.ImagesPerSecond),
                Row("ideal integer W8A8", session.Ideal.Accuracy, session.Ideal.Seconds, session.Ideal.ImagesPerSecond));
            foreach (var (name, run) in runs)
            {
                var row = Row($"{name} simulated", run.Simulated.Accuracy, run.Simulated.Seconds, run.Simulated.ImagesPerSecond);
                row["hw"] = name;
                row["cost"] = Reports.CostJson(run.Cost);
                row["cost_unavailable"] = run.Cost.Unavailable;
                rows.Add(row);
            }
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["dataset"] = "fashion-mnist",
                ["images"] = session.Test.Count,
                ["parameters"] = summary.Parameters,
                ["macs"] = summary.Macs,
                ["rows"] = rows,
            }, $"FP32 {session.Fp32.Accuracy:P2}, W8A8 {session.Ideal.Accuracy:P2}, " + string.Join(", ", runs.Select(r => $"{r.Name} {r.Run.Simulated.Accuracy:P2}")));
            return ExitCodes.Ok;
        }));
        return command;
    }
}
