using PimQuant.Engine.Passes;
using PimQuant.Models;
using PimQuant.Quant.Config;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Quantizers;
using static TorchSharp.torch;

namespace PimQuant.Tests.Quant;

public class PtqTests
{
    private static QuantizationPlan Plan(PimQuant.Engine.Graph.ModelGraph graph, string yaml) => QuantConfigLoader.Parse(yaml, "q.yaml").Resolve(graph);

    private const string W8A8 = "version: 1\ndefault: {weight: {bits: 8}, activation: {bits: 8, observer: {kind: percentile, percentile: 99.99}}}";
    private const string W4A4 = "version: 1\ndefault: {weight: {bits: 4, observer: mse, rounding: learned}, activation: {bits: 4, observer: mse}}";

    [Fact]
    public void CalibrationSplitIsASeededSortedChoiceOfDistinctImages()
    {
        var a = CalibrationSplit.Choose(60000, 1024, seed: 7);
        Assert.Equal(a, CalibrationSplit.Choose(60000, 1024, seed: 7));
        Assert.NotEqual(a, CalibrationSplit.Choose(60000, 1024, seed: 8));
        Assert.Equal(1024, a.Distinct().Count());
        Assert.Equal(a.Order(), a);
        Assert.All(a, i => Assert.InRange(i, 0, 59999));
        Assert.Equal(Enumerable.Range(0, 10), CalibrationSplit.Choose(10, 10, seed: 1));
    }

    [Fact]
    public void ResNetBlocksAreTheStemTheNineBasicBlocksAndTheClassifier()
    {
        Torch.Ensure();
        using var graph = ModelZoo.Build("resnet20", new ModelInput(1, 28), seed: 1);
        BatchNormFolding.Run(graph);
        var layers = QuantizableLayer.Find(graph).Select(l => l.Name).ToHashSet();
        var blocks = BlockPartition.Of(graph, layers);
        Assert.Equal(11, blocks.Count);
        Assert.Equal(["conv1"], blocks[0].Layers);
        Assert.Equal(["conv2", "conv3"], blocks[1].Layers);
        Assert.Equal(["conv8", "conv9", "conv10"], blocks[4].Layers); // first block of stage 2, with its 1×1 shortcut
        Assert.Equal(["gemm1"], blocks[^1].Layers);
        Assert.Equal(layers.Count, blocks.Sum(b => b.Layers.Count));
        for (int i = 1; i < blocks.Count; i++) Assert.Equal(blocks[i - 1].Output, blocks[i].Input);
        Assert.Equal(graph.Outputs[0], blocks[^1].Output);
    }

    [Fact]
    public void DynamicGroupConvolutionsGiveTheSameLogitsInImageChunksAsWhole()
    {
        // 2,000 LeNet images unfold past the kernel's 4 M-element im2col budget (conv1: 25 × 784 per image,
        // 213 images per chunk), so the batch runs in chunks; batches of 100 run whole.
        using var graph = QuantFixtures.LeNet();
        using var scope = NewDisposeScope();
        var images = QuantFixtures.Images(0, 2000);
        using var model = new QuantizedModel(graph, Plan(graph,
            "version: 1\ndefault: {weight: {bits: 8}, activation: {bits: 8, signed: auto, granularity: {kind: dynamic, group_size: 16}}}"));
        PostTrainingQuantization.Run(model, QuantFixtures.Calibration(64), new PtqOptions { BiasCorrection = false });
        var executor = model.CreateExecutor();
        using var noGrad = no_grad();
        var whole = executor.Forward(images);
        var pieces = cat(images.split(100).Select(executor.Forward).ToArray(), 0);
        Assert.True(whole.allclose(pieces, rtol: 1e-5, atol: 1e-5), $"max difference {(whole - pieces).abs().max().item<float>()}");
    }

    [Fact]
    public void W8A8CalibrationKeepsLeNetAccuracy()
    {
        using var graph = QuantFixtures.LeNet();
        using var scope = NewDisposeScope();
        var images = QuantFixtures.Images(5000, 2000);
        var labels = QuantFixtures.Labels(5000, 2000);
        double full = QuantFixtures.Accuracy(QuantFixtures.Logits(new PimQuant.Engine.Execution.GraphExecutor(graph), images), labels);
        using var model = new QuantizedModel(graph, Plan(graph, W8A8));
        var report = PostTrainingQuantization.Run(model, QuantFixtures.Calibration(512), new PtqOptions { BiasCorrection = false });
        double quantized = QuantFixtures.Accuracy(QuantFixtures.Logits(model.CreateExecutor(), images), labels);
        Assert.True(full > 0.7, $"the fixture model reaches only {full:P2}");
        Assert.True(Math.Abs(full - quantized) <= 0.01, $"FP32 {full:P2}, W8A8 {quantized:P2}");
        Assert.Equal(512, report.CalibrationImages);
        Assert.Empty(report.Blocks);
    }

