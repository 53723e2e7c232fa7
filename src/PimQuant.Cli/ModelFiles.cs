using System.Globalization;
using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Onnx;
using PimQuant.Quant.Export;

namespace PimQuant.Cli;

/// <summary>Reading and writing model files for the commands, with their metadata conventions.</summary>
public static class ModelFiles
{
    /// <summary>Metadata key: per-channel normalisation mean, comma-separated.</summary>
    public const string MeanKey = "pimquant.mean";
    /// <summary>Metadata key: per-channel normalisation std, comma-separated.</summary>
    public const string StdKey = "pimquant.std";
    /// <summary>Metadata key: the dataset the model was trained for.</summary>
    public const string DatasetKey = "pimquant.dataset";
    /// <summary>Metadata key: the command line that produced the file.</summary>
    public const string CommandKey = "pimquant.command";

    /// <summary>Imports an ONNX model; any problem becomes a one-line user error naming the file.</summary>
    public static ModelGraph Load(string path)
    {
        if (!File.Exists(path)) throw new UserError($"{path}: no such file");
        try
        {
            return OnnxImporter.ImportFile(path);
        }
        catch (GraphException e)
        {
            throw new UserError(e.Message.StartsWith(Path.GetFileName(path), StringComparison.Ordinal) ? e.Message : $"{Path.GetFileName(path)}: {e.Message}");
        }
    }

    /// <summary>
    /// The quantized model of a QDQ file (<see cref="QdqImport"/>): its integer weights, scales and zero points as the
    /// file holds them. Takes ownership of <paramref name="qdq"/> (disposed); a QDQ construct with no quantized-model
    /// form is a one-line user error naming the file.
    /// </summary>
    public static ImportedQdq ReadQdq(string path, ModelGraph qdq, Terminal.Output output)
    {
        try
        {
            var imported = QdqImport.Read(qdq);
            output.Log($"{Path.GetFileName(path)}: a QDQ model; its {imported.Model.Layers.Count} quantized layers keep the file's integers, scales and zero points"
                + (qdq.Metadata.TryGetValue(CommandKey, out var made) ? $" (made by: {made})" : ""));
            foreach (var note in imported.Notes) output.Log(note);
            return imported;
        }
        catch (QdqImportException e)
        {
            throw new UserError($"{Path.GetFileName(path)}: {e.Message}");
        }
        finally
        {
            qdq.Dispose();
        }
    }

    /// <summary>Writes a model atomically, stamping the producing command into its metadata.</summary>
    public static void Save(ModelGraph graph, string path, string command)
    {
        graph.Metadata[CommandKey] = command;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        OnnxExporter.ExportFile(graph, path);
    }

    /// <summary>Records the normalisation and dataset in the model's metadata.</summary>
    public static void StampPreprocessing(ModelGraph graph, Normalization normalization, string dataset)
    {
        graph.Metadata[MeanKey] = string.Join(",", normalization.Mean.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        graph.Metadata[StdKey] = string.Join(",", normalization.Std.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        graph.Metadata[DatasetKey] = dataset;
    }

    /// <summary>
    /// The preprocessing to apply: the flags if given, else the model's metadata, else pixels scaled to [0,1].
    /// Returns where it came from too, for the report.
    /// </summary>
    public static (Normalization normalization, string source) ResolvePreprocessing(ModelGraph graph, string? meanFlag, string? stdFlag)
    {
        if (meanFlag is not null || stdFlag is not null)
        {
            if (meanFlag is null || stdFlag is null) throw new UserError("--mean and --std must be given together", ExitCodes.Usage);
            return (MakeNormalization(ParseList(meanFlag, "--mean"), ParseList(stdFlag, "--std"), "the --mean/--std flags"), "flags");
        }
        if (graph.Metadata.TryGetValue(MeanKey, out var mean) && graph.Metadata.TryGetValue(StdKey, out var std))
            return (MakeNormalization(ParseList(mean, $"metadata {MeanKey}"), ParseList(std, $"metadata {StdKey}"), "the model's metadata"), "metadata");
        return (Normalization.Identity, "default [0,1]");
    }

    private static Normalization MakeNormalization(float[] mean, float[] std, string where)
    {
        try { return new Normalization(mean, std); }
        catch (ArgumentException e) { throw new UserError($"{where}: {e.Message}"); }
    }

    private static float[] ParseList(string text, string where) =>
        text.Split(',', StringSplitOptions.TrimEntries).Select(s =>
            float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && float.IsFinite(v) ? v
                : throw new UserError($"{where}: '{s}' is not a number (expected comma-separated values such as 0.2860,0.3530)")).ToArray();
}
