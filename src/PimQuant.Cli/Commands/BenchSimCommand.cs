using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Accelerator;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Hardware.Presets;
using PimQuant.Models;
using PimQuant.Onnx;
using PimQuant.Quant.Model;
using PimQuant.Sim;
using PimQuant.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace PimQuant.Cli.Commands;

/// <summary>
/// <c>pimq bench sim</c>: simulated images/s on each hardware preset beside PimQuant's own FP32 inference of
/// the same model on the same images in the same process, and their time ratio (crossbar-model speed bars).
/// </summary>
public static class BenchSimCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var model = new Option<string>("--model") { Description = "resnet20 (the default model on Fashion-MNIST test images), vgg8 (the zoo's VGG-8 on seeded random 3×32×32 images) or an ONNX file", DefaultValueFactory = _ => "resnet20" };
        var hw = new Option<string[]>("--hw") { Description = "Presets to simulate (default: isaac and bwq-h for resnet20, neurosim-rram for vgg8)", AllowMultipleArgumentsPerToken = true };
        var images = new Option<int?>("--images") { Description = "Images (default: 10,000 for resnet20, 200 for vgg8)", Validators = { r => { if (r.GetValueOrDefault<int?>() < 1) r.AddError("--images must be at least 1"); } } };
        var batch = CommonOptions.BatchSize(200);
        var command = new Command("sim", "Images/s of the crossbar simulation on presets beside PimQuant's FP32 inference of the same model and images")
        {
            model, hw, images, batch, threads, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, null, (output, cancel) =>
        {
            string name = parse.GetValue(model)!;
            bool vgg = name == "vgg8";
            var presets = parse.GetValue(hw) is { Length: > 0 } given ? given : vgg ? ["neurosim-rram"] : ["isaac", "bwq-h"];
            int count = parse.GetValue(images) ?? (vgg ? 200 : 10_000);
            int batchSize = parse.GetValue(batch);
            using var scope = NewDisposeScope();
            var (graph, test, normalization, calibration) = vgg ? Vgg8(count) : Onnx(name == "resnet20" ? Workspace.DefaultModel : name, count, output);
            using var owned = graph;
            using var quantized = SimulationPipeline.Quantize(graph, SimulationPipeline.Config(8, 8), calibration, 0, output, cancel);
            // The reference is PimQuant's fastest FP32 inference, the executor `pimq eval` and `pimq bench infer` use.
            var (fp32, fp32Cpu) = Timed(() => EvalCommand.Run(output, EvalCommand.InferenceExecutor(graph), test, normalization, batchSize, cancel));
            output.Log($"FP32: {fp32.ImagesPerSecond:F0} images/s");

            var table = new Table().Title($"pimq bench sim: {name}, {test.Count:N0} images, batch {batchSize}, {parse.GetValue(threads)} threads")
                .AddColumns("hardware", "path", "images/s", "seconds", "FP32 seconds", "time ratio", "CPU-time ratio");
            var rows = new JsonArray();
            foreach (var preset in presets)
            {
                var spec = PresetCatalog.Load(preset);
                // bwq-h's 9-row OUs are exact (p ≤ 9 ≤ 15): time the read-by-read OU simulation a lossy ADC would need.
                SimulationPath? path = preset == "bwq-h" ? SimulationPath.OuTable : null;
                var options = new SimulationOptions { Configuration = new SimConfiguration { MaxDegreeOfParallelism = parse.GetValue(threads) }, Path = path };
                CrossbarModel crossbars;
                try { crossbars = SimulationPipeline.Program(quantized, spec, options, calibration, output); }
                catch (SimulationException e) { throw new UserError(e.Message); }
                string paths = path?.ToString() ?? string.Join(", ", crossbars.Layers.Select(l => l.IsLossless ? "lossless (libtorch)" : l.Groups[0].DefaultPath.ToString()).Distinct());
                var (run, cpu) = Timed(() => EvalCommand.Run(output, crossbars.CreateExecutor(), test, normalization, batchSize, cancel));
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

    private static (PimQuant.Engine.Graph.ModelGraph, ImageDataset, Normalization, Tensor) Onnx(string path, int count, Output output)
    {
        var graph = ModelFiles.Load(path);
        var (normalization, _) = ModelFiles.ResolvePreprocessing(graph, null, null);
        string dataset = graph.Metadata.GetValueOrDefault(ModelFiles.DatasetKey) ?? "fashion-mnist";
        var test = Workspace.LoadDataset(dataset, "test", null);
        EvalCommand.CheckCompatible(path, graph, test);
        var calibration = SimulationPipeline.CalibrationImages(dataset, null, 256, 0, normalization, output);
        return (graph, test.Slice(0, Math.Min(count, test.Count)), normalization, calibration);
    }

    /// <summary>The zoo's VGG-8 (seeded weights) on seeded random 32×32 RGB images: a speed measurement, not an accuracy one.</summary>
    private static (PimQuant.Engine.Graph.ModelGraph, ImageDataset, Normalization, Tensor) Vgg8(int count)
    {
        var graph = ModelZoo.Build("vgg8", new ModelInput(3, 32), seed: 0);
        var random = new Random(0);
        var pixels = new byte[(long)(count + 256) * 3 * 32 * 32];
        random.NextBytes(pixels);
        var labels = new byte[count + 256];
        var all = new ImageDataset("random-rgb32", 3, 32, 32, 10, pixels, labels);
        var normalization = new Normalization([0.5f, 0.5f, 0.5f], [0.25f, 0.25f, 0.25f]);
        var calibration = tensor(normalization.Apply(all.Slice(count, 256)), [256, 3, 32, 32]);
        return (graph, all.Slice(0, count), normalization, calibration);
    }
}
