using System.Text.Json;
using System.Text.Json.Nodes;
using PimQuant.Engine.Runtime;
using PimQuant.Training;

namespace PimQuant.Experiments.Results;

/// <summary>
/// The progress of a command that runs many schemes (a method's <c>pimq reproduce</c>): the rows done so far under the run's
/// key, saved atomically after each scheme, so a stopped run resumes at the first scheme it had not finished and ends with the
/// report of an uninterrupted one. A file of another run (another key) is refused naming the first difference.
/// </summary>
public static class RowCheckpoint
{
    private const string Format = "pimquant-rows-checkpoint";
    private const int FormatVersion = 1;

    /// <summary>Writes the rows done under <paramref name="key"/> to <paramref name="path"/> (atomically).</summary>
    public static void Save(string path, IReadOnlyList<KeyValuePair<string, string>> key, IReadOnlyList<ResultRow> rows)
    {
        var json = new JsonObject
        {
            ["format"] = Format,
            ["version"] = FormatVersion,
            ["run"] = ResultJson.RunKey(key),
            ["rows"] = new JsonArray([.. rows.Select(r => (JsonNode)ResultJson.Row(r))]),
        };
        AtomicFile.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The rows saved at <paramref name="path"/> for the run <paramref name="key"/>.</summary>
    /// <exception cref="CheckpointException">Not such a checkpoint, corrupt, or of another run (the first differing field named).</exception>
    public static IReadOnlyList<ResultRow> Load(string path, IReadOnlyList<KeyValuePair<string, string>> key)
    {
        string file = Path.GetFileName(path);
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new CheckpointException($"{file}: not a pimq checkpoint (not a JSON object)"); }
        catch (JsonException e) { throw new CheckpointException($"{file}: truncated or corrupt checkpoint (the JSON breaks off at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})"); }
        if ((json["format"] as JsonValue)?.TryGetValue(out string? format) is not true || format != Format)
            throw new CheckpointException($"{file}: not a checkpoint of pimq reproduce or compare (\"format\" is not \"{Format}\")");
        if ((json["version"] as JsonValue)?.TryGetValue(out int version) is not true || version != FormatVersion)
            throw new CheckpointException($"{file}: checkpoint format {json["version"]}, expected {FormatVersion}");
        try
        {
            var theirs = ResultJson.ReadRunKey(json["run"] as JsonObject ?? throw new JsonException("\"run\" missing")).ToDictionary(kv => kv.Key, kv => kv.Value);
            SimulationCheckpoint.RequireSame(file, "run", key, theirs.GetValueOrDefault, SimulationCheckpoint.DifferentRunAdvice);
            return [.. (json["rows"] as JsonArray ?? throw new JsonException("\"rows\" missing")).Select(r => ResultJson.ReadRow(r as JsonObject ?? throw new JsonException("a row is not an object")))];
        }
        catch (JsonException e) { throw new CheckpointException($"{file}: corrupt checkpoint ({e.Message})"); }
    }
}
