using Microsoft.ML.OnnxRuntime;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using Xunit;
using static TorchSharp.torch;

namespace PimQuant.Tests.Onnx;

/// <summary>One output of a model run: its shape and values.</summary>
internal sealed record ModelOutput(long[] Shape, float[] Values);

/// <summary>Runs a model in ONNX Runtime and in PimQuant on the same input and compares the outputs.</summary>
internal static class OnnxParity
{
    public const int Batch = 3;

    /// <summary>A seeded standard-normal input batch of <see cref="Batch"/>.</summary>
    public static (float[] Data, long[] Shape) Input(long[] sampleShape, int seed = 7)
    {
        long[] shape = [Batch, .. sampleShape];
        var rng = new Random(seed);
        var data = new float[shape.Aggregate(1L, (a, d) => a * d)];
        for (int i = 0; i < data.Length; i++)
            data[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return (data, shape);
    }

    public static ModelOutput[] RunOrt(byte[] model, (float[] Data, long[] Shape) input)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(model, options);
        using var value = OrtValue.CreateTensorValueFromMemory(input.Data, input.Shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [session.InputNames[0]], [value], session.OutputNames);
        return outputs.Select(o => new ModelOutput(o.GetTensorTypeAndShape().Shape, o.GetTensorDataAsSpan<float>().ToArray())).ToArray();
    }

    /// <summary>Runs <paramref name="graph"/> in inference mode, as the CLI would.</summary>
    public static ModelOutput[] RunPimQuant(ModelGraph graph, (float[] Data, long[] Shape) input)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var executor = new GraphExecutor(graph) { Training = false };
        return executor.Run([tensor(input.Data, input.Shape)])
            .Select(o => new ModelOutput(o.shape, o.contiguous().data<float>().ToArray())).ToArray();
    }

    /// <summary>Asserts equal shapes and max |diff| ≤ 1e-4 · max |expected|, per output.</summary>
    public static void AssertClose(ModelOutput[] expected, ModelOutput[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int k = 0; k < expected.Length; k++)
        {
            Assert.Equal(expected[k].Shape, actual[k].Shape);
            float scale = expected[k].Values.Max(MathF.Abs);
            float diff = expected[k].Values.Zip(actual[k].Values, (a, b) => MathF.Abs(a - b)).Max();
            Assert.True(scale > 0, $"{what}: output {k} is all zeros, which proves nothing");
            Assert.True(diff <= 1e-4f * scale, $"{what}: output {k} differs by {diff} (max |value| {scale})");
        }
    }
}
