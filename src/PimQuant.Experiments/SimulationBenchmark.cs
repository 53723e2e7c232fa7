using PimQuant.Accelerator;
using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Models;
using PimQuant.Sim;
using PimQuant.Training;
using static TorchSharp.torch;

namespace PimQuant.Experiments;

/// <summary>What a simulation speed measurement runs: a model, its images, their normalisation and the
/// calibration images (N, C, H, W, in the caller's dispose scope). Owns the graph.</summary>
/// <param name="Graph">The model.</param>
/// <param name="Test">The images timed.</param>
/// <param name="Preprocessing">The normalisation of every image and where it came from.</param>
/// <param name="Calibration">The calibration images.</param>
public sealed record BenchmarkWorkload(ModelGraph Graph, ImageDataset Test, Preprocessing Preprocessing, Tensor Calibration) : IDisposable
{
    /// <summary>Disposes the graph.</summary>
    public void Dispose() => Graph.Dispose();
}

/// <summary>What <c>pimq bench sim</c> times.</summary>
/// <param name="Model">resnet20 (the default model), vgg8 (the zoo's VGG-8 on seeded random images) or an ONNX file.</param>
/// <param name="Data">The dataset and preprocessing of an ONNX model; vgg8 takes none.</param>
/// <param name="Presets">Presets to simulate; empty: isaac and bwq-h (vgg8: neurosim-rram).</param>
/// <param name="Images">Images; null: 10,000 (vgg8: 200).</param>
/// <param name="BatchSize">Images per batch.</param>
/// <param name="Threads">Threads of the simulation kernels (libtorch is set up by the caller).</param>
/// <param name="CalibrationImages">Calibration images (seed 0) of the W8A8 quantizers.</param>
/// <param name="Method">A method's parts applied to every preset's simulation (e.g. ReDy's digit policy); null: none.</param>
public sealed record SimulationBenchmarkRequest(string Model, DataOptions Data, IReadOnlyList<string> Presets, int? Images, int BatchSize, int Threads,
    int CalibrationImages = SimulationBenchmark.DefaultCalibrationImages, MethodParts? Method = null);

/// <summary>One preset's simulation timed beside the FP32 inference.</summary>
/// <param name="Hardware">The preset.</param>
/// <param name="Paths">The simulation paths its layers took.</param>
/// <param name="Run">Its accuracy and wall time.</param>
/// <param name="CpuSeconds">CPU time of the process (all threads) during the run.</param>
public sealed record SimulationBenchmarkRow(string Hardware, string Paths, EvaluationResult Run, double CpuSeconds);

/// <summary>The FP32 reference and each preset's row.</summary>
/// <param name="Images">Images timed.</param>
/// <param name="Fp32">PimQuant's FP32 inference (the executor <c>pimq eval</c> uses).</param>
/// <param name="Fp32CpuSeconds">Its CPU time.</param>
/// <param name="Rows">One row per preset.</param>
public sealed record SimulationBenchmarkResult(int Images, EvaluationResult Fp32, double Fp32CpuSeconds, IReadOnlyList<SimulationBenchmarkRow> Rows)
{
    /// <summary><paramref name="row"/>'s wall time over the FP32 inference's.</summary>
    public double TimeRatio(SimulationBenchmarkRow row) => row.Run.Seconds / Fp32.Seconds;

    /// <summary><paramref name="row"/>'s CPU time over the FP32 inference's: moves less with the machine's load.</summary>
    public double CpuTimeRatio(SimulationBenchmarkRow row) => row.CpuSeconds / Fp32CpuSeconds;
}

