using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace PimQuant.Experiments.Results;

/// <summary>Where a run's rows came from: the run's identity, the command line, the PimQuant that ran it and when.</summary>
/// <param name="Key">What identifies the run (for simulate, <see cref="SimulationCheckpoint.RunKey"/>).</param>
/// <param name="CommandLine">The command line as typed, e.g. <c>pimq simulate models/m.onnx --hw isaac</c>.</param>
/// <param name="Version">PimQuant's version (<see cref="ResultsStore.Version"/>).</param>
/// <param name="TimeUtc">When the run's rows were stored.</param>
public sealed record RunProvenance(IReadOnlyList<KeyValuePair<string, string>> Key, string CommandLine, string Version, DateTimeOffset TimeUtc)
{
    /// <summary>The provenance of a run ending now, in this PimQuant, typed as <paramref name="words"/> (the program name first).</summary>
    public static RunProvenance Now(IReadOnlyList<KeyValuePair<string, string>> key, IEnumerable<string> words) =>
        new(key, string.Join(' ', words.Select(Quote)), ResultsStore.Version, DateTimeOffset.UtcNow);

    /// <summary>A word as a POSIX shell reads it back: as it is when plain, else in single quotes.</summary>
    private static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "_-./:=,+@%".Contains(c)) ? word : "'" + word.Replace("'", "'\''") + "'";
}

/// <summary>A row as stored: its id, its run's id, where it came from, what it ran on, and the row.</summary>
public sealed record StoredResult(long Id, long RunId, RunProvenance Provenance, ResultContext Context, ResultRow Row);

/// <summary>
/// The results database: a SQLite file (default <c>results.db</c> in the working folder) that commands append their
/// rows to, one transaction per run, and that <c>pimq results</c> lists, shows and exports. Schema in docs/results.md:
/// table <c>runs</c> (one per command run: provenance and context) and table <c>rows</c> (one per scheme, the
/// <see cref="ResultRow"/> fields as columns); the file is marked with <see cref="ApplicationId"/> and
/// <see cref="SchemaVersion"/> in SQLite's header. Several processes may append at once: the file is in WAL mode, a
/// writer waits up to <see cref="BusyTimeoutSeconds"/> for another's transaction, and each run's rows go in one
/// transaction, so none is lost or half-written. A file that is not a SQLite database, is truncated or corrupt, belongs to
/// another application or has a newer schema is an <see cref="ExperimentException"/> naming the file.
/// </summary>
public sealed class ResultsStore : IDisposable
{
    /// <summary>The file name used when none is given.</summary>
    public const string DefaultFile = "results.db";

    /// <summary>SQLite's application_id of a PimQuant results database: "PIMQ" in ASCII.</summary>
    public const int ApplicationId = 0x50494D51;

    /// <summary>The schema this PimQuant writes and reads (SQLite's user_version).</summary>
    public const int SchemaVersion = 1;

    /// <summary>How long a writer waits for another process's transaction before giving up.</summary>
    public const int BusyTimeoutSeconds = 60;

    private const string Schema = """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            time_utc TEXT NOT NULL,
            version TEXT NOT NULL,
            command_line TEXT NOT NULL,
            run_key TEXT NOT NULL,
            command TEXT NOT NULL,
            model TEXT NOT NULL,
            dataset TEXT NOT NULL,
            test_images INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            baseline TEXT,
            paper TEXT,
            notes TEXT NOT NULL
        );
        CREATE TABLE rows (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            scheme TEXT NOT NULL,
            method TEXT NOT NULL,
            hw TEXT,
            adc_bits INTEGER,
            fp32_accuracy REAL,
            ideal_accuracy REAL,
            accuracy REAL NOT NULL,
            avg_weight_bits REAL,
            avg_activation_bits REAL,
            weight_compression REAL,
            arrays INTEGER,
            utilisation REAL,
            ou_reads INTEGER,
            adc_conversions INTEGER,
            energy_j REAL,
            latency_s REAL,
            fps REAL,
            tops_per_w REAL,
            area_mm2 REAL,
            speedup REAL,
            energy_saving REAL,
            UNIQUE (run_id, scheme)
        );
        CREATE INDEX rows_by_run ON rows (run_id);
        """;

