using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary>
/// <c>pimq bench sim</c>: simulated images/s on each hardware preset beside PimQuant's own FP32 inference of
/// the same model on the same images in the same process, and their time ratio (the speed bars of docs/performance.md).
/// </summary>
public static class BenchSimCommand
{
    /// <summary>The command.</summary>
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var model = new Option<string>("--model") { Description = "resnet20 (the default model on Fashion-MNIST test images), vgg8 (the zoo's VGG-8 on seeded random 3×32×32 images) or an ONNX file", DefaultValueFactory = _ => "resnet20" };
        var hw = new Option<string[]>("--hw") { Description = "Presets to simulate (default: isaac and bwq-h for resnet20, neurosim-rram for vgg8)", AllowMultipleArgumentsPerToken = true };
        var batch = CommonOptions.BatchSize(200);
        var data = new DataFlags("10,000 for resnet20, 200 for vgg8");
        var calibrationImages = CommonOptions.CalibrationImages(SimulationBenchmark.DefaultCalibrationImages);
        var scheme = new SchemeFlags();
        var command = new Command("sim", CommonOptions.Help("Images/s of the crossbar simulation on presets beside PimQuant's FP32 inference of the same model and images",
            "pimq bench sim", "pimq bench sim --hw isaac --scheme redy --redy-heuristic stats --json", "pimq bench sim --model vgg8 --images 500"))
        {
            model, hw, batch, calibrationImages,
        };
        data.AddTo(command);
        scheme.AddTo(command);
        foreach (var option in new Option[] { threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, null, (output, cancel) =>
        {
            string name = parse.GetValue(model)!;
            var request = new SimulationBenchmarkRequest(name, data.Read(parse), parse.GetValue(hw) ?? [], parse.GetValue(data.Images),
                parse.GetValue(batch), parse.GetValue(threads), parse.GetValue(calibrationImages), scheme.Read(parse));
            var r = SimulationBenchmark.Run(request, new ConsoleProgress(output), cancel);
            var table = new Table().Title($"pimq bench sim: {name}, {r.Images:N0} images, batch {request.BatchSize}, {request.Threads} threads")
                .AddColumns("hardware", "path", "images/s", "seconds", "FP32 seconds", "time ratio", "CPU-time ratio");
            var rows = new JsonArray();
            foreach (var row in r.Rows)
            {
                table.AddRow(row.Hardware, Markup.Escape(row.Paths), $"{row.Run.ImagesPerSecond:F1}", $"{row.Run.Seconds:F1}", $"{r.Fp32.Seconds:F2}",
                    $"{r.TimeRatio(row):F2}×", $"{r.CpuTimeRatio(row):F2}×");
                rows.Add(new JsonObject
                {
                    ["hw"] = row.Hardware, ["paths"] = row.Paths, ["images_per_second"] = row.Run.ImagesPerSecond, ["seconds"] = row.Run.Seconds,
                    ["fp32_seconds"] = r.Fp32.Seconds, ["time_ratio"] = r.TimeRatio(row), ["cpu_seconds"] = row.CpuSeconds, ["fp32_cpu_seconds"] = r.Fp32CpuSeconds,
                    ["cpu_time_ratio"] = r.CpuTimeRatio(row), ["accuracy"] = row.Run.Accuracy,
                });
            }
            output.Err.Write(table);
            output.Result(new JsonObject
            {
                ["ok"] = true, ["model"] = name, ["method"] = request.Method?.Label ?? "conventional", ["images"] = r.Images, ["batch_size"] = request.BatchSize, ["threads"] = request.Threads,
                ["fp32_images_per_second"] = r.Fp32.ImagesPerSecond, ["fp32_seconds"] = r.Fp32.Seconds, ["fp32_accuracy"] = r.Fp32.Accuracy, ["rows"] = rows,
            }, [.. r.Rows.Select(row => $"{row.Hardware}: {row.Run.ImagesPerSecond:F1} images/s, {r.TimeRatio(row):F2}× FP32")]);
            return ExitCodes.Ok;
        }));
        return command;
    }
}