/// <summary>The workloads, simulation paths and measurement of <c>pimq bench sim</c>.</summary>
public static class SimulationBenchmark
{
    /// <summary>
    /// Times each preset's simulation of the W8A8 model beside PimQuant's own FP32 inference of the same images in
    /// this process (the speed bars are these ratios, docs/performance.md).
    /// </summary>
    /// <exception cref="ExperimentException">Data options with vgg8, an unknown preset, or a model or data that cannot be used.</exception>
    public static SimulationBenchmarkResult Run(SimulationBenchmarkRequest request, IExperimentProgress progress, CancellationToken cancel)
    {
        bool vgg = request.Model == "vgg8";
        if (vgg && request.Data != new DataOptions())
            throw new ExperimentException("--dataset, --data, --mean and --std apply to an ONNX model; vgg8 runs on seeded random images", ExperimentErrorKind.InvalidOption);
        var presets = request.Presets.Count > 0 ? request.Presets : vgg ? ["neurosim-rram"] : ["isaac", "bwq-h"];
        var specs = presets.Select(PresetCatalog.Load).ToList();
        int count = request.Images ?? (vgg ? 200 : 10_000);
        using var scope = NewDisposeScope();
        using var workload = vgg ? Vgg8(count, request.CalibrationImages)
            : Onnx(request.Model == "resnet20" ? Workspace.DefaultModel : request.Model, request.Data, count, request.CalibrationImages, progress);
        var (graph, test, normalization, calibration) = (workload.Graph, workload.Test, workload.Preprocessing.Normalization, workload.Calibration);
        using var quantized = SimulationPipeline.Quantize(graph, Quantization.Config(8, 8), calibration, 0, progress, cancel);
        foreach (var spec in specs) SimulationPipeline.CheckSpec(spec, quantized.Plan);
        // The reference is PimQuant's fastest FP32 inference, the executor `pimq eval` and `pimq bench infer` use.
        var (fp32, fp32Cpu) = Timed(() => Evaluation.Run(Evaluation.InferenceExecutor(graph), test, normalization, request.BatchSize, progress, cancel));
        progress.Log($"FP32: {fp32.ImagesPerSecond:F0} images/s");
        var rows = new List<SimulationBenchmarkRow>();
        foreach (var (preset, spec) in presets.Zip(specs))
        {
            var path = PathFor(spec);
            var options = new SimulationOptions
            {
                Configuration = new SimConfiguration { MaxDegreeOfParallelism = request.Threads }, Path = path, DigitPolicy = request.Method?.DigitPolicy,
            };
            var crossbars = SimulationPipeline.Program(quantized, spec, options, calibration, progress);
            // A digit policy keeps lossless layers on the exact kernel (masked inputs), not libtorch's product.
            string paths = path?.ToString() ?? string.Join(", ", crossbars.Layers
                .Select(l => l.IsLossless && options.DigitPolicy is null ? "lossless (libtorch)" : l.Groups[0].DefaultPath.ToString()).Distinct());
            var (run, cpu) = Timed(() => Evaluation.Run(crossbars.CreateExecutor(), test, normalization, request.BatchSize, progress, cancel));
            rows.Add(new SimulationBenchmarkRow(preset, paths, run, cpu));
        }
        return new SimulationBenchmarkResult(test.Count, fp32, fp32Cpu, rows);
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

    /// <summary>Calibration images of a speed measurement unless asked otherwise: fewer than a run's default, as only the speed is measured.</summary>
    public const int DefaultCalibrationImages = 256;

    /// <summary>
    /// The simulation path a spec is timed on: a spec that reads in operation units of fewer rows than its arrays
    /// (bwq-h's 9-row OUs) is usually exact, so every layer would take the lossless libtorch product and the
    /// figure would time libtorch; it is timed on the read-by-read OU simulation a lossy ADC at that geometry
    /// needs. Null: the fastest exact-equivalent path per layer.
    /// </summary>
    public static SimulationPath? PathFor(HardwareSpec spec) =>
        spec.DefaultArray.OuRows < spec.DefaultArray.Rows ? SimulationPath.OuTable : null;

    /// <summary>The first <paramref name="count"/> test images of the model at <paramref name="path"/>, on the data and
    /// preprocessing <paramref name="data"/> resolves, with <paramref name="calibrationImages"/> seed-0 calibration images.</summary>
    public static BenchmarkWorkload Onnx(string path, DataOptions data, int count, int calibrationImages, IExperimentProgress progress)
    {
        var graph = ModelFiles.Load(path);
        try
        {
            var resolved = data.Resolve(graph, path, count);
            var calibration = resolved.CalibrationImages(calibrationImages, 0, progress);
            return new BenchmarkWorkload(graph, resolved.Test, resolved.Preprocessing, calibration);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <summary>The zoo's VGG-8 (seeded weights) on seeded random 32×32 RGB images: a speed measurement, not an accuracy one.</summary>
    public static BenchmarkWorkload Vgg8(int count, int calibrationImages = DefaultCalibrationImages)
    {
        var graph = ModelZoo.Build("vgg8", new ModelInput(3, 32), seed: 0);
        var random = new Random(0);
        var pixels = new byte[(long)(count + calibrationImages) * 3 * 32 * 32];
        random.NextBytes(pixels);
        var labels = new byte[count + calibrationImages];
        var all = new ImageDataset("random-rgb32", 3, 32, 32, 10, pixels, labels);
        var normalization = new Normalization([0.5f, 0.5f, 0.5f], [0.25f, 0.25f, 0.25f]);
        var calibration = tensor(normalization.Apply(all.Slice(count, calibrationImages)), [calibrationImages, 3, 32, 32]);
        return new BenchmarkWorkload(graph, all.Slice(0, count), new Preprocessing(normalization, PreprocessingSource.Workload), calibration);
    }
}