    private static readonly string[] RunColumns = ["time_utc", "version", "command_line", "run_key", "command", "model", "dataset", "test_images", "seed", "baseline", "paper", "notes"];

    private readonly SqliteConnection _connection;

    private ResultsStore(string path, SqliteConnection connection)
    {
        Path = path;
        _connection = connection;
    }

    /// <summary>The database file as given (errors name it so).</summary>
    public string Path { get; }

    /// <summary>PimQuant's version as its assemblies carry it (the informational version, with the commit when built from git).</summary>
    public static string Version { get; } =
        typeof(ResultsStore).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(ResultsStore).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>Opens the store at <paramref name="path"/> to append to, creating the file (in an existing folder) if it is absent or empty.</summary>
    /// <exception cref="ExperimentException">The folder does not exist, or the file is not a usable results database.</exception>
    public static ResultsStore OpenOrCreate(string path) => Open(path, create: true);

    /// <summary>Opens an existing store to read.</summary>
    /// <exception cref="ExperimentException">There is no such file, or it is not a usable results database.</exception>
    public static ResultsStore OpenExisting(string path) => Open(path, create: false);

    /// <summary>
    /// Checks, before a long run, that its rows can be stored at <paramref name="path"/>: an existing file must be a usable
    /// results database or empty (it is initialised then), an absent one must be in an existing folder. Creates nothing.
    /// </summary>
    /// <exception cref="ExperimentException">What would stop the rows from being stored, naming the file.</exception>
    public static void CheckWritable(string path)
    {
        if (File.Exists(path) && new FileInfo(path).Length > 0)
        {
            using var store = Open(path, create: false);
            return;
        }
        string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (folder is null || !Directory.Exists(folder)) throw new ExperimentException($"{path}: no such folder for the results database");
    }

