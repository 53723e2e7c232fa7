using PimQuant.Quant.Config;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Qat;
using PimQuant.Training;
using static TorchSharp.torch;

namespace PimQuant.Tests.Quant;

public class QatTests
{
    [Fact]
    public void LsqAndPactParametersTrainThroughTheTrainerAndAccuracyRecovers()
    {
        using var graph = QuantFixtures.LeNet();
        using var scope = NewDisposeScope();
        using var model = new QuantizedModel(graph, QuantConfigLoader.Parse(
            "version: 1\ndefault: {weight: {bits: 2, observer: mse}, activation: {bits: 2}}", "q.yaml").Resolve(graph), seed: 2);
        PostTrainingQuantization.Calibrate(model, QuantFixtures.Calibration(256), 128);
        var images = QuantFixtures.Images(5000, 2000);
        var labels = QuantFixtures.Labels(5000, 2000);
        double before = QuantFixtures.Accuracy(QuantFixtures.Logits(model.CreateExecutor(), images), labels);

        var (parameters, notes) = QuantizationAwareTraining.Prepare(model, new QatLearning(Lsq: true, Pact: true));
        // conv1 reads the signed image: no PACT there, an LSQ step instead.
        Assert.Equal(["layer conv1: no PACT (PACT clips to [0, β]; it needs an unsigned format, not int2)"], notes);
        Assert.NotNull(model.Layer("conv1")!.Activation!.LearnedScale);
        Assert.NotNull(model.Layer("gemm1")!.Activation!.Clip);
        Assert.Equal(5 + 1 + 4, parameters.Count); // 5 weight steps, 1 activation step, 4 clips
        var initial = parameters.Select(p => p.Value.detach().clone()).ToList();

        var data = TestPaths.FashionMnistTest;
        var options = new TrainingOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.01, Seed = 2, CropPadding = 0, HorizontalFlip = false };
        new Trainer(graph, options, SilentObserver.Instance, model.Overrides, parameters)
            .Run(data.Slice(0, 2048), null, QuantFixtures.Normalization, new Trainer.CheckpointPolicy(null, false, "qat"));
        double after = QuantFixtures.Accuracy(QuantFixtures.Logits(model.CreateExecutor(), images), labels);
        Assert.All(parameters.Zip(initial), p => Assert.False(p.First.Value.detach().allclose(p.Second), $"{p.First.Name} did not move"));
        Assert.True(after > before + 0.05, $"2-bit accuracy {before:P2} before QAT, {after:P2} after");
    }

    private const string W3A3Lsq = "version: 1\ndefault: {weight: {bits: 3}, activation: {bits: 3, learn: lsq}}";

    /// <summary>
    /// Fine-tunes the fixture LeNet-5 at W3A3 with LSQ steps and PACT clips for two epochs, optionally through a
    /// checkpoint; returns every graph tensor and every learned quantization parameter, flattened.
    /// </summary>
    private static float[] Finetune(string? checkpoint, bool resume, CancellationTokenSource? stopAfterFirstEpoch = null)
    {
        using var graph = QuantFixtures.LeNet();
        using var scope = NewDisposeScope();
        using var model = new QuantizedModel(graph, QuantConfigLoader.Parse(W3A3Lsq, "q.yaml").Resolve(graph), seed: 4);
        PostTrainingQuantization.Calibrate(model, QuantFixtures.Calibration(128), 128);
        var (parameters, _) = QuantizationAwareTraining.Prepare(model, new QatLearning(Lsq: false, Pact: true));
        var options = new TrainingOptions { Epochs = 2, BatchSize = 64, LearningRate = 0.01, Seed = 4 };
        ITrainingObserver observer = stopAfterFirstEpoch is null ? SilentObserver.Instance : new PimQuant.Tests.Training.TrainerTests.StopAfterFirstEpoch(stopAfterFirstEpoch);
        new Trainer(graph, options, observer, model.Overrides, parameters)
            .Run(TestPaths.FashionMnistTest.Slice(0, 512), null, QuantFixtures.Normalization, new Trainer.CheckpointPolicy(checkpoint, resume, "qat-resume"),
                stopAfterFirstEpoch?.Token ?? default);
        QuantizationAwareTraining.Finish(model);
        return graph.Initializers.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value.Value)
            .Concat(parameters.Select(p => (Tensor)p.Value))
            .Concat(model.Layers.Select(l => l.Weight!.Scale()))
            .SelectMany(t => t.detach().to_type(ScalarType.Float32).data<float>().ToArray()).ToArray();
    }

    [Fact]
    public void ResumingQatFromACheckpointEqualsTheUninterruptedRun()
    {
        string dir = Directory.CreateTempSubdirectory("pimq-qat-").FullName;
        try
        {
            var straight = Finetune(null, false);
            string ckpt = Path.Combine(dir, "qat.ckpt");
            using (var stop = new CancellationTokenSource())
                Assert.ThrowsAny<OperationCanceledException>(() => Finetune(ckpt, false, stop));
            // The learned steps and clips are in the checkpoint: without them the resumed run would restart them
            // from the calibration and end elsewhere.
            Assert.Equal(straight, Finetune(ckpt, true));
            // Resuming a finished run takes no step and still ends with the same model.
            Assert.Equal(straight, Finetune(ckpt, true));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ACheckpointWithoutTheLearnedParametersIsRefused()
    {
        string dir = Directory.CreateTempSubdirectory("pimq-qat-").FullName;
        try
        {
            string ckpt = Path.Combine(dir, "plain.ckpt");
            using (var graph = QuantFixtures.LeNet())
                new Trainer(graph, new TrainingOptions { Epochs = 1, BatchSize = 64, Seed = 4 }, SilentObserver.Instance)
                    .Run(TestPaths.FashionMnistTest.Slice(0, 128), null, QuantFixtures.Normalization, new Trainer.CheckpointPolicy(ckpt, false, "qat-resume"));
            var e = Assert.Throws<CheckpointException>(() => Finetune(ckpt, true));
            Assert.Contains("plain.ckpt", e.Message);
            Assert.Contains("tensors", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
