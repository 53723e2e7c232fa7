using System.CommandLine;
using System.Text.Json.Nodes;
using PimQuant.Cli.Terminal;
using PimQuant.Engine.Graph;
using PimQuant.Experiments;
using PimQuant.Quant.Export;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq info</c>: layers, shapes, parameters and MACs of a model.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var modelPath = new Argument<string>("model") { Description = "The ONNX model" };
        var command = new Command("info", CommonOptions.Help("List a model's layers, shapes, parameters and MACs",
            "pimq info models/resnet20-fmnist.onnx", "pimq info my.onnx --json")) { modelPath, json };
        command.SetAction(parse => CommandRunner.Run(parse, json, null, null, (output, _) =>
        {
            string path = parse.GetValue(modelPath)!;
            var graph = ModelFiles.Load(path);
            // A QDQ file is listed as the quantized model it holds: float layers with their quantizers.
            var imported = QdqImport.IsQdq(graph) ? ModelFiles.ReadQdq(path, graph, new ConsoleProgress(output)) : null;
            if (imported is not null) graph = imported.Graph;
            using var model = imported?.Model;
            using var owned = graph;
            var summary = ModelSummary.Of(graph);
            var table = new Table().AddColumns("layer", "op", "output shape", "parameters", "MACs");
            foreach (var l in summary.Layers)
                table.AddRow(Markup.Escape(l.Name), Markup.Escape(l.OpType), Markup.Escape(Shape(l.OutputShape)), l.Parameters.ToString("N0"), l.Macs.ToString("N0"));
            table.AddRow("[bold]total[/]", "", "", $"[bold]{summary.Parameters:N0}[/]", $"[bold]{summary.Macs:N0}[/]");
            output.Err.Write(table);
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["model"] = Path.GetFullPath(path),
                ["name"] = graph.Name,
                ["opset"] = graph.Opset,
                ["inputs"] = new JsonArray(graph.Inputs.Select(i => (JsonNode)new JsonObject { ["name"] = i.Name, ["shape"] = ShapeJson(i.Shape) }).ToArray()),
                ["parameters"] = summary.Parameters,
                ["macs"] = summary.Macs,
                ["layers"] = new JsonArray(summary.Layers.Select(l => (JsonNode)new JsonObject
                {
                    ["name"] = l.Name, ["op"] = l.OpType, ["output_shape"] = ShapeJson(l.OutputShape),
                    ["parameters"] = l.Parameters, ["macs"] = l.Macs,
                }).ToArray()),
                ["quantization"] = model is null ? null : new JsonArray(model.Layers.Select(l => (JsonNode)new JsonObject
                {
                    ["layer"] = l.Name,
                    ["weight"] = l.Plan.Weight?.ToString(),
                    ["activation"] = l.Plan.Activation?.ToString(),
                }).ToArray()),
                ["notes"] = imported is null ? null : new JsonArray(imported.Notes.Select(n => (JsonNode)n).ToArray()),
                ["metadata"] = new JsonObject(graph.Metadata.OrderBy(kv => kv.Key).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            }, $"{graph.Name}: {summary.Layers.Count} nodes, {summary.Parameters:N0} parameters, {summary.Macs:N0} MACs per image");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static string Shape(long[] shape) => "[" + string.Join("×", shape.Select(d => d < 0 ? "N" : d.ToString())) + "]";

    private static JsonArray ShapeJson(long[] shape) => new(shape.Select(d => (JsonNode)d).ToArray());
}
