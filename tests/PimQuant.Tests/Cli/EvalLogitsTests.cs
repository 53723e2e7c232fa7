using System.Globalization;
using System.Text;
using PimQuant.Experiments;

namespace PimQuant.Tests.Cli;

/// <summary><c>pimq eval --logits FILE</c>: every evaluated image's logits, exactly, in the test split's order.</summary>
public class EvalLogitsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-logits-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void EveryFloatReadsBackToTheSameValue()
    {
        float[] values = [0.1f, -1e-7f, float.Epsilon, 3.4028235e38f, 1f / 3, -0f];
        var text = new StringBuilder();
        LogitsCsv.Append(text, values, classes: 3);
        var rows = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, rows.Length);
        var back = rows.SelectMany(r => r.Split(',')).Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(values.Select(BitConverter.SingleToInt32Bits), back.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void EvalWritesOneLineOfLogitsPerImageWhoseArgmaxGivesItsCount()
    {
        string model = Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx"), file = Path.Combine(_dir, "logits.csv");
        var run = PimqProcess.Run("eval", model, "--images", "5", "--batch-size", "2", "--logits", file, "--json");
        Assert.Equal(0, run.ExitCode);
        var json = run.Json();
        Assert.Equal(Path.GetFullPath(file), (string)json["logits"]!);
        var rows = File.ReadAllLines(file).Select(l => l.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.Equal(5, rows.Length);
        Assert.All(rows, r => Assert.Equal(10, r.Length));
        // The test split's first labels, as the evaluation counted them: the rows are its images in order.
        var labels = PimQuant.Data.IdxReader.ReadLabels(Path.Combine(TestPaths.Root, "data", "fashion-mnist", "t10k-labels-idx1-ubyte.gz"));
        int correct = rows.Select((r, i) => Array.IndexOf(r, r.Max()) == labels[i] ? 1 : 0).Sum();
        Assert.Equal((int)json["correct"]!, correct);
    }

    [Fact]
    public void AMissingFolderIsRefusedBeforeAnyImageIsRun()
    {
        string model = Path.Combine(TestPaths.Root, "models", "resnet20-fmnist.onnx");
        var run = PimqProcess.Run("eval", model, "--images", "5", "--logits", Path.Combine(_dir, "absent", "logits.csv"));
        CliTests.AssertUserError(run, 2, "--logits", "absent", "does not exist");
        Assert.DoesNotContain("evaluating", run.Stderr);
    }
}
