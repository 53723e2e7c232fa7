using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Experiments;
using Spectre.Console;
using static TorchSharp.torch;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq bench</c>: speed measurements against a peer run in the same process.</summary>
public static partial class BenchCommand
{
    /// <summary>The command and its <c>infer</c> subcommand.</summary>
    public static Command Create() => new("bench", "Speed measurements against a peer run in the same process") { Infer() };

    private static Command Infer()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var batch = CommonOptions.BatchSize(256);
        var images = CommonOptions.Integer("--images", "Test images per timed pass", 1, fallback: 2560);
        var passes = CommonOptions.Integer("--passes", "Timed passes per engine (the median is reported)", 1, fallback: 3);
        var data = new DataFlags();
        var cpuTime = new Option<bool>("--cpu-time")
        {
            Description = "Time by the calling thread's CPU time, not the wall clock: with --threads 1 both engines compute on that thread, so other processes on the machine do not bias the ratio",
        };
        var command = new Command("infer", "Images/s of PimQuant's FP32 inference and of ONNX Runtime on the same model, batch and threads")
        {
            modelPath, batch, images, passes,
        };
        data.AddTo(command);
        foreach (var option in new Option[] { threads, cpuTime, json }) command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, null, (output, cancel) =>
        {
            string path = parse.GetValue(modelPath)!;
            int batchSize = parse.GetValue(batch), threadCount = parse.GetValue(threads), passCount = parse.GetValue(passes);
            bool onCpuTime = parse.GetValue(cpuTime);
            if (onCpuTime && threadCount != 1)
                throw new UserError("--cpu-time needs --threads 1: other threads' work would not be counted", ExitCodes.Usage);
            Func<double> clock = onCpuTime ? ThreadCpuTime.Seconds : () => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
            var dataOptions = data.Read(parse);
            using var graph = ModelFiles.Load(path);
            var resolved = dataOptions.Resolve(graph, path);
            var (test, normalization) = (resolved.Test, resolved.Normalization);
            int count = Math.Min(Math.Max(parse.GetValue(images), batchSize), test.Count);
            var batches = new BatchLoader(test.Slice(0, count), batchSize, shuffle: false, seed: 0, normalization, Augmentation.None, dropLast: true)
                .Epoch(0).Select(b => { using (b) return (float[])b.Images.Clone(); }).ToList();
            long[] shape = [batchSize, test.Channels, test.Height, test.Width];
            int timed = batches.Count * batchSize;

            // Inference as pimq eval runs it (ONNX Runtime folds batch norm too).
            var executor = Evaluation.InferenceExecutor(graph);
            double PimQuantPass()
            {
                using var noGrad = no_grad();
                double start = clock();
                foreach (var b in batches)
                {
                    cancel.ThrowIfCancellationRequested();
                    using var scope = NewDisposeScope();
                    executor.Forward(tensor(b, shape)).sum().item<float>();
                }
                return timed / (clock() - start);
            }

            using var sessionOptions = new SessionOptions
            {
                IntraOpNumThreads = threadCount,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            };
            using var session = new InferenceSession(path, sessionOptions);
            string inputName = session.InputNames[0], outputName = session.OutputNames[0];
            using var runOptions = new RunOptions();
            double OrtPass()
            {
                double start = clock();
                foreach (var b in batches)
                {
                    cancel.ThrowIfCancellationRequested();
                    using var input = OrtValue.CreateTensorValueFromMemory(b, shape);
                    using var results = session.Run(runOptions, [inputName], [input], [outputName]);
                }
                return timed / (clock() - start);
            }

            double maxDiff = AgreementOnFirstBatch(executor, session, inputName, outputName, batches[0], shape);
            output.Log($"{timed} images in batches of {batchSize}, {threadCount} threads, {passCount} passes per engine (median), {(onCpuTime ? "thread CPU time" : "wall clock")}");
            PimQuantPass(); OrtPass(); // warm-up: allocators, kernels, ORT's graph optimisation
            var pim = Enumerable.Range(0, passCount).Select(_ => PimQuantPass()).Order().ToArray();
            var ort = Enumerable.Range(0, passCount).Select(_ => OrtPass()).Order().ToArray();
            double pimMedian = pim[passCount / 2], ortMedian = ort[passCount / 2], ratio = pimMedian / ortMedian;

            var table = new Table().AddColumns("engine", onCpuTime ? "images/CPU-s (median)" : "images/s (median)", "passes");
            table.AddRow("PimQuant (TorchSharp)", pimMedian.ToString("F0"), string.Join(" ", pim.Select(v => v.ToString("F0"))));
            table.AddRow("ONNX Runtime", ortMedian.ToString("F0"), string.Join(" ", ort.Select(v => v.ToString("F0"))));
            output.Err.Write(table);
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["dataset"] = resolved.DatasetName,
                ["preprocessing"] = Reports.PreprocessingJson(resolved.Preprocessing),
                ["batch_size"] = batchSize,
                ["images"] = timed,
                ["threads"] = threadCount,
                ["passes"] = passCount,
                ["clock"] = onCpuTime ? "thread-cpu" : "wall",
                ["pimquant_images_per_second"] = pimMedian,
                ["onnxruntime_images_per_second"] = ortMedian,
                ["ratio"] = ratio,
                ["max_abs_logit_difference"] = maxDiff,
                ["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
            }, $"PimQuant {pimMedian:F0} images/s, ONNX Runtime {ortMedian:F0} images/s, ratio {ratio:F2}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID).</summary>
    private static partial class ThreadCpuTime
    {
        [StructLayout(LayoutKind.Sequential)]
        private struct TimeSpec { public long Seconds, Nanoseconds; }

        [LibraryImport("libc", EntryPoint = "clock_gettime")]
        private static partial int ClockGetTime(int clock, out TimeSpec time);

        public static double Seconds()
        {
            const int ThreadCpuClock = 3;
            if (ClockGetTime(ThreadCpuClock, out var t) != 0) throw new UserError("--cpu-time: this system has no thread CPU clock");
            return t.Seconds + t.Nanoseconds * 1e-9;
        }
    }

    /// <summary>Both engines on the same batch: a speed figure means little if the logits differ.</summary>
    private static double AgreementOnFirstBatch(GraphExecutor executor, InferenceSession session, string inputName, string outputName, float[] batch, long[] shape)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var ours = executor.Forward(tensor(batch, shape)).contiguous().data<float>().ToArray();
        using var input = OrtValue.CreateTensorValueFromMemory(batch, shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [inputName], [input], [outputName]);
        var theirs = results[0].GetTensorDataAsSpan<float>();
        double max = 0;
        for (int i = 0; i < ours.Length; i++) max = Math.Max(max, Math.Abs(ours[i] - theirs[i]));
        return max;
    }
}