    private static ResultsStore Open(string path, bool create)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new ExperimentException($"{path}: a folder, not a results database");
        if (!create && !File.Exists(full)) throw new ExperimentException($"{path}: no such results database");
        if (create && !Directory.Exists(System.IO.Path.GetDirectoryName(full))) throw new ExperimentException($"{path}: no such folder for the results database");
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            // One connection per process and command: a pooled one would keep the file open after the store is disposed.
            Pooling = false,
            DefaultTimeout = BusyTimeoutSeconds,
        }.ToString());
        var store = new ResultsStore(path, connection);
        try
        {
            store.Guard(() =>
            {
                connection.Open();
                store.Execute($"PRAGMA busy_timeout = {BusyTimeoutSeconds * 1000}");
                store.Prepare(create);
            });
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Checks the file's header and schema, initialising an empty file when <paramref name="create"/> is set.</summary>
    private void Prepare(bool create)
    {
        var (application, version, tables) = Header();
        if (application == 0 && tables == 0)
        {
            if (!create) throw new ExperimentException($"{Path}: an empty database, not a pimq results database");
            // WAL lets readers run beside a writer and a writer append without blocking them; it is kept in the file.
            // It cannot be switched inside a transaction, so it comes first (a second process doing the same is harmless).
            Execute("PRAGMA journal_mode = WAL");
            using var transaction = _connection.BeginTransaction();
            // Another process may have initialised the file since the header was read: check again under the write lock.
            (application, version, tables) = Header();
            if (application == 0 && tables == 0)
            {
                Execute(Schema);
                Execute($"PRAGMA application_id = {ApplicationId}");
                Execute($"PRAGMA user_version = {SchemaVersion}");
                (application, version) = (ApplicationId, SchemaVersion);
            }
            transaction.Commit();
        }
        if (application != ApplicationId)
            throw new ExperimentException($"{Path}: not a pimq results database (a SQLite database of another application)");
        if (version > SchemaVersion)
            throw new ExperimentException($"{Path}: results database of schema {version}, written by a newer pimq; this one reads schema {SchemaVersion}");
        if (version != SchemaVersion)
            throw new ExperimentException($"{Path}: results database of unknown schema {version}; this pimq reads schema {SchemaVersion}");
        // A truncated file can still have a good header: check every page before anything is read from or added to it.
        var problems = Query("PRAGMA quick_check", r => r.GetString(0));
        if (problems is not ["ok"])
            throw new ExperimentException($"{Path}: truncated or corrupt results database ({problems.FirstOrDefault() ?? "no check result"})");
    }

    /// <summary>The file's application id, schema version and number of schema objects, read in one statement so that they
    /// come from one snapshot (another process may be initialising the file meanwhile).</summary>
    private (long Application, long Version, long Tables) Header() => Query(
        "SELECT (SELECT application_id FROM pragma_application_id), (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)",
        r => (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2)))[0];

    /// <summary>Appends <paramref name="report"/>'s rows as one run, in one transaction; returns the run's id and the rows' ids in order.</summary>
    /// <exception cref="ArgumentException">The report has no row, or two rows with the same scheme.</exception>
    public (long RunId, IReadOnlyList<long> Ids) Append(ResultReport report, RunProvenance provenance)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(provenance);
        if (report.Rows.Count == 0) throw new ArgumentException("a report to store has at least one row", nameof(report));
        if (report.Rows.Select(r => r.Scheme).Distinct().Count() != report.Rows.Count) throw new ArgumentException("a report's schemes are unique", nameof(report));
        return Guard(() =>
        {
            // BEGIN IMMEDIATE: take the write lock first (waiting up to the busy timeout), so the transaction never
            // fails half-way on a lock another writer took after it began.
            using var transaction = _connection.BeginTransaction(deferred: false);
            var c = report.Context;
            var p = provenance;
            long runId = Insert("runs", RunColumns, [ResultJson.FormatTime(p.TimeUtc), p.Version, p.CommandLine, ResultJson.RunKey(p.Key).ToJsonString(),
                c.Command, c.Model, c.Dataset, c.TestImages, c.Seed, c.Baseline, ResultJson.Paper(c.Paper)?.ToJsonString(), ResultJson.Notes(c.Notes).ToJsonString()]);
            var ids = new List<long>(report.Rows.Count);
            foreach (var row in report.Rows)
            {
                var fields = ResultJson.Row(row);
                ids.Add(Insert("rows", ["run_id", .. fields.Select(f => f.Key)], [runId, .. fields.Select(f => SqlValue(f.Value))]));
            }
            transaction.Commit();
            return (runId, (IReadOnlyList<long>)ids);
        });
    }

    /// <summary>Every stored result, oldest first.</summary>
    public IReadOnlyList<StoredResult> All() => Guard(() => Select(""));

    /// <summary>The result with id <paramref name="id"/>.</summary>
    /// <exception cref="ExperimentException">There is none.</exception>
    public StoredResult Get(long id) => Guard(() => Select("WHERE rows.id = $id", ("$id", id)) switch
    {
        [var one] => one,
        _ => throw new ExperimentException($"{Path}: no result {id}" + (Scalar("SELECT max(id) FROM rows") is > 0 and var last ? $" (ids run from 1 to {last})" : " (the database holds none)")),
    });

    private IReadOnlyList<StoredResult> Select(string where, params (string Name, object Value)[] parameters)
    {
        string rowColumns = string.Join(", ", ResultJson.RowFields.Select(f => "rows." + f.Name));
        string sql = $"SELECT rows.id, rows.run_id, {string.Join(", ", RunColumns.Select(c => "runs." + c))}, {rowColumns} " +
                     $"FROM rows JOIN runs ON runs.id = rows.run_id {where} ORDER BY rows.id";
        return Query(sql, r =>
        {
            int i = 0;
            long id = r.GetInt64(i++), runId = r.GetInt64(i++);
            var time = ResultJson.ParseTime(r.GetString(i++));
            string version = r.GetString(i++), commandLine = r.GetString(i++);
            var key = ResultJson.ReadRunKey(JsonNode.Parse(r.GetString(i++))!.AsObject());
            string command = r.GetString(i++), model = r.GetString(i++), dataset = r.GetString(i++);
            int testImages = r.GetInt32(i++);
            long seed = r.GetInt64(i++);
            string? baseline = r.IsDBNull(i) ? null : r.GetString(i); i++;
            var paper = r.IsDBNull(i) ? null : ResultJson.ReadPaper(JsonNode.Parse(r.GetString(i))); i++;
            var notes = ResultJson.ReadNotes(JsonNode.Parse(r.GetString(i++))!);
            var fields = new JsonObject();
            foreach (var (name, _, _) in ResultJson.RowFields)
            {
                fields[name] = r.GetValue(i++) switch
                {
                    DBNull => null,
                    long l => JsonValue.Create(l),
                    double d => JsonValue.Create(d),
                    string s => JsonValue.Create(s),
                    var other => throw new ExperimentException($"{Path}: column rows.{name} holds a {other.GetType().Name}"),
                };
            }
            return new StoredResult(id, runId, new RunProvenance(key, commandLine, version, time),
                new ResultContext(command, model, dataset, testImages, seed, baseline, paper, notes), ResultJson.ReadRow(fields));
        }, parameters);
    }

    /// <summary>The value a JSON scalar is stored as.</summary>
    private static object? SqlValue(JsonNode? value) => value switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v when v.TryGetValue<long>(out var l) => l,
        JsonValue v when v.TryGetValue<int>(out var i) => (long)i,
        JsonValue v when v.TryGetValue<double>(out var d) => d,
        _ => throw new ArgumentException($"a result row field is not a scalar: {value.ToJsonString()}"),
    };

    private long Insert(string table, IReadOnlyList<string> columns, IReadOnlyList<object?> values)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = $"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ({string.Join(", ", columns.Select((_, i) => "$p" + i))}) RETURNING id";
        for (int i = 0; i < values.Count; i++) command.Parameters.AddWithValue("$p" + i, values[i] ?? DBNull.Value);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private long Scalar(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar() is { } value and not DBNull ? Convert.ToInt64(value, CultureInfo.InvariantCulture) : 0;
    }

    private List<T> Query<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object Value)[] parameters)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        using var reader = command.ExecuteReader();
        var results = new List<T>();
        while (reader.Read()) results.Add(read(reader));
        return results;
    }

    private void Guard(Action action) => Guard(() => { action(); return 0; });

    /// <summary>Runs <paramref name="action"/>, turning SQLite's errors and malformed stored JSON into one line naming the file.</summary>
    private T Guard<T>(Func<T> action)
    {
        try { return action(); }
        catch (SqliteException e)
        {
            throw new ExperimentException(e.SqliteErrorCode switch
            {
                26 => $"{Path}: not a SQLite database, so not a pimq results database",                      // SQLITE_NOTADB
                11 => $"{Path}: truncated or corrupt results database ({Reason(e)})",                         // SQLITE_CORRUPT
                5 or 6 => $"{Path}: still locked by another process after {BusyTimeoutSeconds} s ({Reason(e)})", // SQLITE_BUSY, SQLITE_LOCKED
                _ => $"{Path}: {Reason(e)}",
            });
        }
        catch (JsonException e)
        {
            throw new ExperimentException($"{Path}: a stored result does not read back ({e.Message})");
        }
    }

    /// <summary>SQLite's own words for the error, without the provider's "SQLite Error N:" wrapping.</summary>
    private static string Reason(SqliteException e) => e.Message.StartsWith("SQLite Error", StringComparison.Ordinal) && e.Message.IndexOf(": '", StringComparison.Ordinal) is > 0 and var at
        ? e.Message[(at + 3)..].TrimEnd('.', '\'')
        : e.Message;

    /// <summary>Closes the file.</summary>
    public void Dispose() => _connection.Dispose();
}
