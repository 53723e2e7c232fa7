using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace PimQuant.Experiments.Results;

/// <summary>
/// The JSON and CSV forms of result rows (docs/results.md): snake_case names, every field present (null where the run
/// could not fill it), the row's fields in one fixed order. A stored result flattens to one object whose keys are also
/// the columns of the CSV export, so a CSV file holds exactly what the JSON export holds.
/// </summary>
public static class ResultJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    /// <summary>The row's field names in order, with their types (nullable where the field may be null).</summary>
    public static IReadOnlyList<(string Name, Type Type, bool Nullable)> RowFields { get; } =
        [.. typeof(ResultRow).GetConstructors().Single().GetParameters()
            .Select(p => (Options.PropertyNamingPolicy!.ConvertName(p.Name!), Nullable.GetUnderlyingType(p.ParameterType) ?? p.ParameterType,
                new NullabilityInfoContext().Create(p).WriteState == NullabilityState.Nullable))];

    /// <summary>The keys of <see cref="Flat"/>, in order: the CSV export's columns.</summary>
    public static IReadOnlyList<string> FlatColumns { get; } =
        ["id", "run_id", "time_utc", "version", "command_line", "run_key", "command", "model", "dataset", "test_images", "seed", "baseline",
         .. RowFields.Select(f => f.Name), "paper", "notes"];

    /// <summary>One row as JSON.</summary>
    public static JsonObject Row(ResultRow row) => JsonSerializer.SerializeToNode(row, Options)!.AsObject();

    /// <summary>A row read back from <see cref="Row"/>'s form; a missing field or a null in a field that cannot be null throws.</summary>
    /// <exception cref="JsonException">The object is not a result row.</exception>
    public static ResultRow ReadRow(JsonObject row) => row.Deserialize<ResultRow>(Options) ?? throw new JsonException("null is not a result row");

    /// <summary>The report shape of docs/results.md (without <c>ok</c>, which the printing command adds).</summary>
    public static JsonObject Report(ResultReport report)
    {
        var c = report.Context;
        var json = Context(c);
        json["rows"] = new JsonArray([.. report.Rows.Select(r => (JsonNode)Row(r))]);
        json["paper"] = Paper(c.Paper);
        json["notes"] = Notes(c.Notes);
        return json;
    }

    /// <summary>What a result was run on: command, model, dataset, test images, seed and baseline.</summary>
    private static JsonObject Context(ResultContext c) => new()
    {
        ["command"] = c.Command,
        ["model"] = c.Model,
        ["dataset"] = c.Dataset,
        ["test_images"] = c.TestImages,
        ["seed"] = c.Seed,
        ["baseline"] = c.Baseline,
    };

    /// <summary>
    /// A stored result as one flat object: its id, its run (id, time, version, command line, run key), what the run ran on,
    /// the row's fields, then the paper's figures and the notes. The keys are the CSV export's columns.
    /// </summary>
    public static JsonObject Flat(StoredResult result)
    {
        var c = result.Context;
        var p = result.Provenance;
        var flat = new JsonObject
        {
            ["id"] = result.Id,
            ["run_id"] = result.RunId,
            ["time_utc"] = FormatTime(p.TimeUtc),
            ["version"] = p.Version,
            ["command_line"] = p.CommandLine,
            ["run_key"] = RunKey(p.Key),
        };
        foreach (var (name, value) in Context(c)) flat[name] = value?.DeepClone();
        foreach (var (name, value) in Row(result.Row)) flat[name] = value?.DeepClone();
        flat["paper"] = Paper(c.Paper);
        flat["notes"] = Notes(c.Notes);
        return flat;
    }

    /// <summary>
    /// Flat objects (<see cref="Flat"/>, all with the same keys) as CSV (RFC 4180, "\n" line ends): a header of the keys, one
    /// line per object. A null is an empty cell and an empty string a quoted one (<c>""</c>); numbers are written as in
    /// JSON (shortest form that reads back to the same double), strings as they are, objects and arrays as compact JSON.
    /// </summary>
    public static string Csv(IReadOnlyList<JsonObject> rows, IReadOnlyList<string> columns)
    {
        var text = new StringBuilder();
        text.AppendJoin(',', columns.Select(c => Cell(c))).Append('\n');
        foreach (var row in rows)
        {
            if (row.Count != columns.Count || columns.Any(c => !row.ContainsKey(c)))
                throw new ArgumentException("every row must have exactly the CSV's columns", nameof(rows));
            text.AppendJoin(',', columns.Select(c => row[c] switch
            {
                null => "",
                JsonValue v when v.TryGetValue<string>(out var s) => Cell(s),
                var node => Cell(node.ToJsonString()),
            })).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>The CSV cell of <paramref name="value"/>: quoted when empty or holding a comma, quote or line break.</summary>
    private static string Cell(string value) =>
        value.Length == 0 || value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;

    /// <summary>The run key as one JSON object, in the key's order.</summary>
    public static JsonObject RunKey(IReadOnlyList<KeyValuePair<string, string>> key) =>
        new(key.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));

    /// <summary>A run key read back from <see cref="RunKey"/>'s form.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> ReadRunKey(JsonObject key) =>
        [.. key.Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.GetValue<string>() ?? throw new JsonException($"run key '{kv.Key}' is null")))];

    /// <summary>The paper's figures as JSON, or null.</summary>
    public static JsonObject? Paper(PaperFigures? paper) => paper is null ? null : JsonSerializer.SerializeToNode(paper, Options)!.AsObject();

    /// <summary>Paper figures read back from <see cref="Paper"/>'s form.</summary>
    public static PaperFigures? ReadPaper(JsonNode? paper) => paper?.Deserialize<PaperFigures>(Options);

    /// <summary>The notes as a JSON array.</summary>
    public static JsonArray Notes(IReadOnlyList<string> notes) => new([.. notes.Select(n => (JsonNode)n)]);

    /// <summary>Notes read back from <see cref="Notes"/>'s form.</summary>
    public static IReadOnlyList<string> ReadNotes(JsonNode notes) => [.. notes.AsArray().Select(n => n?.GetValue<string>() ?? throw new JsonException("a note is null"))];

    /// <summary>UTC time as ISO 8601 with milliseconds and <c>Z</c>: sorts as text in time order.</summary>
    public static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A time written by <see cref="FormatTime"/>.</summary>
    public static DateTimeOffset ParseTime(string text) =>
        DateTimeOffset.ParseExact(text, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
}
