using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Accelerator;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using PimQuant.Hardware.Presets;
using PimQuant.Sim;
using PimQuant.Training;
using Spectre.Console;
using static TorchSharp.torch;

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
        var images = CommonOptions.OptionalInteger("--images", "Images (default: 10,000 for resnet20, 200 for vgg8)", 1);
        var batch = CommonOptions.BatchSize(200);
        var data = new DataFlags();
        var command = new Command("sim", "Images/s of the crossbar simulation on presets beside PimQuant's FP32 inference of the same model and images")
        {
            model, hw, images, batch,
        };
        data.AddTo(command);
        foreach (var option in new Option[] { threads, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, null, (output, cancel) =>
        {
            string name = parse.GetValue(model)!;
            bool vgg = name == "vgg8";
            if (vgg && data.AnyGiven(parse))
                throw new UserError("--dataset, --data, --mean and --std apply to an ONNX model; vgg8 runs on seeded random images", ExitCodes.Usage);
            var dataOptions = data.Read(parse);
            var presets = parse.GetValue(hw) is { Length: > 0 } given ? given : vgg ? ["neurosim-rram"] : ["isaac", "bwq-h"];
            var specs = presets.Select(PresetCatalog.Load).ToList();
            int count = parse.GetValue(images) ?? (vgg ? 200 : 10_000);
            int batchSize = parse.GetValue(batch);
            var progress = new ConsoleProgress(output);
            var config = Quantization.Config(8, 8);
            using var scope = NewDisposeScope();
            using var workload = vgg ? SimulationBenchmark.Vgg8(count)
                : SimulationBenchmark.Onnx(name == "resnet20" ? Workspace.DefaultModel : name, dataOptions, count, progress);
            var (graph, test, normalization, calibration) = (workload.Graph, workload.Test, workload.Preprocessing.Normalization, workload.Calibration);
            using var quantized = SimulationPipeline.Quantize(graph, config, calibration, 0, progress, cancel);
            foreach (var spec in specs) SimulationPipeline.CheckSpec(spec, quantized.Plan);
            // The reference is PimQuant's fastest FP32 inference, the executor `pimq eval` and `pimq bench infer` use.
            var (fp32, fp32Cpu) = Timed(() => Evaluation.Run(Evaluation.InferenceExecutor(graph), test, normalization, batchSize, progress, cancel));
            output.Log($"FP32: {fp32.ImagesPerSecond:F0} images/s");

            var table = new Table().Title($"pimq bench sim: {name}, {test.Count:N0} images, batch {batchSize}, {parse.GetValue(threads)} threads")
                .AddColumns("hardware", "path", "images/s", "seconds", "FP32 seconds", "time ratio", "CPU-time ratio");
            var rows = new JsonArray();
            foreach (var (preset, spec) in presets.Zip(specs))
            {
                var path = SimulationBenchmark.PathFor(spec);
                var options = new SimulationOptions { Configuration = new SimConfiguration { MaxDegreeOfParallelism = parse.GetValue(threads) }, Path = path };
                var crossbars = SimulationPipeline.Program(quantized, spec, options, calibration, progress);
                string paths = path?.ToString() ?? string.Join(", ", crossbars.Layers.Select(l => l.IsLossless ? "lossless (libtorch)" : l.Groups[0].DefaultPath.ToString()).Distinct());
                var (run, cpu) = Timed(() => Evaluation.Run(crossbars.CreateExecutor(), test, normalization, batchSize, progress, cancel));
                double ratio = run.Seconds / fp32.Seconds;
                table.AddRow(preset, Markup.Escape(paths), $"{run.ImagesPerSecond:F1}", $"{run.Seconds:F1}", $"{fp32.Seconds:F2}", $"{ratio:F2}×", $"{cpu / fp32Cpu:F2}×");
                rows.Add(new JsonObject
                {
                    ["hw"] = preset, ["paths"] = paths, ["images_per_second"] = run.ImagesPerSecond, ["seconds"] = run.Seconds,
                    ["fp32_seconds"] = fp32.Seconds, ["time_ratio"] = ratio, ["cpu_seconds"] = cpu, ["fp32_cpu_seconds"] = fp32Cpu,
                    ["cpu_time_ratio"] = cpu / fp32Cpu, ["accuracy"] = run.Accuracy,
                });
            }
            output.Err.Write(table);
            output.Result(new JsonObject
            {
                ["ok"] = true, ["model"] = name, ["images"] = test.Count, ["batch_size"] = batchSize, ["threads"] = parse.GetValue(threads),
                ["fp32_images_per_second"] = fp32.ImagesPerSecond, ["fp32_seconds"] = fp32.Seconds, ["fp32_accuracy"] = fp32.Accuracy, ["rows"] = rows,
            }, [.. rows.Select(r => $"{(string)r!["hw"]!}: {(double)r["images_per_second"]!:F1} images/s, {(double)r["time_ratio"]!:F2}× FP32")]);
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Runs <paramref name="evaluate"/> and the CPU time the process spent on it (all threads): on a shared
    /// machine the wall-clock ratio moves with the load, the CPU-time ratio much less.</summary>
    private static (EvaluationResult Result, double CpuSeconds) Timed(Func<EvaluationResult> evaluate)
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        var before = process.TotalProcessorTime;
        var result = evaluate();
        process.Refresh();
        return (result, (process.TotalProcessorTime - before).TotalSeconds);
    }
}
