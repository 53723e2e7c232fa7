using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using PimQuant.Experiments;
using PimQuant.Experiments.Results;

namespace PimQuant.Tests.Experiments;

/// <summary>
/// The result row and its SQLite store: a row reads back as written (JSON, database, CSV), the schema holds exactly the
/// row's fields, two writers at once both land, and a truncated, foreign or newer file is one error naming it.
/// </summary>
public class ResultsStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-results-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name) => Path.Combine(_dir, name);

    /// <summary>The fields of docs/results.md's row, in its order.</summary>
    private static readonly string[] DocumentedFields =
    [
        "scheme", "method", "hw", "adc_bits", "fp32_accuracy", "ideal_accuracy", "accuracy", "avg_weight_bits", "avg_activation_bits",
        "weight_compression", "arrays", "utilisation", "ou_reads", "adc_conversions", "energy_j", "latency_s", "fps", "tops_per_w",
        "area_mm2", "speedup", "energy_saving",
    ];

    private static ResultRow Row(string scheme, double accuracy = 0.9455) => new(
        scheme, "baseline", "isaac-ou", 5, 0.9455, 0.9455, accuracy, 8.0, 8.0, 4.0, 312, 0.73, 132504, 11741504,
        8.04e-05, 5.76e-03, 1594.4, 0.77, 1.12, 1.0, 1.0);

    /// <summary>A report whose text needs every CSV escape: commas, quotes, a line break, an empty string, nulls.</summary>
    private static ResultReport Report(string command = "reproduce bwq", int rows = 2)
    {
        var context = new ResultContext(command, "/models/resnet20, \"fmnist\".onnx", "fashion-mnist", 10000, -3, Baseline: "",
            new PaperFigures(6.08, null, "Table 3, \"BWQ\""), ["first note, with a comma", "second\nline"]);
        var list = new List<ResultRow> { Row("isaac-ou w8a8") };
        for (int i = 1; i < rows; i++)
            list.Add(Row($"bwq w4a8 #{i}", 0.1 * i) with { Method = "bwq+redy", Hw = null, AdcBits = null, Utilisation = null, EnergyJ = 1.0 / 3 * i, Speedup = null });
        return new ResultReport(context, list);
    }

    private static RunProvenance Provenance(string seed = "0") => new(
        [new("model", "sha256:00ff"), new("seed", seed)], "pimq reproduce bwq --seed 'a b'", "1.0.0+abc", new DateTimeOffset(2026, 12, 3, 10, 26, 7, 123, TimeSpan.Zero));

    [Fact]
    public void TheRowHasTheDocumentedFieldsInOrderAndReadsBack()
    {
        Assert.Equal(DocumentedFields, ResultJson.RowFields.Select(f => f.Name));
        var row = Report().Rows[1];
        var json = ResultJson.Row(row);
        Assert.Equal(DocumentedFields, json.Select(kv => kv.Key));
        Assert.Null(json["hw"]);
        Assert.Equal(row, ResultJson.ReadRow(json));
    }

    [Fact]
    public void TheRowsTableHasOneColumnPerFieldWithTheFieldsNullability()
    {
        using (ResultsStore.OpenOrCreate(File("r.db"))) { }
        using var connection = new SqliteConnection($"Data Source={File("r.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, \"notnull\" FROM pragma_table_info('rows') WHERE name NOT IN ('id', 'run_id') ORDER BY cid";
        using var reader = command.ExecuteReader();
        var columns = new List<(string, bool)>();
        while (reader.Read()) columns.Add((reader.GetString(0), reader.GetInt64(1) == 0));
        Assert.Equal(ResultJson.RowFields.Select(f => (f.Name, f.Nullable)), columns);
    }

    [Fact]
    public void AStoredReportReadsBackAsAppended()
    {
        var report = Report();
        (long runId, IReadOnlyList<long> ids) stored;
        using (var store = ResultsStore.OpenOrCreate(File("r.db")))
            stored = store.Append(report, Provenance());
        using (var store = ResultsStore.OpenOrCreate(File("r.db")))
            Assert.Equal(stored.runId + 1, store.Append(Report("simulate", rows: 1), Provenance("1")).RunId);

        using var reopened = ResultsStore.OpenExisting(File("r.db"));
        var all = reopened.All();
        Assert.Equal(3, all.Count);
        Assert.Equal(stored.ids.Append(3L), all.Select(r => r.Id));
        for (int i = 0; i < report.Rows.Count; i++)
        {
            var back = reopened.Get(stored.ids[i]);
            Assert.Equal(report.Rows[i], back.Row);
            Assert.Equal(stored.runId, back.RunId);
            // Records compare lists by reference: compare the lists apart.
            Assert.Equal(report.Context.Notes, back.Context.Notes);
            Assert.Equal(report.Context, back.Context with { Notes = report.Context.Notes });
            var provenance = Provenance();
            Assert.Equal(provenance.Key, back.Provenance.Key);
            Assert.Equal(provenance, back.Provenance with { Key = provenance.Key });
        }
        Assert.Equal(ResultJson.FlatColumns, ResultJson.Flat(all[0]).Select(kv => kv.Key));
        var missing = Assert.Throws<ExperimentException>(() => reopened.Get(9));
        Assert.Equal($"{File("r.db")}: no result 9 (ids run from 1 to 3)", missing.Message);
    }

    [Fact]
    public void TheCsvExportHoldsWhatTheJsonExportHolds()
    {
        using var store = ResultsStore.OpenOrCreate(File("r.db"));
        store.Append(Report(rows: 3), Provenance());
        var json = store.All().Select(ResultJson.Flat).ToList();
        var csv = ParseCsv(ResultJson.Csv(json, ResultJson.FlatColumns));

        Assert.Equal(ResultJson.FlatColumns, csv[0].Select(c => c.Text));
        Assert.Equal(json.Count, csv.Count - 1);
        for (int i = 0; i < json.Count; i++)
        {
            var back = new JsonObject();
            foreach (var (column, cell) in ResultJson.FlatColumns.Zip(csv[i + 1]))
            {
                // An unquoted empty cell is null; a text column reads as it is; the rest (numbers, objects, arrays) as JSON.
                var expected = json[i][column];
                back[column] = cell is { Text: "", Quoted: false } ? null
                    : expected is JsonValue v && v.TryGetValue<string>(out _) ? JsonValue.Create(cell.Text)
                    : JsonNode.Parse(cell.Text);
            }
            Assert.True(JsonNode.DeepEquals(json[i], back), $"JSON:\n{json[i]}\nfrom CSV:\n{back}");
        }
        Assert.Equal("", (string)json[0]["baseline"]!);
        Assert.Null(json[1]["hw"]);
    }

    [Fact]
    public async Task TwoWritersAtOnceBothLandEveryRow()
    {
        const int Runs = 20;
        string path = File("shared.db");
        using var start = new Barrier(2);
        var writers = Enumerable.Range(0, 2).Select(w => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            // Each writer opens the file itself, so the two also race to create it.
            for (int i = 0; i < Runs; i++)
            {
                using var store = ResultsStore.OpenOrCreate(path);
                store.Append(Report($"writer {w} run {i}"), Provenance());
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(writers);

        using var reader = ResultsStore.OpenExisting(path);
        var all = reader.All();
        Assert.Equal(2 * Runs * 2, all.Count);
        Assert.Equal(2 * Runs, all.Select(r => r.Context.Command).Distinct().Count());
        // A run's rows went in together: each run holds exactly its two rows, with its own command.
        foreach (var run in all.GroupBy(r => r.RunId))
            Assert.Equal(["isaac-ou w8a8", "bwq w4a8 #1"], run.Select(r => r.Row.Scheme));
    }

    [Fact]
    public void TruncatedForeignNewerOrNonDatabaseFilesAreOneErrorNamingTheFile()
    {
        string good = File("good.db");
        using (var store = ResultsStore.OpenOrCreate(good))
            for (int i = 0; i < 30; i++) store.Append(Report($"run {i}"), Provenance());
        var bytes = System.IO.File.ReadAllBytes(good);

        string truncated = File("truncated.db");
        System.IO.File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        AssertRefused(truncated, "truncated or corrupt results database");

        string foreign = File("foreign.db");
        using (var connection = new SqliteConnection($"Data Source={foreign};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE notes (text TEXT)";
            command.ExecuteNonQuery();
        }
        AssertRefused(foreign, "not a pimq results database (a SQLite database of another application)");

        string newer = File("newer.db");
        System.IO.File.Copy(good, newer);
        using (var connection = new SqliteConnection($"Data Source={newer};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"PRAGMA user_version = {ResultsStore.SchemaVersion + 1}";
            command.ExecuteNonQuery();
        }
        AssertRefused(newer, $"results database of schema {ResultsStore.SchemaVersion + 1}, written by a newer pimq");

        string text = File("text.db");
        System.IO.File.WriteAllText(text, "scheme,accuracy\nisaac,0.9\n");
        AssertRefused(text, "not a SQLite database");

        AssertRefused(File("absent.db"), "no such results database");
        Assert.False(System.IO.File.Exists(File("absent.db")), "opening to read created the file");
    }

    [Fact]
    public void AnEmptyFileIsRefusedToReadAndInitialisedToAppend()
    {
        string empty = File("empty.db");
        System.IO.File.WriteAllBytes(empty, []);
        var e = Assert.Throws<ExperimentException>(() => ResultsStore.OpenExisting(empty));
        Assert.Equal($"{empty}: an empty database, not a pimq results database", e.Message);
        ResultsStore.CheckWritable(empty);
        using (var store = ResultsStore.OpenOrCreate(empty)) store.Append(Report(), Provenance());
        using var reopened = ResultsStore.OpenExisting(empty);
        Assert.Equal(2, reopened.All().Count);
    }

    /// <summary>Reading <paramref name="path"/>, and for an existing file checking it before a run and appending to it, each give one line that begins with the file.</summary>
    private static void AssertRefused(string path, string reason)
    {
        var opens = new List<Action> { () => ResultsStore.OpenExisting(path).Dispose() };
        // An absent file is refused only to read: a run creates it.
        if (System.IO.File.Exists(path)) opens.AddRange([() => ResultsStore.CheckWritable(path), () => ResultsStore.OpenOrCreate(path).Dispose()]);
        foreach (var open in opens)
        {
            var e = Assert.Throws<ExperimentException>(open);
            Assert.StartsWith($"{path}: ", e.Message);
            Assert.Contains(reason, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    /// <summary>An RFC 4180 reader, independent of the writer: each cell's text and whether it was quoted.</summary>
    internal static List<List<(string Text, bool Quoted)>> ParseCsv(string csv)
    {
        var lines = new List<List<(string, bool)>>();
        var line = new List<(string, bool)>();
        var cell = new StringBuilder();
        bool quoted = false, inQuotes = false;
        for (int i = 0; i < csv.Length; i++)
        {
            char c = csv[i];
            if (inQuotes)
            {
                if (c != '"') cell.Append(c);
                else if (i + 1 < csv.Length && csv[i + 1] == '"') { cell.Append('"'); i++; }
                else inQuotes = false;
            }
            else if (c == '"') { inQuotes = true; quoted = true; }
            else if (c == ',' || c == '\n')
            {
                line.Add((cell.ToString(), quoted));
                cell.Clear();
                quoted = false;
                if (c == '\n') { lines.Add(line); line = []; }
            }
            else cell.Append(c);
        }
        Assert.True(cell.Length == 0 && line.Count == 0 && !inQuotes, "the CSV does not end with a line break");
        return lines;
    }
}