    [Fact]
    public void BiasCorrectionCancelsTheMeanOutputShiftOfTheFirstLayer()
    {
        using var graph = QuantFixtures.LeNet();
        using var scope = NewDisposeScope();
        var calibration = QuantFixtures.Calibration(256);
        using var model = new QuantizedModel(graph, Plan(graph, "version: 1\ndefault: {weight: {bits: 3, granularity: tensor}, activation: none}"));
        PostTrainingQuantization.Calibrate(model, calibration, 128);
        var executor = model.CreateExecutor();
        Tensor Mean(QuantizationMode mode)
        {
            model.Mode = mode;
            using var noGrad = no_grad();
            return executor.RunCapturing([calibration], ["conv1_out"])["conv1_out"].mean([0, 2, 3]);
        }
        var full = Mean(QuantizationMode.FullPrecision);
        double before = (Mean(QuantizationMode.Quantized) - full).abs().max().item<float>();
        var corrections = PostTrainingQuantization.CorrectBiases(model, calibration, 128);
        double after = (Mean(QuantizationMode.Quantized) - full).abs().max().item<float>();
        Assert.Equal(before, corrections[0].MaxShift, 4);
        Assert.True(before > 1e-3 && after < 1e-5, $"shift before {before}, after {after}");
        Assert.Equal(["conv1", "conv2", "gemm1", "gemm2", "gemm3"], corrections.Select(c => c.Layer));
    }

    [Fact]
    public void BiasCorrectionRemovesOnlyEachLayersOwnErrorNotThatOfTheLayersBefore()
    {
        // conv1 is quantized coarsely (2-bit weights), the layers after it almost losslessly (16 bits): their own
        // mean errors are negligible, but the error conv1 passes on changes the means of every later output (the
        // ReLUs do not pass it through symmetrically). Correcting a layer against the full-precision model's output
        // would shift the later biases by that inherited shift; the layer's own error is all it may remove.
        using var graph = QuantFixtures.LeNet();
        using var scope = NewDisposeScope();
        var calibration = QuantFixtures.Calibration(256);
        using var model = new QuantizedModel(graph, Plan(graph,
            "version: 1\ndefault: {weight: {bits: 16}, activation: none}\nlayers: {conv1: {weight: {bits: 2, observer: mse}}}"));
        PostTrainingQuantization.Calibrate(model, calibration, 128);
        var executor = model.CreateExecutor();
        Tensor Mean(string value)
        {
            using var noGrad = no_grad();
            var v = executor.RunCapturing([calibration], [value])[value];
            return v.mean(v.dim() == 4 ? [0, 2, 3] : [0]);
        }
        var conv2 = model.Layer("conv2")!;
        model.Mode = QuantizationMode.FullPrecision;
        var full = Mean("conv2_out");
        model.Mode = QuantizationMode.Quantized;
        var quantized = Mean("conv2_out");
        conv2.QuantizeWeight = false;
        var unquantizedConv2 = Mean("conv2_out");
        conv2.QuantizeWeight = true;
        double inherited = (quantized - full).abs().max().item<float>();
        double own = (quantized - unquantizedConv2).abs().max().item<float>();
        Assert.True(inherited > 100 * own, $"the fixture should make conv2's inherited shift ({inherited}) dwarf its own error ({own})");

        var corrections = PostTrainingQuantization.CorrectBiases(model, calibration, 128).ToDictionary(c => c.Layer, c => c.MaxShift);
        Assert.True(corrections["conv1"] > 1e-3, $"conv1's own shift {corrections["conv1"]}");
        Assert.All(["conv2", "gemm1", "gemm2", "gemm3"], layer => Assert.True(corrections[layer] < 1e-3, $"{layer} corrected by {corrections[layer]}"));
    }

    [Fact]
    public void ReconstructionLowersEveryBlocksErrorAndIsDeterministic()
    {
        var options = new PtqOptions
        {
            BiasCorrection = false,
            Seed = 5,
            Reconstruction = new ReconstructionOptions { Iterations = 80, BatchSize = 32, DropProbability = 0.5 },
        };
        (PtqReport Report, int[] Codes, float Step) Run()
        {
            using var graph = QuantFixtures.LeNet();
            using var scope = NewDisposeScope();
            using var model = new QuantizedModel(graph, Plan(graph, W4A4), seed: 5);
            var report = PostTrainingQuantization.Run(model, QuantFixtures.Calibration(256), options);
            var conv2 = model.Layer("conv2")!;
            return (report, conv2.Weight!.ToIntegers(model.WeightOf(conv2)).Codes.ToArray(), conv2.Activation!.Scale().item<float>());
        }
        var first = Run();
        Assert.Equal(5, first.Report.Blocks.Count);
        Assert.All(first.Report.Blocks, b => Assert.True(b.ErrorAfter < b.ErrorBefore, $"block {b.Block}: {b.ErrorBefore} → {b.ErrorAfter}"));
        var second = Run();
        Assert.Equal(first.Codes, second.Codes);
        Assert.Equal(first.Step, second.Step);
        Assert.Equal(first.Report.Blocks.Select(b => b.ErrorAfter), second.Report.Blocks.Select(b => b.ErrorAfter));
    }

    [Fact]
    public void OptionsAreValidatedWithTheFieldNamed()
    {
        Assert.Contains("DropProbability", Assert.Throws<ArgumentException>(() => new ReconstructionOptions { DropProbability = 1 }.Validated()).Message);
        Assert.Contains("Iterations", Assert.Throws<ArgumentException>(() => new PtqOptions { Reconstruction = new() { Iterations = 0 } }.Validated()).Message);
        var schedule = new ReconstructionOptions { Iterations = 100, WarmupFraction = 0.2, BetaStart = 20, BetaEnd = 2 };
        Assert.Equal(20, schedule.BetaAt(10));
        Assert.False(schedule.RegularizerOn(19));
        Assert.Equal(20, schedule.BetaAt(20));
        Assert.Equal(11, schedule.BetaAt(60));
        Assert.Equal(2, schedule.BetaAt(100), 10);
    }
}
