using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Models;
using PimQuant.Onnx;
using PimQuant.Quant.Config;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Training;
using static TorchSharp.torch;

namespace PimQuant.Tests.Quant;

/// <summary>
/// Data and models the quantization tests share: LeNet-5 trained briefly on images 0..2047 of the
/// embedded Fashion-MNIST test split (the training split is not embedded), calibration images from
/// 2048..3071, evaluation on 5000..9999. Trained once per process and kept as ONNX bytes, so every
/// test imports its own copy.
/// </summary>
internal static class QuantFixtures
{
    public static Normalization Normalization => DatasetCatalog.FashionMnist.Normalization;

    private static readonly Lazy<byte[]> TrainedLeNet = new(() =>
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 3);
        var data = TestPaths.FashionMnistTest;
        var options = new TrainingOptions { Epochs = 2, BatchSize = 32, LearningRate = 0.05, Seed = 3, CropPadding = 0, HorizontalFlip = false };
        new Trainer(graph, options, SilentObserver.Instance).Run(data.Slice(0, 2048), null, Normalization, new Trainer.CheckpointPolicy(null, false, "quant-fixture"));
        ShapeInference.Run(graph);
        return OnnxExporter.Export(graph);
    });

    /// <summary>A fresh copy of the trained LeNet-5 (folded, shapes inferred).</summary>
    public static ModelGraph LeNet()
    {
        var graph = OnnxImporter.Import(TrainedLeNet.Value, "lenet5.onnx");
        BatchNormFolding.Run(graph);
        return graph;
    }

    /// <summary>
    /// A copy of LeNet-5 quantized with <paramref name="yaml"/> (seed 1) on <paramref name="calibration"/> calibration
    /// images, with block reconstruction of <paramref name="iterations"/> steps when positive; the caller disposes both.
    /// </summary>
    public static (ModelGraph Graph, QuantizedModel Model) QuantizedLeNet(string yaml, int iterations, int calibration)
    {
        var graph = LeNet();
        var model = new QuantizedModel(graph, QuantConfigLoader.Parse(yaml, "q.yaml").Resolve(graph), seed: 1);
        using var scope = NewDisposeScope();
        PostTrainingQuantization.Run(model, Calibration(calibration), new PtqOptions
        {
            Reconstruction = iterations > 0 ? new ReconstructionOptions { Iterations = iterations } : null,
        });
        return (graph, model);
    }

    /// <summary>Normalised images [start, start + count) of the embedded test split as (N, 1, 28, 28), in the caller's scope.</summary>
    public static Tensor Images(int start, int count)
    {
        var slice = TestPaths.FashionMnistTest.Slice(start, count);
        return tensor(Normalization.Apply(slice), [count, 1, 28, 28]);
    }

    /// <summary>Labels of the same images.</summary>
    public static long[] Labels(int start, int count) => TestPaths.FashionMnistTest.Labels.Skip(start).Take(count).Select(l => (long)l).ToArray();

    /// <summary>Calibration images: 2048..3071.</summary>
    public static Tensor Calibration(int count = 1024) => Images(2048, count);

    /// <summary>Logits of <paramref name="executor"/> over the images, batch by batch, in the caller's scope.</summary>
    public static Tensor Logits(GraphExecutor executor, Tensor images, int batchSize = 500)
    {
        using var noGrad = no_grad();
        executor.Training = false;
        return cat(images.split(batchSize).Select(executor.Forward).ToList(), 0);
    }

    /// <summary>Top-1 accuracy of logits against labels.</summary>
    public static double Accuracy(Tensor logits, long[] labels) =>
        logits.argmax(1).eq(tensor(labels)).sum().item<long>() / (double)labels.Length;
}
