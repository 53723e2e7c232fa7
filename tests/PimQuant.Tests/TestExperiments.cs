using PimQuant.Engine.Passes;
using PimQuant.Experiments;
using PimQuant.Models;

namespace PimQuant.Tests;

/// <summary>Progress that shows nothing: library runs in tests.</summary>
internal sealed class QuietProgress : IExperimentProgress
{
    public void Log(string message) { }
    public T Step<T>(string title, Func<Action<StepProgress>, T> body) => body(_ => { });
}

/// <summary>Small models written for tests that run a whole experiment.</summary>
internal static class TestModels
{
    /// <summary>A freshly initialised zoo LeNet-5 (1×28×28, seed 3) as <paramref name="folder"/>/lenet.onnx: seconds to simulate.</summary>
    public static string LeNet(string folder)
    {
        Torch.Ensure();
        string path = Path.Combine(folder, "lenet.onnx");
        if (File.Exists(path)) return path;
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 3);
        ShapeInference.Run(graph);
        ModelFiles.Save(graph, path, "test");
        return path;
    }
}
