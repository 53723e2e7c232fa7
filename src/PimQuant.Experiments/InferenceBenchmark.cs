using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using static TorchSharp.torch;

namespace PimQuant.Experiments;

/// <summary>What <c>pimq bench infer</c> times.</summary>
/// <param name="Model">The ONNX model.</param>
/// <param name="Data">The dataset and preprocessing flags.</param>
/// <param name="BatchSize">Images per batch.</param>
/// <param name="Images">Test images per timed pass (at least one batch; at most the test split).</param>
/// <param name="Passes">Timed passes per engine; the median is reported.</param>
/// <param name="Threads">Threads of both engines (libtorch is set up by the caller).</param>
/// <param name="CpuTime">Time by the calling thread's CPU time instead of the wall clock (needs one thread).</param>
public sealed record InferenceBenchmarkRequest(string Model, DataOptions Data, int BatchSize, int Images, int Passes, int Threads, bool CpuTime);

/// <summary>Images/s of PimQuant's FP32 inference and of ONNX Runtime, timed alike.</summary>
/// <param name="Data">The dataset and preprocessing the images were read with.</param>
/// <param name="Images">Images per timed pass (whole batches).</param>
/// <param name="PimQuant">PimQuant's images/s of every pass, ascending.</param>
/// <param name="OnnxRuntime">ONNX Runtime's images/s of every pass, ascending.</param>
/// <param name="MaxAbsLogitDifference">The two engines' largest logit difference on the first batch.</param>
public sealed record InferenceBenchmarkResult(ResolvedData Data, int Images, IReadOnlyList<double> PimQuant, IReadOnlyList<double> OnnxRuntime,
    double MaxAbsLogitDifference)
{
    /// <summary>PimQuant's median images/s.</summary>
    public double PimQuantMedian => PimQuant[PimQuant.Count / 2];

    /// <summary>ONNX Runtime's median images/s.</summary>
    public double OnnxRuntimeMedian => OnnxRuntime[OnnxRuntime.Count / 2];

    /// <summary>PimQuant's median over ONNX Runtime's.</summary>
    public double Ratio => PimQuantMedian / OnnxRuntimeMedian;
}

/// <summary>
/// PimQuant's FP32 inference (as <c>pimq eval</c> runs it) against ONNX Runtime on the same model, images,
/// batches and threads, in one process: the speed bar is a ratio, so the machine's load affects both alike.
/// </summary>
public static partial class InferenceBenchmark
{
    /// <summary>Runs <paramref name="request"/>: both engines warm up once, then each runs its timed passes.</summary>
    /// <exception cref="ExperimentException">--cpu-time with more than one thread, or bad model or data.</exception>
    public static InferenceBenchmarkResult Run(InferenceBenchmarkRequest request, IExperimentProgress progress, CancellationToken cancel)
    {
        if (request.CpuTime && request.Threads != 1)
            throw new ExperimentException("--cpu-time needs --threads 1: other threads' work would not be counted", ExperimentErrorKind.InvalidOption);
        Func<double> clock = request.CpuTime ? ThreadCpuTime.Seconds : () => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
        using var graph = ModelFiles.Load(request.Model);
        var resolved = request.Data.Resolve(graph, request.Model);
        var test = resolved.Test;
        int batchSize = request.BatchSize;
        int count = Math.Min(Math.Max(request.Images, batchSize), test.Count);
        var batches = new BatchLoader(test.Slice(0, count), batchSize, shuffle: false, seed: 0, resolved.Normalization, Augmentation.None, dropLast: true)
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
            IntraOpNumThreads = request.Threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        using var session = new InferenceSession(request.Model, sessionOptions);
        string inputName = session.InputNames[0], outputName = session.OutputNames[0];
        // PimQuant runs any batch (the importer generalises a file's batch-1 shapes); ONNX Runtime holds a file to its own.
        if (session.InputMetadata[inputName].Dimensions is [> 0 and var fixedBatch, ..] && fixedBatch != batchSize)
            throw new ExperimentException($"{Path.GetFileName(request.Model)}: input '{inputName}' fixes the batch at {fixedBatch}, so ONNX Runtime runs the file only at --batch-size {fixedBatch} (export it with a dynamic batch to compare at others)", ExperimentErrorKind.InvalidOption);
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
        progress.Log($"{timed} images in batches of {batchSize}, {request.Threads} threads, {request.Passes} passes per engine (median), {(request.CpuTime ? "thread CPU time" : "wall clock")}");
        PimQuantPass(); OrtPass(); // warm-up: allocators, kernels, ORT's graph optimisation
        var pim = Enumerable.Range(0, request.Passes).Select(_ => PimQuantPass()).Order().ToArray();
        var ort = Enumerable.Range(0, request.Passes).Select(_ => OrtPass()).Order().ToArray();
        return new InferenceBenchmarkResult(resolved, timed, pim, ort, maxDiff);
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
            if (ClockGetTime(ThreadCpuClock, out var t) != 0) throw new ExperimentException("--cpu-time: this system has no thread CPU clock", ExperimentErrorKind.InvalidOption);
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
