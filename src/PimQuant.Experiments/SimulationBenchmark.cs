using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Hardware.Spec;
using PimQuant.Models;
using PimQuant.Sim;
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

/// <summary>The workloads and simulation paths of <c>pimq bench sim</c>.</summary>
public static class SimulationBenchmark
{
    /// <summary>Calibration images of a speed measurement.</summary>
    private const int CalibrationImages = 256;

    /// <summary>
    /// The simulation path a spec is timed on: a spec that reads in operation units of fewer rows than its arrays
    /// (bwq-h's 9-row OUs) is usually exact, so every layer would take the lossless libtorch product and the
    /// figure would time libtorch; it is timed on the read-by-read OU simulation a lossy ADC at that geometry
    /// needs. Null: the fastest exact-equivalent path per layer.
    /// </summary>
    public static SimulationPath? PathFor(HardwareSpec spec) =>
        spec.DefaultArray.OuRows < spec.DefaultArray.Rows ? SimulationPath.OuTable : null;

    /// <summary>The first <paramref name="count"/> test images of the model at <paramref name="path"/>, on the data and
    /// preprocessing <paramref name="data"/> resolves, with the seed-0 calibration images.</summary>
    public static BenchmarkWorkload Onnx(string path, DataOptions data, int count, IExperimentProgress progress)
    {
        var graph = ModelFiles.Load(path);
        try
        {
            var resolved = data.Resolve(graph, path, count);
            var calibration = resolved.CalibrationImages(CalibrationImages, 0, progress);
            return new BenchmarkWorkload(graph, resolved.Test, resolved.Preprocessing, calibration);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <summary>The zoo's VGG-8 (seeded weights) on seeded random 32×32 RGB images: a speed measurement, not an accuracy one.</summary>
    public static BenchmarkWorkload Vgg8(int count)
    {
        var graph = ModelZoo.Build("vgg8", new ModelInput(3, 32), seed: 0);
        var random = new Random(0);
        var pixels = new byte[(long)(count + CalibrationImages) * 3 * 32 * 32];
        random.NextBytes(pixels);
        var labels = new byte[count + CalibrationImages];
        var all = new ImageDataset("random-rgb32", 3, 32, 32, 10, pixels, labels);
        var normalization = new Normalization([0.5f, 0.5f, 0.5f], [0.25f, 0.25f, 0.25f]);
        var calibration = tensor(normalization.Apply(all.Slice(count, CalibrationImages)), [CalibrationImages, 3, 32, 32]);
        return new BenchmarkWorkload(graph, all.Slice(0, count), new Preprocessing(normalization, PreprocessingSource.Workload), calibration);
    }
}
