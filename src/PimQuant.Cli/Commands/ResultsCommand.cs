using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using PimQuant.Experiments.Results;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq results list|show|export</c>: what the results database holds (<see cref="ResultsStore"/>).</summary>
public static class ResultsCommand
{
    /// <summary>--db: the results database, default <c>results.db</c> in the working folder.</summary>
    public static Option<string> DbOption() => new("--db")
    {
        Description = $"The results database (default: {ResultsStore.DefaultFile} in the working folder)",
        DefaultValueFactory = _ => ResultsStore.DefaultFile,
    };

    /// <summary>The command and its subcommands.</summary>
    public static Command Create() => new("results", "List, show and export the results database that simulate appends to")
    {
        List(), Show(), Export(),
    };

    /// <summary>The fields <c>list</c> prints per result.</summary>
    private static readonly string[] ListFields = ["id", "run_id", "time_utc", "command", "model", "scheme", "method", "hw", "adc_bits", "accuracy", "energy_j", "latency_s", "fps"];

    private static Command List()
    {
        var json = CommonOptions.Json();
        var db = DbOption();
        var command = new Command("list", CommonOptions.Help("One line per stored result: id, run, time, scheme, accuracy and cost",
            "pimq results list", "pimq results list --db runs/demo/results.db --json")) { db, json };
        command.SetAction(parse => CommandRunner.Run(parse, json, null, null, (output, _) =>
        {
            string path = parse.GetValue(db)!;
            using var store = ResultsStore.OpenExisting(path);
            var results = store.All();
            var table = new Table().Title(Markup.Escape($"{results.Count} results in {path}"))
                .AddColumns("id", "run", "time (UTC)", "command", "scheme", "method", "accuracy", "energy/image", "FPS");
            foreach (var r in results)
                table.AddRow(r.Id.ToString(CultureInfo.InvariantCulture), r.RunId.ToString(CultureInfo.InvariantCulture), ResultJson.FormatTime(r.Provenance.TimeUtc),
                    Markup.Escape(r.Context.Command), Markup.Escape(r.Row.Scheme), Markup.Escape(r.Row.Method), $"{r.Row.Accuracy:P2}",
                    r.Row.EnergyJ is { } e ? $"{e * 1e6:F2} µJ" : "-", r.Row.Fps is { } f ? $"{f:N0}" : "-");
            output.Err.Write(table);
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["db"] = Path.GetFullPath(path),
                ["schema_version"] = ResultsStore.SchemaVersion,
                ["results"] = new JsonArray([.. results.Select(r =>
                {
                    var flat = ResultJson.Flat(r);
                    return (JsonNode)new JsonObject(ListFields.Select(k => KeyValuePair.Create(k, flat[k]?.DeepClone())));
                })]),
            }, $"{results.Count} results in {path}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Show()
    {
        var json = CommonOptions.Json();
        var db = DbOption();
        var id = new Argument<long>("id")
        {
            Description = "The result's id (see pimq results list)",
            CustomParser = r =>
            {
                string text = r.Tokens.Count == 1 ? r.Tokens[0].Value : string.Join(" ", r.Tokens.Select(t => t.Value));
                if (r.Tokens.Count == 1 && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value > 0) return value;
                r.AddError($"id {text}: expected a result id, a positive integer (see pimq results list)");
                return 0;
            },
        };
        var command = new Command("show", CommonOptions.Help("Every field of one stored result, with its run key, command line, version and time",
            "pimq results show 12", "pimq results show 12 --json")) { id, db, json };
        command.SetAction(parse => CommandRunner.Run(parse, json, null, null, (output, _) =>
        {
            string path = parse.GetValue(db)!;
            using var store = ResultsStore.OpenExisting(path);
            var result = store.Get(parse.GetValue(id));
            var flat = ResultJson.Flat(result);
            var table = new Table().Title(Markup.Escape($"result {result.Id} in {path}")).AddColumns("field", "value");
            foreach (var (key, value) in flat)
                table.AddRow(Markup.Escape(key), Markup.Escape(value switch { null => "null", JsonValue v when v.TryGetValue<string>(out var s) => s, _ => value.ToJsonString() }));
            output.Err.Write(table);
            output.Result(new JsonObject { ["ok"] = true, ["db"] = Path.GetFullPath(path), ["result"] = flat },
                $"result {result.Id}: {result.Row.Scheme} ({result.Row.Method}), accuracy {result.Row.Accuracy:P2}, run {result.RunId} at {ResultJson.FormatTime(result.Provenance.TimeUtc)}: {result.Provenance.CommandLine}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Export()
    {
        var json = CommonOptions.Json();
        var db = DbOption();
        var csv = new Option<bool>("--csv") { Description = "Print every stored result as CSV (a header, one line per result) on stdout" };
        var command = new Command("export", CommonOptions.Help("Every stored result with every field: --csv as CSV, --json as one JSON object; the columns are the same",
            "pimq results export --csv > results.csv", "pimq results export --json --db runs/demo/results.db")) { db, csv, json };
        command.SetAction(parse => CommandRunner.Run(parse, json, null, null, (output, _) =>
        {
            bool asCsv = parse.GetValue(csv);
            if (asCsv == output.Json)
                throw new UserError(asCsv ? "give one of --csv and --json: each prints the export on stdout" : "give --csv or --json: the export's format", ExitCodes.Usage);
            string path = parse.GetValue(db)!;
            using var store = ResultsStore.OpenExisting(path);
            var rows = store.All().Select(ResultJson.Flat).ToList();
            output.Log($"{rows.Count} results in {path}");
            if (asCsv)
            {
                System.Console.Out.Write(ResultJson.Csv(rows, ResultJson.FlatColumns));
                return ExitCodes.Ok;
            }
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["db"] = Path.GetFullPath(path),
                ["schema_version"] = ResultsStore.SchemaVersion,
                ["columns"] = new JsonArray([.. ResultJson.FlatColumns.Select(c => (JsonNode)c)]),
                ["rows"] = new JsonArray([.. rows.Select(r => (JsonNode)r)]),
            });
            return ExitCodes.Ok;
        }));
        return command;
    }
}
