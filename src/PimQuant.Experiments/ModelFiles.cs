using System.Globalization;
using System.Security.Cryptography;
using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Onnx;
using PimQuant.Quant.Export;

namespace PimQuant.Experiments;

/// <summary>Reading and writing model files, with PimQuant's metadata conventions.</summary>
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

    /// <summary>The SHA-256 of a file's bytes, in hex: a run's identity names the model (and config) it read, so a resumed run must
    /// read the same.</summary>
    public static string Digest(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>Imports an ONNX model; any problem becomes a one-line <see cref="ExperimentException"/> naming the file.</summary>
    public static ModelGraph Load(string path)
    {
        if (!File.Exists(path)) throw new ExperimentException($"{path}: no such file");
        try
        {
            return OnnxImporter.ImportFile(path);
        }
        catch (GraphException e)
        {
            // The importer's messages start with the path it was given; name the file once.
            throw new ExperimentException(e.Message.StartsWith(path + ": ", StringComparison.Ordinal) ? e.Message : $"{Path.GetFileName(path)}: {e.Message}");
        }
    }

    /// <summary>
    /// The quantized model of a QDQ file (<see cref="QdqImport"/>): its integer weights, scales and zero points as the
    /// file holds them. Takes ownership of <paramref name="qdq"/> (disposed); a QDQ construct with no quantized-model
    /// form is a one-line <see cref="ExperimentException"/> naming the file.
    /// </summary>
    public static ImportedQdq ReadQdq(string path, ModelGraph qdq, IExperimentProgress progress)
    {
        try
        {
            var imported = QdqImport.Read(qdq);
            progress.Log($"{Path.GetFileName(path)}: a QDQ model; its {imported.Model.Layers.Count} quantized layers keep the file's integers, scales and zero points"
                + (qdq.Metadata.TryGetValue(CommandKey, out var made) ? $" (made by: {made})" : ""));
            foreach (var note in imported.Notes) progress.Log(note);
            return imported;
        }
        catch (QdqImportException e)
        {
            throw new ExperimentException($"{Path.GetFileName(path)}: {e.Message}");
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

    /// <summary>Comma-separated finite numbers, as the --mean/--std flags and the metadata hold them; null when a value is not one.</summary>
    public static float[]? ParseList(string text) =>
        text.Split(',', StringSplitOptions.TrimEntries) is var parts
        && parts.All(s => float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && float.IsFinite(v))
            ? [.. parts.Select(s => float.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture))]
            : null;
}
