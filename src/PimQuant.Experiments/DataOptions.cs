using PimQuant.Data;
using PimQuant.Engine.Graph;
using PimQuant.Quant.Ptq;
using static TorchSharp.torch;

namespace PimQuant.Experiments;

/// <summary>Where a run's normalisation came from: the request, the model's metadata, or neither (pixels in [0,1]).</summary>
public enum PreprocessingSource
{
    /// <summary>The request's mean and std (the --mean/--std flags).</summary>
    Flags,
    /// <summary>The model's metadata (<see cref="ModelFiles.MeanKey"/>, <see cref="ModelFiles.StdKey"/>).</summary>
    Metadata,
    /// <summary>Neither: pixels scaled to [0,1].</summary>
    Default,
    /// <summary>Fixed by a synthetic workload (a speed measurement's random images).</summary>
    Workload,
}

/// <summary>The normalisation a run applies to pixels, and where it came from.</summary>
public sealed record Preprocessing(Normalization Normalization, PreprocessingSource Source)
{
    /// <summary>The source as reports name it: "flags", "metadata", "default [0,1]" or "workload".</summary>
    public string SourceName => Source switch
    {
        PreprocessingSource.Flags => "flags",
        PreprocessingSource.Metadata => "metadata",
        PreprocessingSource.Workload => "workload",
        _ => "default [0,1]",
    };
}

/// <summary>
/// The data and preprocessing of every run that reads a dataset: the dataset's name, the directory holding
/// its files, and the per-channel mean and std of [0,1] pixels. Each is optional; <see cref="Resolve"/> fills
/// the gaps the same way for every run.
/// </summary>
/// <param name="Dataset">fashion-mnist, mnist or cifar10; null: the model's metadata, else fashion-mnist.</param>
/// <param name="Data">The directory holding the dataset's files; null: the repository's data/NAME, then Debian's.</param>
/// <param name="Mean">Mean of [0,1] pixels, one value or one per channel; with <paramref name="Std"/>.</param>
/// <param name="Std">Std of [0,1] pixels, one value or one per channel; with <paramref name="Mean"/>.</param>
public sealed record DataOptions(string? Dataset = null, DirectoryInfo? Data = null, IReadOnlyList<float>? Mean = null, IReadOnlyList<float>? Std = null)
{
    /// <summary>The dataset a model is run on: the request's, else the one in the model's metadata, else fashion-mnist.</summary>
    public string DatasetFor(ModelGraph graph) => Dataset ?? graph.Metadata.GetValueOrDefault(ModelFiles.DatasetKey) ?? "fashion-mnist";

    /// <summary>
    /// The normalisation for <paramref name="graph"/> on <paramref name="channels"/>-channel images: the request's
    /// mean and std if given, else the model's metadata, else pixels scaled to [0,1]; checked against the channels,
    /// so a mismatch is named here instead of failing inside a kernel.
    /// </summary>
    /// <exception cref="ExperimentException">Only one of mean and std is given, or a list does not fit the channels
    /// (<see cref="ExperimentErrorKind.InvalidOption"/>); the metadata is malformed or does not fit (<see cref="ExperimentErrorKind.BadInput"/>).</exception>
    public Preprocessing PreprocessingFor(ModelGraph graph, int channels, string dataset)
    {
        if (Mean is not null || Std is not null)
        {
            if (Mean is null || Std is null) throw new ExperimentException("--mean and --std must be given together", ExperimentErrorKind.InvalidOption);
            return new Preprocessing(Make(Mean, Std, channels, dataset, "--mean", "--std", ExperimentErrorKind.InvalidOption), PreprocessingSource.Flags);
        }
        if (graph.Metadata.TryGetValue(ModelFiles.MeanKey, out var meanText) && graph.Metadata.TryGetValue(ModelFiles.StdKey, out var stdText))
        {
            var mean = ModelFiles.ParseList(meanText) ?? throw new ExperimentException($"metadata {ModelFiles.MeanKey} '{meanText}' is not a comma-separated list of numbers");
            var std = ModelFiles.ParseList(stdText) ?? throw new ExperimentException($"metadata {ModelFiles.StdKey} '{stdText}' is not a comma-separated list of numbers");
            return new Preprocessing(Make(mean, std, channels, dataset, $"metadata {ModelFiles.MeanKey}", $"metadata {ModelFiles.StdKey}", ExperimentErrorKind.BadInput),
                PreprocessingSource.Metadata);
        }
        return new Preprocessing(Normalization.Identity, PreprocessingSource.Default);
    }

