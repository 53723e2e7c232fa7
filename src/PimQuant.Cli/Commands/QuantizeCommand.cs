using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Experiments;
using PimQuant.Hardware.Spec;
using PimQuant.Methods.Bwq;
using PimQuant.Quant.Ptq;
using PimQuant.Training;

namespace PimQuant.Cli.Commands;

/// <summary>
/// <c>pimq quantize</c>: post-training quantization of an ONNX model at --wbits/--abits or from a per-layer YAML config —
/// calibration on a seeded choice of training images, optional block reconstruction (AdaRound with
/// learned activation steps, QDrop dropping), bias correction — with FP32 and quantized test
/// accuracy, per-layer bit statistics, and the quantized model written as ONNX QDQ.
/// </summary>
public static class QuantizeCommand
{
    /// <summary>The command.</summary>
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var config = new Option<string>("--config") { Description = "Quantization config (YAML, see docs/quantization.md) instead of --wbits/--abits" };
        var (wbits, abits) = CommonOptions.Widths("8", "8");
        var outputPath = new Option<string>("--output", "-o") { Description = "Where to write the quantized model (ONNX QDQ); omit to only measure" };
        var data = new DataFlags();
        var images = data.Images;
        var calibrationImages = CommonOptions.CalibrationImages();
        var reconstruct = new Option<bool>("--reconstruct") { Description = "Block-wise reconstruction: learn weight rounding (AdaRound) and activation steps block by block" };
        var dropProbability = CommonOptions.Real("--drop-prob",
            "With --reconstruct: probability that an activation element stays unquantized, below 1 (0 plain, 0.5 QDrop)", 0, Math.BitDecrement(1.0), 0.0);
        var iterations = CommonOptions.Integer("--iterations",
            $"With --reconstruct: optimisation steps per block (default {new ReconstructionOptions().Iterations})", 1, fallback: new ReconstructionOptions().Iterations);
        var biasCorrection = new Option<string>("--bias-correction")
        {
            Description = "Empirical bias correction: auto (on for plain rounding, off with --reconstruct, which already fits the means), on, off",
            DefaultValueFactory = _ => "auto",
        };
        biasCorrection.AcceptOnlyFromAmong("auto", "on", "off");
        var verify = new Option<bool>("--verify") { Description = "Run the written QDQ model in ONNX Runtime on the test split and report its accuracy" };
        var batch = CommonOptions.BatchSize(256);
        var hw = new Option<string>("--hw") { Description = "Check the config against a hardware preset or spec YAML before any work (what its crossbars can hold); the crossbars --scheme cimq quantizes for" };
        var scheme = new SchemeFlags("cimq", "bwq");

