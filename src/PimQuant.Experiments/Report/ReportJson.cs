using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using PimQuant.Experiments.Results;

namespace PimQuant.Experiments.Report;

/// <summary>
/// results.json of a comparison (docs/report.md): the <c>--json</c> report shape of docs/results.md, each row carrying its
/// <see cref="SchemeDetail"/> under <c>detail</c>, and the command line, version and machine it was produced on.
/// </summary>
public static class ReportJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    /// <summary>The report: docs/results.md's shape, a <c>detail</c> per row (without its scheme, the row's own), and the provenance.</summary>
    public static JsonObject Of(ComparisonReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var json = ResultJson.Report(report.Results);
        foreach (var (row, detail) in json["rows"]!.AsArray().Zip(report.Details))
        {
            var node = Detail(detail);
            node.Remove("scheme");
            row!["detail"] = node;
        }
        if (report.Provenance is { } p)
        {
            json["command_line"] = p.CommandLine;
            json["version"] = p.Version;
            json["machine"] = p.Machine;
        }
        return json;
    }

    /// <summary>The rows and details of a report written by <see cref="Of"/>.</summary>
    /// <exception cref="JsonException">Not such a report.</exception>
    public static (IReadOnlyList<ResultRow> Rows, IReadOnlyList<SchemeDetail> Details) Read(JsonObject json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var rows = new List<ResultRow>();
        var details = new List<SchemeDetail>();
        foreach (var node in json["rows"] as JsonArray ?? throw new JsonException("\"rows\" missing"))
        {
            var row = (node as JsonObject ?? throw new JsonException("a row is not an object")).DeepClone().AsObject();
            var detail = row["detail"] as JsonObject ?? throw new JsonException("a row has no \"detail\"");
            row.Remove("detail");
            var read = ResultJson.ReadRow(row);
            detail = detail.DeepClone().AsObject();
            detail["scheme"] = read.Scheme;
            rows.Add(read);
            details.Add(ReadDetail(detail));
        }
        return (rows, details);
    }

    /// <summary>One detail as JSON (snake_case, every field present).</summary>
    public static JsonObject Detail(SchemeDetail detail) => JsonSerializer.SerializeToNode(detail, Options)!.AsObject();

    /// <summary>A detail read back from <see cref="Detail"/>'s form.</summary>
    public static SchemeDetail ReadDetail(JsonNode json) => json.Deserialize<SchemeDetail>(Options) ?? throw new JsonException("null is not a scheme detail");

    /// <summary>Details as a JSON array.</summary>
    public static JsonArray Details(IEnumerable<SchemeDetail> details) => new([.. details.Select(d => (JsonNode)Detail(d))]);

    /// <summary>Details read back from <see cref="Details"/>'s form.</summary>
    public static IReadOnlyList<SchemeDetail> ReadDetails(JsonNode json) => [.. json.AsArray().Select(d => ReadDetail(d ?? throw new JsonException("a detail is null")))];
}
