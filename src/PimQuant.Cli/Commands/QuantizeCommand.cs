using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using PimQuant.Accelerator;
using PimQuant.Cli.Terminal;
using PimQuant.Data;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Export;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Statistics;
using PimQuant.Training;
using Spectre.Console;
using static TorchSharp.torch;
using RoundingMode = PimQuant.Quant.Formats.RoundingMode;

namespace PimQuant.Cli.Commands;

/// <summary>
/// <c>pimq quantize</c>: post-training quantization of an ONNX model from a per-layer YAML config —
/// calibration on a seeded choice of training images, optional block reconstruction (AdaRound with
/// learned activation steps, QDrop dropping), bias correction — with FP32 and quantized test
/// accuracy, per-layer bit statistics, and the quantized model written as ONNX QDQ.
/// </summary>
public static class QuantizeCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var config = new Option<string>("--config") { Description = "Quantization config (YAML, see docs/quantization.md)", Required = true };
        var outputPath = new Option<string>("--output", "-o") { Description = "Where to write the quantized model (ONNX QDQ); omit to only measure" };
        var dataset = CommonOptions.Dataset();
        dataset.AcceptOnlyFromAmong(Workspace.KnownDatasets);
        var data = CommonOptions.Data();
        var calibrationImages = CalibrationImagesOption();
        var reconstruct = new Option<bool>("--reconstruct") { Description = "Block-wise reconstruction: learn weight rounding (AdaRound) and activation steps block by block" };
        var dropProbability = new Option<double>("--drop-prob")
        {
            Description = "With --reconstruct: probability that an activation element stays unquantized (0 plain, 0.5 QDrop)",
            DefaultValueFactory = _ => 0.0,
            Validators = { r => { if (r.GetValueOrDefault<double>() is < 0 or >= 1) r.AddError("--drop-prob must be in [0, 1)"); } },
        };
        var iterations = new Option<int>("--iterations")
        {
            Description = $"With --reconstruct: optimisation steps per block (default {new ReconstructionOptions().Iterations})",
            DefaultValueFactory = _ => new ReconstructionOptions().Iterations,
            Validators = { r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--iterations must be at least 1"); } },
        };
        var biasCorrection = new Option<string>("--bias-correction")
        {
            Description = "Empirical bias correction: auto (on for plain rounding, off with --reconstruct, which already fits the means), on, off",
            DefaultValueFactory = _ => "auto",
        };
        biasCorrection.AcceptOnlyFromAmong("auto", "on", "off");
        var verify = new Option<bool>("--verify") { Description = "Run the written QDQ model in ONNX Runtime on the test split and report its accuracy" };
        var batch = CommonOptions.BatchSize(256);
        var hw = new Option<string>("--hw") { Description = "Check the config against a hardware preset or spec YAML before any work (what its crossbars can hold)" };

        var command = new Command("quantize", "Post-training quantization from a YAML config; reports FP32 and quantized accuracy and bit statistics, writes ONNX QDQ")
        {
            modelPath, config, outputPath, dataset, data, calibrationImages, reconstruct, dropProbability, iterations, biasCorrection, verify, batch, hw, seed, threads, json,
        };
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            if (parse.GetResult(dropProbability) is { Implicit: false } && !parse.GetValue(reconstruct))
                throw new UserError("--drop-prob applies to block reconstruction: add --reconstruct", ExitCodes.Usage);
            string path = parse.GetValue(modelPath)!;
            long seedValue = parse.GetValue(seed);
            int batchSize = parse.GetValue(batch);
            var session = Session.Open(path, parse.GetValue(config)!, parse.GetValue(dataset), parse.GetValue(data), output);
            using var graph = session.Graph;
            if (parse.GetValue(hw) is { } hardware) CheckHardware(graph, session.Config, HardwareCapabilities.Of(HardwareSpecLoader.Load(hardware)));

            var full = EvalCommand.Run(output, new GraphExecutor(graph), session.Test, session.Normalization, batchSize, cancel);
            output.Log($"FP32 accuracy {full.Accuracy:P2} on {session.Test.Count} test images");
            using var model = session.Quantize(seedValue);
            if (parse.GetValue(reconstruct) && !model.Layers.Any(l => l.Weight?.Spec.Rounding == RoundingMode.Learned))
                output.Log("no weight quantizer has 'rounding: learned': reconstruction learns the activation steps only");
            using var scope = NewDisposeScope();
            var images = CalibrationImages(session.Train, session.Normalization, parse.GetValue(calibrationImages), seedValue);
            var options = new PtqOptions
            {
                BiasCorrection = parse.GetValue(biasCorrection) switch { "on" => true, "off" => false, _ => null },
                Seed = seedValue,
                Reconstruction = parse.GetValue(reconstruct)
                    ? new ReconstructionOptions { Iterations = parse.GetValue(iterations), DropProbability = parse.GetValue(dropProbability) }
                    : null,
            };
            var report = RunWithProgress(output, "quantizing", progress => PostTrainingQuantization.Run(model, images, options, progress, cancel));
            foreach (var b in report.Blocks)
                output.Log($"block {b.Index + 1} ({b.Block}): output error {b.ErrorBefore:G4} → {b.ErrorAfter:G4} in {b.Seconds:F1} s");

            var activationStatistics = CollectActivationStatistics(model);
            var quantized = EvalCommand.Run(output, model.CreateExecutor(), session.Test, session.Normalization, batchSize, cancel);
            var weights = WeightBitStatistics.Of(model);
            output.Err.Write(StatisticsTable(model, weights.Layers, activationStatistics));

            var (written, notes, ortAccuracy) = Export(output, model, parse.GetValue(outputPath), parse.GetValue(verify), session, batchSize, cancel);
            var result = new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["config"] = Path.GetFullPath(parse.GetValue(config)!),
                ["dataset"] = session.DatasetName,
                ["calibration_images"] = report.CalibrationImages,
                ["seed"] = seedValue,
                ["threads"] = parse.GetValue(threads),
                ["fp32_accuracy"] = full.Accuracy,
                ["quantized_accuracy"] = quantized.Accuracy,
                ["accuracy_drop_points"] = 100 * (full.Accuracy - quantized.Accuracy),
                ["test_images"] = quantized.Total,
                ["bias_correction"] = options.CorrectsBiases,
                ["reconstruction"] = options.Reconstruction is { } r ? new JsonObject
                {
                    ["iterations"] = r.Iterations,
                    ["batch_size"] = r.BatchSize,
                    ["drop_probability"] = r.DropProbability,
                    ["blocks"] = new JsonArray(report.Blocks.Select(b => (JsonNode)new JsonObject
                    {
                        ["block"] = b.Block, ["error_before"] = b.ErrorBefore, ["error_after"] = b.ErrorAfter, ["seconds"] = b.Seconds,
                    }).ToArray()),
                } : null,
                ["seconds"] = new JsonObject
                {
                    ["calibration"] = report.CalibrationSeconds,
                    ["reconstruction"] = report.ReconstructionSeconds,
                    ["bias_correction"] = report.BiasCorrectionSeconds,
                },
                ["layers"] = LayersJson(model, weights.Layers, activationStatistics),
                ["blocks"] = new JsonArray(weights.Blocks.Select(b => (JsonNode)StatisticsJson(b)).ToArray()),
                ["total"] = StatisticsJson(weights.Total),
                ["output"] = written is null ? null : Path.GetFullPath(written),
                ["notes"] = new JsonArray(notes.Select(n => (JsonNode)n).ToArray()),
                ["onnxruntime_accuracy"] = ortAccuracy,
            };
            output.Result(result,
                $"FP32 {full.Accuracy:P2}, quantized {quantized.Accuracy:P2} ({100 * (full.Accuracy - quantized.Accuracy):+0.00;-0.00} points) on {session.DatasetName} test"
                + (written is null ? "" : $"; wrote {written}") + (ortAccuracy is { } a ? $"; ONNX Runtime {a:P2}" : ""));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The --calibration-images option shared with finetune.</summary>
    internal static Option<int> CalibrationImagesOption() => new("--calibration-images")
    {
        Description = $"Training images used for calibration, chosen with the seed (default {CalibrationSplit.DefaultCount})",
        DefaultValueFactory = _ => CalibrationSplit.DefaultCount,
        Validators = { r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--calibration-images must be at least 1"); } },
    };

    /// <summary>The model, config, data and preprocessing of a quantization run.</summary>
    internal sealed record Session(string Path, ModelGraph Graph, QuantConfig Config, string DatasetName, ImageDataset Train, ImageDataset Test, Normalization Normalization)
    {
        /// <summary>Loads the model, the config and both splits, checking they fit together.</summary>
        public static Session Open(string path, string configPath, string? datasetFlag, DirectoryInfo? dataDir, Output output)
        {
            QuantConfig config;
            try { config = QuantConfigLoader.LoadFile(configPath); }
            catch (QuantConfigException e) { throw new UserError(e.Message); }
            var graph = ModelFiles.Load(path);
            try
            {
                var (normalization, _) = ModelFiles.ResolvePreprocessing(graph, null, null);
                string name = datasetFlag ?? graph.Metadata.GetValueOrDefault(ModelFiles.DatasetKey) ?? "fashion-mnist";
                var test = Workspace.LoadDataset(name, "test", dataDir);
                EvalCommand.CheckCompatible(path, graph, test);
                var train = Workspace.LoadDataset(name, "train", dataDir);
                output.Log($"{train}; test {test.Count} images");
                return new Session(path, graph, config, name, train, test, normalization);
            }
            catch
            {
                graph.Dispose();
                throw;
            }
        }

        /// <summary>Folds batch norms into the convolutions, resolves the config and builds the quantizers.</summary>
        public QuantizedModel Quantize(long seed) => Build(Graph, Config, seed);
    }

    /// <summary>Folds <paramref name="graph"/>'s batch norms into the convolutions, resolves <paramref name="config"/>
    /// against it and builds the (uncalibrated) quantizers; a config that does not fit the graph is a user error.</summary>
    internal static QuantizedModel Build(ModelGraph graph, QuantConfig config, long seed)
    {
        BatchNormFolding.Run(graph);
        ShapeInference.Run(graph);
        try { return new QuantizedModel(graph, config.Resolve(graph), seed); }
        catch (QuantConfigException e) { throw new UserError(e.Message); }
    }

    /// <summary>Resolves <paramref name="config"/> against <paramref name="graph"/> and checks it against <paramref name="hardware"/>; a mismatch is a user error naming the layer and reason.</summary>
    internal static void CheckHardware(ModelGraph graph, QuantConfig config, QuantCapabilities hardware)
    {
        try { hardware.Require(config.Resolve(graph)); }
        catch (Exception e) when (e is QuantConfigException or CapabilityException) { throw new UserError(e.Message); }
    }

    /// <summary>The seeded choice of <paramref name="count"/> training images, normalised, as (N, C, H, W) in the caller's scope.</summary>
    internal static Tensor CalibrationImages(ImageDataset train, Normalization normalization, int count, long seed)
    {
        if (count > train.Count) throw new UserError($"--calibration-images {count}: the {train.Name} split has only {train.Count} images");
        var chosen = CalibrationSplit.Choose(train.Count, count, seed);
        var values = new float[(long)count * train.ImageSize];
        for (int i = 0; i < count; i++)
            normalization.Apply(train.GetImage(chosen[i]), train.Channels, train.Height * train.Width, values.AsSpan(i * train.ImageSize, train.ImageSize));
        return tensor(values, [count, train.Channels, train.Height, train.Width]);
    }

    /// <summary>Runs a long step with a progress bar on a terminal, one log line per stage otherwise.</summary>
    internal static T RunWithProgress<T>(Output output, string title, Func<Action<PtqProgress>, T> body)
    {
        string? lastStage = null;
        if (!output.Interactive)
            return body(p =>
            {
                if (p.Stage != lastStage) output.Log($"{p.Stage}…");
                lastStage = p.Stage;
            });
        T result = default!;
        output.Err.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(title);
                result = body(p =>
                {
                    task.MaxValue = p.Total;
                    task.Value = p.Done;
                    task.Description = $"{p.Stage}: {p.Detail}";
                });
            });
        return result;
    }

    /// <summary>Attaches digit statistics (1-bit digits, as a 1-bit DAC streams them) to every activation quantizer.</summary>
    internal static Dictionary<string, ActivationStatistics> CollectActivationStatistics(QuantizedModel model)
    {
        var statistics = new Dictionary<string, ActivationStatistics>(StringComparer.Ordinal);
        foreach (var layer in model.Layers)
            if (layer.Activation is { } a)
                statistics[layer.Name] = a.Statistics = new ActivationStatistics(a.Spec.Format, digitBits: 1);
        return statistics;
    }

    internal static Table StatisticsTable(QuantizedModel model, IReadOnlyList<WeightBitStatistics> weights, IReadOnlyDictionary<string, ActivationStatistics> activations)
    {
        var table = new Table().Title("Per-layer quantization (weights: bits used, zero-bit fraction, compression; activations on the test split)")
            .AddColumns("layer", "weight", "activation", "W bits used", "W zero bits", "W compr.", "A mean bits", "A zero bits");
        var byName = weights.ToDictionary(w => w.Name);
        foreach (var plan in model.Plan.Layers)
        {
            var w = byName.GetValueOrDefault(plan.Layer.Name);
            var a = activations.GetValueOrDefault(plan.Layer.Name);
            table.AddRow(
                Markup.Escape(plan.Layer.Name),
                Markup.Escape(plan.Weight is null ? "fp32" : $"{plan.Weight.Format.Name} {plan.Weight.Granularity}"),
                Markup.Escape(plan.Activation is null ? "fp32" : $"{plan.Activation.Format.Name} {plan.Activation.Granularity}"),
                w is null ? "-" : $"{w.MaxBitsUsed}/{w.Bits}",
                w is null ? "-" : $"{w.ZeroBitFraction:P1}",
                w is null ? "-" : $"{w.CompressionRatio:F1}x",
                a is null ? "-" : $"{a.MeanBitsUsed:F2}/{a.Bits}",
                a is null ? "-" : $"{a.ZeroDigitFraction:P1}");
        }
        return table;
    }

    internal static JsonObject StatisticsJson(WeightBitStatistics s) => new()
    {
        ["name"] = s.Name,
        ["format"] = s.Format,
        ["bits"] = s.Bits,
        ["mean_bits"] = s.MeanBits,
        ["weights"] = s.Weights,
        ["max_bits_used"] = s.MaxBitsUsed,
        ["mean_group_bits"] = s.MeanGroupBits,
        ["zero_weight_fraction"] = s.ZeroWeightFraction,
        ["zero_bit_fraction"] = s.ZeroBitFraction,
        ["compression_ratio"] = s.CompressionRatio,
        ["group_compression_ratio"] = s.GroupCompressionRatio,
    };

    internal static JsonArray LayersJson(QuantizedModel model, IReadOnlyList<WeightBitStatistics> weights, IReadOnlyDictionary<string, ActivationStatistics> activations)
    {
        var byName = weights.ToDictionary(w => w.Name);
        return new JsonArray(model.Plan.Layers.Select(plan => (JsonNode)new JsonObject
        {
            ["name"] = plan.Layer.Name,
            ["op"] = plan.Layer.OpType,
            ["weight"] = plan.Weight?.ToString(),
            ["activation"] = plan.Activation?.ToString(),
            ["weight_statistics"] = byName.TryGetValue(plan.Layer.Name, out var w) ? StatisticsJson(w) : null,
            ["activation_statistics"] = activations.TryGetValue(plan.Layer.Name, out var a) ? new JsonObject
            {
                ["bits"] = a.Bits,
                ["mean_bits_used"] = a.MeanBitsUsed,
                ["max_bits_used"] = a.MaxBitsUsed,
                ["zero_code_fraction"] = a.ZeroCodeFraction,
                ["zero_bit_fraction"] = a.ZeroDigitFraction,
            } : null,
        }).ToArray());
    }

    /// <summary>Writes the QDQ model when asked, and evaluates the written file in ONNX Runtime when asked.</summary>
    internal static (string? Written, IReadOnlyList<string> Notes, double? OrtAccuracy) Export(Output output, QuantizedModel model, string? path, bool verify,
        Session session, int batchSize, CancellationToken cancel)
    {
        if (path is null)
        {
            if (verify) throw new UserError("--verify checks the written model: give -o FILE.onnx", ExitCodes.Usage);
            return (null, [], null);
        }
        var qdq = QdqExport.Rewrite(model);
        // The rewrite keeps the model's value shapes, which the exporter writes for the outputs.
        using (var graph = qdq.Graph)
            ModelFiles.Save(graph, path, "pimq " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)));
        foreach (var note in qdq.Notes) output.Log(note);
        return (path, qdq.Notes, verify ? OnnxRuntimeAccuracy(path, session.Test, session.Normalization, batchSize, cancel) : null);
    }

    /// <summary>Top-1 accuracy of an ONNX file in ONNX Runtime (default optimisations) on <paramref name="test"/>.</summary>
    private static double OnnxRuntimeAccuracy(string path, ImageDataset test, Normalization normalization, int batchSize, CancellationToken cancel)
    {
        using var options = new SessionOptions { IntraOpNumThreads = get_num_threads(), InterOpNumThreads = 1 };
        using var session = new InferenceSession(path, options);
        using var run = new RunOptions();
        var loader = new BatchLoader(test, batchSize, shuffle: false, seed: 0, normalization, Augmentation.None, dropLast: false);
        int correct = 0;
        foreach (var batch in loader.Epoch(0, cancel))
        using (batch)
        {
            using var input = OrtValue.CreateTensorValueFromMemory(batch.Images, [batch.Count, batch.Channels, batch.Height, batch.Width]);
            using var results = session.Run(run, [session.InputNames[0]], [input], [session.OutputNames[0]]);
            var logits = results[0].GetTensorDataAsSpan<float>();
            int classes = logits.Length / batch.Count;
            for (int i = 0; i < batch.Count; i++)
            {
                var row = logits.Slice(i * classes, classes);
                int best = 0;
                for (int k = 1; k < classes; k++) if (row[k] > row[best]) best = k;
                if (best == batch.Labels[i]) correct++;
            }
        }
        return (double)correct / test.Count;
    }
}
