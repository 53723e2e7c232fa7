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
        var initial = parameters.Select(p => p.detach().clone()).ToList();

        var data = TestPaths.FashionMnistTest;
        var options = new TrainingOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.01, Seed = 2, CropPadding = 0, HorizontalFlip = false };
        new Trainer(graph, options, SilentObserver.Instance, model.Overrides, parameters)
            .Run(data.Slice(0, 2048), null, QuantFixtures.Normalization, new Trainer.CheckpointPolicy(null, false, "qat"));
        double after = QuantFixtures.Accuracy(QuantFixtures.Logits(model.CreateExecutor(), images), labels);
        Assert.All(parameters.Zip(initial), p => Assert.False(p.First.detach().allclose(p.Second), "a learned quantization parameter did not move"));
        Assert.True(after > before + 0.05, $"2-bit accuracy {before:P2} before QAT, {after:P2} after");
    }

    [Fact]
    public void ExtraParametersCannotBeCheckpointed()
    {
        using var graph = QuantFixtures.LeNet();
        using var model = new QuantizedModel(graph, QuantizationPlan.Uniform(graph, PimQuant.Quant.Quantizers.QuantizerSpec.IntWeightPerChannel(4), null));
        model.CalibrateWeights();
        var (parameters, _) = QuantizationAwareTraining.Prepare(model, new QatLearning(true, false));
        var e = Assert.Throws<ArgumentException>(() => new Trainer(graph, new TrainingOptions { Epochs = 1 }, SilentObserver.Instance, model.Overrides, parameters)
            .Run(TestPaths.FashionMnistTest.Slice(0, 256), null, QuantFixtures.Normalization, new Trainer.CheckpointPolicy("x.ckpt", false, "k")));
        Assert.Contains("checkpoint", e.Message);
    }
}