        var command = new Command("quantize", CommonOptions.Help("Post-training quantization from --wbits/--abits or a YAML config; reports FP32 and quantized accuracy and bit statistics, writes ONNX QDQ",
            "pimq quantize models/resnet20-fmnist.onnx --wbits 4 --abits 8 -o r20-w4a8.onnx", "pimq quantize my.onnx --config q.yaml --reconstruct --drop-prob 0.5 -o q.onnx", "pimq quantize models/resnet20-fmnist.onnx --scheme cimq --hw isaac -o r20-cimq.onnx", "pimq quantize models/resnet20-fmnist.onnx --scheme bwq -o r20-bwq.onnx"))
        {
            modelPath, wbits, abits, config, outputPath,
        };
        data.AddTo(command);
        scheme.AddTo(command);
        foreach (var option in new Option[] { calibrationImages, reconstruct, dropProbability, iterations, biasCorrection, verify, batch, hw, seed, threads, json })
            command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, json, threads, seed, (output, cancel) =>
        {
            if (parse.GetValue(scheme.Scheme) == "bwq")
            {
                BwqFlags.Refuse(parse, "--scheme bwq", "its model is 8-bit bit planes with each 9x8 block's own precision and 8-bit calibrated activations",
                    config, wbits, abits, reconstruct, dropProbability, iterations, biasCorrection, verify, batch, hw);
                return Bwq(parse, output, cancel);
            }
            if (parse.GetResult(dropProbability) is { Implicit: false } && !parse.GetValue(reconstruct))
                throw new UserError("--drop-prob applies to block reconstruction: add --reconstruct", ExitCodes.Usage);
            if (parse.GetResult(iterations) is { Implicit: false } && !parse.GetValue(reconstruct))
                throw new UserError("--iterations applies to block reconstruction: add --reconstruct", ExitCodes.Usage);
            string? configPath = parse.GetValue(config);
            int? weightBits = parse.GetValue(wbits), activationBits = parse.GetValue(abits);
            if (configPath is not null && (weightBits is not null || activationBits is not null))
                throw new UserError("--config sets the bit-widths: give either --config or --wbits/--abits", ExitCodes.Usage);
            if (configPath is null && weightBits is null && activationBits is null)
                throw new UserError("give --config FILE or --wbits/--abits (e.g. --wbits 4 --abits 8)", ExitCodes.Usage);
            string path = parse.GetValue(modelPath)!;
            long seedValue = parse.GetValue(seed);
            var request = new PostTrainingRequest(path,
                configPath is not null ? Quantization.LoadConfig(configPath) : Quantization.Config(weightBits ?? 8, activationBits ?? 8),
                data.Read(parse), parse.GetValue(calibrationImages), seedValue, parse.GetValue(batch),
                parse.GetValue(reconstruct) ? new ReconstructionOptions { Iterations = parse.GetValue(iterations), DropProbability = parse.GetValue(dropProbability) } : null,
                parse.GetValue(biasCorrection) switch { "on" => true, "off" => false, _ => null },
                parse.GetValue(outputPath), parse.GetValue(verify), "pimq " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                parse.GetValue(hw) is { } hardware ? HardwareSpecLoader.Load(hardware) : null, parse.GetValue(images), scheme.Read(parse));
            using var result = PostTraining.Run(request, new ConsoleProgress(output), cancel);
            output.Err.Write(Reports.StatisticsTable(result.Model, result.Weights.Layers, result.Activations));

            var report = result.Report;
            var resultJson = new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["config"] = configPath is null ? null : Path.GetFullPath(configPath),
                ["weight_bits"] = configPath is null ? weightBits ?? 8 : null,
                ["activation_bits"] = configPath is null ? activationBits ?? 8 : null,
                ["dataset"] = result.Data.DatasetName,
                ["preprocessing"] = Reports.PreprocessingJson(result.Data.Preprocessing),
                ["calibration_images"] = report.CalibrationImages,
                ["seed"] = seedValue,
                ["threads"] = parse.GetValue(threads),
                ["fp32_accuracy"] = result.Fp32.Accuracy,
                ["quantized_accuracy"] = result.Quantized.Accuracy,
                ["accuracy_drop_points"] = result.AccuracyDropPoints,
                ["test_images"] = result.Quantized.Total,
                ["bias_correction"] = result.Options.CorrectsBiases,
                ["reconstruction"] = result.Options.Reconstruction is { } r ? new JsonObject
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
                ["layers"] = Reports.LayersJson(result.Model, result.Weights.Layers, result.Activations),
                ["blocks"] = new JsonArray(result.Weights.Blocks.Select(b => (JsonNode)Reports.StatisticsJson(b)).ToArray()),
                ["total"] = Reports.StatisticsJson(result.Weights.Total),
                ["output"] = result.Written is null ? null : Path.GetFullPath(result.Written),
                ["notes"] = new JsonArray(result.Notes.Select(n => (JsonNode)n).ToArray()),
                ["onnxruntime_accuracy"] = result.OnnxRuntimeAccuracy,
            };
            output.Result(resultJson,
                $"FP32 {result.Fp32.Accuracy:P2}, quantized {result.Quantized.Accuracy:P2} ({Reports.Change(result.Fp32.Accuracy, result.Quantized.Accuracy)}) on {result.Data.DatasetName} test"
                + (result.Written is null ? "" : $"; wrote {result.Written}") + (result.OnnxRuntimeAccuracy is { } a ? $"; ONNX Runtime {a:P2}" : ""));
            return ExitCodes.Ok;
        }));
        return command;

        // BWQ without training: BWQ-A's start (each block's precision the bit length of its largest magnitude, 8-bit activations
        // calibrated), with no step to take.
        int Bwq(ParseResult parse, Output output, CancellationToken cancel)
        {
            scheme.Read(parse);
            string path = parse.GetValue(modelPath)!;
            string outPath = parse.GetValue(outputPath) ?? throw new UserError("--scheme bwq writes its model: give -o FILE", ExitCodes.Usage);
            BwqFlags.CheckOutputFolder(outPath);
            long seedValue = parse.GetValue(seed);
            var options = new BwqOptions { AlphaSteps = 0, MinActivationBits = 8 };
            var request = new BwqRequest(path, data.Read(parse), options, new TrainingOptions { Seed = seedValue }, parse.GetValue(calibrationImages), outPath,
                Checkpoints: outPath + ".steps", Command: "pimq " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), Images: parse.GetValue(images));
            var result = BwqTraining.Run(request, new ConsoleProgress(output), null, cancel);
            output.Err.Write(BwqFlags.Table(result));
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["scheme"] = "bwq",
                ["dataset"] = result.DatasetName,
                ["calibration_images"] = request.CalibrationImages,
                ["seed"] = seedValue,
                ["threads"] = parse.GetValue(threads),
                ["fp32_accuracy"] = result.Fp32Accuracy,
                ["quantized_accuracy"] = result.Accuracy,
                ["accuracy_drop_points"] = (result.Fp32Accuracy - result.Accuracy) * 100,
                ["test_images"] = result.TestImages,
                ["mean_weight_bits"] = result.MeanWeightBits,
                ["activation_bits"] = result.ActivationBits,
                ["blocks"] = result.Blocks,
                ["pruned_blocks"] = result.PrunedBlocks,
                ["output"] = result.Output,
                ["seconds"] = result.Seconds,
            }, $"FP32 {result.Fp32Accuracy:P2}, bwq {result.Accuracy:P2} ({Reports.Change(result.Fp32Accuracy, result.Accuracy)}) on {result.DatasetName} test, "
               + $"{result.MeanWeightBits:F2} bits per weight, {result.PrunedBlocks:N0} of {result.Blocks:N0} blocks pruned; wrote {outPath}");
            return ExitCodes.Ok;
        }
    }
}
