using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq bench</c>: speed measurements against a peer run in the same process.</summary>
public static class BenchCommand
{
    /// <summary>The command and its <c>infer</c> subcommand.</summary>
    public static Command Create() => new("bench", "Speed measurements against a peer run in the same process") { Infer() };

    private static Command Infer()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var batch = CommonOptions.BatchSize(256);
        var passes = CommonOptions.Integer("--passes", "Timed passes per engine (the median is reported)", 1, fallback: 3);
        // Images per timed pass: about ten batches at the default batch, enough for a stable median.
        const int DefaultImages = 2560;
        var data = new DataFlags($"{DefaultImages}, or the test split if smaller; timed per pass");
        var cpuTime = new Option<bool>("--cpu-time")
        {
            Description = "Time by the calling thread's CPU time, not the wall clock: with --threads 1 both engines compute on that thread, so other processes on the machine do not bias the ratio",
        };
        var command = new Command("infer", CommonOptions.Help("Images/s of PimQuant's FP32 inference and of ONNX Runtime on the same model, batch and threads",
            "pimq bench infer models/resnet20-fmnist.onnx", "pimq bench infer my.onnx --batch-size 64 --threads 1 --json"))
        {
            modelPath, batch, passes,
        };
        data.AddTo(command);
        foreach (var option in new Option[] { threads, cpuTime, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, null, (output, cancel) =>
        {
            var request = new InferenceBenchmarkRequest(parse.GetValue(modelPath)!, data.Read(parse), parse.GetValue(batch), parse.GetValue(data.Images) ?? DefaultImages,
                parse.GetValue(passes), parse.GetValue(threads), parse.GetValue(cpuTime));
            var r = InferenceBenchmark.Run(request, new ConsoleProgress(output), cancel);
            var table = new Table().AddColumns("engine", request.CpuTime ? "images/CPU-s (median)" : "images/s (median)", "passes");
            table.AddRow("PimQuant (TorchSharp)", r.PimQuantMedian.ToString("F0"), string.Join(" ", r.PimQuant.Select(v => v.ToString("F0"))));
            table.AddRow("ONNX Runtime", r.OnnxRuntimeMedian.ToString("F0"), string.Join(" ", r.OnnxRuntime.Select(v => v.ToString("F0"))));
            output.Err.Write(table);
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(request.Model),
                ["dataset"] = r.Data.DatasetName,
                ["preprocessing"] = Reports.PreprocessingJson(r.Data.Preprocessing),
                ["batch_size"] = request.BatchSize,
                ["images"] = r.Images,
                ["threads"] = request.Threads,
                ["passes"] = request.Passes,
                ["clock"] = request.CpuTime ? "thread-cpu" : "wall",
                ["pimquant_images_per_second"] = r.PimQuantMedian,
                ["onnxruntime_images_per_second"] = r.OnnxRuntimeMedian,
                ["ratio"] = r.Ratio,
                ["max_abs_logit_difference"] = r.MaxAbsLogitDifference,
                ["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
            }, $"PimQuant {r.PimQuantMedian:F0} images/s, ONNX Runtime {r.OnnxRuntimeMedian:F0} images/s, ratio {r.Ratio:F2}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
