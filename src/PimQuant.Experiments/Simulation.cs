using PimQuant.Accelerator;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Sim;
using PimQuant.Training;
using static TorchSharp.torch;
using PimQuant.Hardware.Cost;

namespace PimQuant.Experiments;

/// <summary>Everything one simulation needs; with <paramref name="Checkpoint"/> its progress is saved there every
/// <paramref name="CheckpointEvery"/> batches and, with <paramref name="Resume"/>, continued from it.</summary>
/// <param name="Model">The ONNX model file.</param>
/// <param name="Spec">The hardware spec, overrides applied.</param>
/// <param name="WeightBits">Weight bits of the default config; null: the spec's defaults.</param>
/// <param name="ActivationBits">Activation bits of the default config; null: the spec's defaults.</param>
/// <param name="ConfigPath">A quantization config file instead of the widths.</param>
/// <param name="Data">The dataset, its directory and the preprocessing.</param>
/// <param name="Images">Simulate the first N test images; null: all.</param>
/// <param name="CalibrationImages">Training images that calibrate the quantizers.</param>
/// <param name="Seed">Seed of every random choice.</param>
/// <param name="BatchSize">Images per batch.</param>
/// <param name="Threads">Threads of the simulator (and libtorch).</param>
/// <param name="Path">The simulation path of every layer; null: the fastest exact-equivalent per layer.</param>
/// <param name="Checkpoint">Where to save the progress; null: no checkpoint.</param>
/// <param name="Resume">Continue from <paramref name="Checkpoint"/> if it exists.</param>
/// <param name="CheckpointEvery">Test batches between saves.</param>
/// <param name="Method">The parts a method composes into the run (e.g. ReDy's digit policy); null: the conventional scheme.</param>
public sealed record SimulationRequest(string Model, HardwareSpec Spec, int? WeightBits, int? ActivationBits, string? ConfigPath, DataOptions Data,
    int? Images, int CalibrationImages, long Seed, int BatchSize, int Threads, SimulationPath? Path,
    string? Checkpoint = null, bool Resume = false, int CheckpointEvery = 1, MethodParts? Method = null);

/// <summary>The three accuracies of a simulation, its cost and what produced them.</summary>
/// <param name="Data">The dataset, test images and preprocessing the run resolved.</param>
/// <param name="WeightBits">Weight bits on the crossbars.</param>
/// <param name="ActivationBits">Activation bits on the crossbars.</param>
/// <param name="Fp32">Accuracy of the model as loaded.</param>
/// <param name="Ideal">Accuracy of the ideal integer model.</param>
/// <param name="Simulated">Accuracy on the simulated crossbars.</param>
/// <param name="Cost">The cost of one image, priced from the counted events.</param>
/// <param name="Layers">The crossbar layers.</param>
/// <param name="Events">Each crossbar layer's events over every test image.</param>
/// <param name="ProgramSeconds">Time spent programming the crossbars.</param>
/// <param name="ResumedFromImage">Images a resumed run found done in its checkpoint.</param>
public sealed record SimulationResult(ResolvedData Data, int WeightBits, int ActivationBits, EvaluationResult Fp32,
    EvaluationResult Ideal, EvaluationResult Simulated, SimulationCost Cost, IReadOnlyList<CrossbarLayer> Layers,
    IReadOnlyList<EventCounts> Events, double ProgramSeconds, int ResumedFromImage);

/// <summary>A model's accuracy in FP32, as the ideal integer model and on a simulated crossbar accelerator, with its cost.</summary>
public static class Simulation
{
    /// <summary>FP32, ideal integer and simulated accuracy on the same test images, and the simulated cost; with
    /// <see cref="SimulationRequest.Checkpoint"/>, <paramref name="saved"/> is called after each checkpoint is saved
    /// (tests stop a run there). The config, the spec, the data and a checkpoint to resume are checked before any work.</summary>
    public static SimulationResult Run(SimulationRequest request, IExperimentProgress progress, CancellationToken cancel, Action<SimulationCheckpoint>? saved = null)
    {
        var config = request.ConfigPath is { } file
            ? Quantization.LoadConfig(file)
            : Quantization.Config(request.WeightBits ?? request.Spec.Defaults.WeightBits, request.ActivationBits ?? request.Spec.Defaults.ActivationBits);
        var checkpoint = CheckpointPolicy(request, progress, saved);
        using var scope = NewDisposeScope();
        using var session = SimulationSession.Open(request.Model, request.Data, request.Images, config, [request.Spec],
            request.CalibrationImages, request.Seed, request.BatchSize, progress, cancel, request.Method);
        return session.Simulate(request.Spec, request.Method, request.Threads, request.Path, progress, cancel, checkpoint);
    }

    /// <summary>
    /// The checkpoint policy of <paramref name="request"/>: none without a checkpoint; with resume and an
    /// existing file, the checkpoint read and checked against this run's key before any work is done.
    /// </summary>
    private static SimulationCheckpointPolicy? CheckpointPolicy(SimulationRequest request, IExperimentProgress progress, Action<SimulationCheckpoint>? saved)
    {
        if (request.Checkpoint is not { } path) return null;
        if (!File.Exists(request.Model)) throw new ExperimentException($"{request.Model}: no such file");
        var key = SimulationCheckpoint.RunKey(request);
        SimulationCheckpoint? from = null;
        if (request.Resume && File.Exists(path))
            from = SimulationCheckpoint.Load(path, key);
        else if (request.Resume)
            progress.Log($"no checkpoint at {path}; starting from the first image");
        return new SimulationCheckpointPolicy(path, request.CheckpointEvery, key, from, saved);
    }
}
