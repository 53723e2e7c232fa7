using System.Globalization;
using System.Text;
using PimQuant.Data;
using PimQuant.Engine.Runtime;
using PimQuant.Engine.Execution;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Passes;
using PimQuant.Training;

namespace PimQuant.Experiments;

/// <summary>The evaluation of a model: top-1 accuracy of an executor on a test split.</summary>
public static class Evaluation
{
    /// <summary>
    /// An executor for FP32 inference: folds <paramref name="graph"/>'s batch norms into its convolutions (in
    /// place; the same function to float rounding, one operator fewer per layer) and runs convolutions
    /// channels-last, which spares libtorch's oneDNN kernels a layout reorder per call; elementwise nodes
    /// write into dying values.
    /// </summary>
    public static GraphExecutor InferenceExecutor(ModelGraph graph)
    {
        BatchNormFolding.Run(graph);
        return new GraphExecutor(graph) { ChannelsLast = true, OverwriteDyingValues = true };
    }

    /// <summary>Checks the model's input against the dataset's images, so a mismatch is named instead of failing inside a kernel.</summary>
    /// <exception cref="ExperimentException">The model has not one input, or its shape is not the images'.</exception>
    public static void CheckCompatible(string path, ModelGraph graph, ImageDataset data)
    {
        if (graph.Inputs.Count != 1)
            throw new ExperimentException($"{Path.GetFileName(path)}: the model has {graph.Inputs.Count} inputs; an image classifier has one");
        var shape = graph.Inputs[0].Shape;
        long[] expected = [data.Channels, data.Height, data.Width];
        if (shape.Length != 4 || !shape.Skip(1).Zip(expected).All(p => p.First < 0 || p.First == p.Second))
            throw new ExperimentException($"{Path.GetFileName(path)}: input '{graph.Inputs[0].Name}' has shape [{string.Join(",", shape)}], but {data.Name} images are {data.Channels}×{data.Height}×{data.Width}");
    }

    /// <summary>
    /// Top-1 accuracy of <paramref name="executor"/> on <paramref name="data"/>, reporting progress as an "evaluating" step;
    /// with <paramref name="logitsPath"/>, also writes every image's logits there (<see cref="LogitsCsv"/>), atomically.
    /// </summary>
    /// <exception cref="ExperimentException">The folder of <paramref name="logitsPath"/> does not exist (checked before any image is run).</exception>
    public static EvaluationResult Run(GraphExecutor executor, ImageDataset data, Normalization normalization, int batchSize,
        IExperimentProgress progress, CancellationToken cancel, string? logitsPath = null)
    {
        if (logitsPath is not null && Path.GetDirectoryName(Path.GetFullPath(logitsPath)) is { } folder && !Directory.Exists(folder))
            throw new ExperimentException($"--logits {logitsPath}: folder {folder} does not exist", ExperimentErrorKind.InvalidOption);
        var rows = logitsPath is null ? null : new StringBuilder();
        var result = progress.Step("evaluating", report =>
            Evaluator.Evaluate(executor, data, normalization, batchSize, (done, _) => report(new StepProgress("evaluating", done, data.Count)), cancel,
                rows is null ? null : (values, classes) => LogitsCsv.Append(rows, values, classes)));
        if (logitsPath is not null) AtomicFile.WriteAllText(logitsPath, rows!.ToString());
        return result;
    }
}

/// <summary>
/// Logits as <c>pimq eval --logits</c> writes them: one line per image in the test split's order, its class logits
/// comma-separated, each float32 in the shortest form that reads back to the same value; no header
/// (numpy's <c>loadtxt(path, delimiter=",", ndmin=2)</c> reads it).
/// </summary>
public static class LogitsCsv
{
    /// <summary>Appends the rows of <paramref name="values"/> (row-major, <paramref name="classes"/> per row) to <paramref name="text"/>.</summary>
    public static void Append(StringBuilder text, ReadOnlySpan<float> values, int classes)
    {
        for (int row = 0; row < values.Length / classes; row++)
        {
            for (int c = 0; c < classes; c++)
            {
                if (c > 0) text.Append(',');
                text.Append(values[row * classes + c].ToString(CultureInfo.InvariantCulture));
            }
            text.Append('\n');
        }
    }
}
