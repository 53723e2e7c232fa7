using System.Text.Json.Nodes;
using PimQuant.Experiments.Results;
using PimQuant.Tests.Experiments;

namespace PimQuant.Tests.Cli;

/// <summary>
/// <c>pimq simulate</c> leaves its row in <c>results.db</c> in the folder it runs in, and <c>pimq results list|show|export</c>
/// read it back: the JSON holds the simulate report's row, the CSV export what the JSON export holds, two simulate runs at
/// once both land, and a truncated database is one line naming the file with exit 1.
/// </summary>
public class ResultsCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-resultscli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string Model = Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx");

    /// <summary>resnet20 on 16 test images on isaac, one thread, in <paramref name="folder"/>.</summary>
    private static PimqRun Simulate(string folder, params string[] extra) => PimqProcess.RunIn(folder,
        ["simulate", Model, "--hw", "isaac", "--images", "16", "--batch-size", "16", "--calibration-images", "64", "--threads", "1", "--json", .. extra]);

    private static JsonObject Ok(PimqRun run)
    {
        Assert.True(run.ExitCode == 0, run.Stderr);
        return run.Json();
    }

    [Fact]
    public void SimulateLeavesItsRowInTheWorkingFolderAndResultsReadsItBack()
    {
        var simulated = Ok(Simulate(_dir));
        string db = Path.Combine(_dir, ResultsStore.DefaultFile);
        Assert.Equal(db, (string)simulated["stored"]!["db"]!);
        var row = simulated["report"]!["rows"]![0]!.AsObject();
        Assert.Equal("isaac w8a8", (string)row["scheme"]!);
        Assert.Equal((double)simulated["simulated_accuracy"]!, (double)row["accuracy"]!);
        long id = (long)simulated["stored"]!["ids"]![0]!;

        var listed = Ok(PimqProcess.RunIn(_dir, "results", "list", "--json"))["results"]!.AsArray();
        Assert.Equal(id, (long)Assert.Single(listed)!["id"]!);

        var shown = Ok(PimqProcess.RunIn(_dir, "results", "show", id.ToString(), "--json"))["result"]!.AsObject();
        foreach (var (field, value) in row) Assert.True(JsonNode.DeepEquals(value, shown[field]), $"{field}: {value} printed, {shown[field]} stored");
        Assert.StartsWith("pimq simulate ", (string)shown["command_line"]!);
        Assert.Equal(ResultsStore.Version, (string)shown["version"]!);
        Assert.Equal("16", (string)shown["run_key"]!["images"]!);

        var exported = Ok(PimqProcess.RunIn(_dir, "results", "export", "--json"));
        var csv = PimqProcess.RunIn(_dir, "results", "export", "--csv");
        Assert.Equal(0, csv.ExitCode);
        var cells = ResultsStoreTests.ParseCsv(csv.Stdout);
        var columns = exported["columns"]!.AsArray().Select(c => (string)c!).ToList();
        Assert.Equal(columns, cells[0].Select(c => c.Text));
        var only = Assert.Single(exported["rows"]!.AsArray())!.AsObject();
        Assert.Equal(2, cells.Count);
        foreach (var (column, cell) in columns.Zip(cells[1]))
        {
            var value = only[column];
            string expected = value switch { null => "", JsonValue v when v.TryGetValue<string>(out var s) => s, _ => value.ToJsonString() };
            Assert.Equal(expected, cell.Text);
            Assert.Equal(value is null, cell is { Text: "", Quoted: false });
        }

        CliTests.AssertUserError(PimqProcess.RunIn(_dir, "results", "export", "--csv", "--json"), 2, "give one of --csv and --json");
        CliTests.AssertUserError(PimqProcess.RunIn(_dir, "results", "show", "99"), 1, "results.db: no result 99");
    }

    [Fact]
    public void TwoSimulateRunsAtOnceBothLand()
    {
        string db = Path.Combine(_dir, "shared.db");
        var runs = new[] { "1", "2" }.Select(seed => Task.Run(() => Simulate(_dir, "--seed", seed, "--db", db))).ToArray();
        var ids = runs.Select(r => (long)Ok(r.Result)["stored"]!["ids"]![0]!).Order().ToArray();
        var listed = Ok(PimqProcess.RunIn(_dir, "results", "list", "--db", db, "--json"))["results"]!.AsArray();
        Assert.Equal(ids, listed.Select(r => (long)r!["id"]!));
        Assert.Equal(2, listed.Select(r => (long)r!["run_id"]!).Distinct().Count());
    }

    [Fact]
    public void ATruncatedDatabaseIsOneLineNamingTheFileAndExitOne()
    {
        string good = Path.Combine(_dir, "good.db");
        using (var store = ResultsStore.OpenOrCreate(good))
            for (int i = 0; i < 30; i++)
                store.Append(new ResultReport(new ResultContext("simulate", Model, "fashion-mnist", 16, i, null, null, []),
                    [new ResultRow("isaac w8a8", "conventional", "isaac", 8, 0.9, 0.9, 0.9, 8, 8, 4, 90, 0.7, 1, 2, 3e-5, 1e-5, 1e5, 2, 54, null, null)]),
                    RunProvenance.Now([new("seed", i.ToString())], ["pimq", "simulate"]));
        var bytes = File.ReadAllBytes(good);
        string truncated = Path.Combine(_dir, "truncated.db");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        foreach (var args in new[] { new[] { "results", "list" }, ["results", "export", "--csv"], ["results", "show", "1"] })
            CliTests.AssertUserError(PimqProcess.RunIn(_dir, [.. args, "--db", truncated]), 1, "truncated.db: truncated or corrupt results database");
        // simulate refuses it before any work: the error comes before the model is read.
        var refused = Simulate(_dir, "--db", truncated);
        CliTests.AssertUserError(refused, 1, "truncated.db: truncated or corrupt results database");
        Assert.DoesNotContain("FP32 accuracy", refused.Stderr);
        Assert.Equal(bytes[..(bytes.Length / 2)], File.ReadAllBytes(truncated));
    }
}