    private static Normalization Make(IReadOnlyList<float> mean, IReadOnlyList<float> std, int channels, string dataset, string meanName, string stdName, ExperimentErrorKind kind)
    {
        Normalization normalization;
        try { normalization = new Normalization(mean, std); }
        catch (ArgumentException e) { throw new ExperimentException($"{(e.ParamName == "mean" ? meanName : stdName)}: {e.Message.Split(" (Parameter")[0]}", kind); }
        if (!normalization.Fits(channels))
        {
            var (name, values) = mean.Count is not 1 && mean.Count != channels ? (meanName, mean) : (stdName, std);
            throw new ExperimentException($"{name} {string.Join(",", values)}: {values.Count} values for the {channels}-channel images of {dataset}; give one value or {channels}", kind);
        }
        return normalization;
    }

    /// <summary>
    /// The test split and preprocessing <paramref name="graph"/> (read from <paramref name="modelPath"/>) runs on,
    /// with the model's input checked against the images; the first <paramref name="images"/> test images when given.
    /// Everything is checked before any image is evaluated.
    /// </summary>
    public ResolvedData Resolve(ModelGraph graph, string modelPath, int? images = null)
    {
        string name = DatasetFor(graph);
        DatasetInfo info;
        try { info = DatasetCatalog.Get(name); }
        catch (DataException e) { throw new ExperimentException($"{Path.GetFileName(modelPath)}: {e.Message}"); }
        var preprocessing = PreprocessingFor(graph, info.Channels, name);
        var test = Workspace.LoadDataset(name, "test", Data);
        Evaluation.CheckCompatible(modelPath, graph, test);
        if (images is { } n && n < test.Count) test = test.Slice(0, n);
        return new ResolvedData(name, Data, test, preprocessing);
    }
}

/// <summary>The dataset a run reads, its (possibly shortened) test split and the preprocessing applied to both splits.</summary>
public sealed record ResolvedData(string DatasetName, DirectoryInfo? Data, ImageDataset Test, Preprocessing Preprocessing)
{
    /// <summary>The normalisation applied to every image.</summary>
    public Normalization Normalization => Preprocessing.Normalization;

    /// <summary>Loads the training split (fine-tuning reads it).</summary>
    public ImageDataset LoadTrain() => Workspace.LoadDataset(DatasetName, "train", Data);

    /// <summary>
    /// The seeded calibration images, normalised, as (N, C, H, W) in the caller's scope: from the training split,
    /// or where it is absent from the shipped copy of the default choice
    /// (data/NAME/calibration-seed0-1024-images-idx3-ubyte.gz: the images <see cref="CalibrationSplit.Choose"/>
    /// picks from the training split with seed 0), so post-training quantization and simulation run on the
    /// embedded default without the training split. The copy serves seed 0 and up to its 1,024 images only.
    /// </summary>
    /// <exception cref="ExperimentException">No training split and the shipped copy cannot serve the request, or too many images asked for.</exception>
    public Tensor CalibrationImages(int count, long seed, IExperimentProgress progress)
    {
        ImageDataset train;
        try { train = LoadTrain(); }
        catch (ExperimentException missing)
        {
            string shipped = System.IO.Path.Combine(Workspace.Root ?? ".", "data", DatasetName, $"calibration-seed0-{CalibrationSplit.DefaultCount}-images-idx3-ubyte.gz");
            if (Data is not null || seed != 0 || count > CalibrationSplit.DefaultCount || !File.Exists(shipped)) throw;
            progress.Log($"no {DatasetName} training split ({missing.Message}); calibrating on the shipped seed-0 choice {System.IO.Path.GetFileName(shipped)}");
            var images = IdxReader.ReadImages(shipped);
            var all = CalibrationSplit.Choose(60000, CalibrationSplit.DefaultCount, 0);
            var chosen = CalibrationSplit.Choose(60000, count, 0);
            int size = images.Height * images.Width;
            var values = new float[(long)count * size];
            for (int i = 0; i < count; i++)
                Normalization.Apply(images.Pixels.AsSpan(Array.BinarySearch(all, chosen[i]) * size, size), 1, size, values.AsSpan(i * size, size));
            return tensor(values, [count, 1, images.Height, images.Width]);
        }
        return Quantization.CalibrationImages(train, Normalization, count, seed);
    }
}
