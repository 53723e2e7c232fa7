namespace PimQuant.Data;

/// <summary>Which part of a dataset: the training or the test images.</summary>
public enum DatasetSplit
{
    /// <summary>The training images.</summary>
    Train,

    /// <summary>The test images.</summary>
    Test,
}

/// <summary>How a dataset's files are stored.</summary>
public enum DatasetFormat
{
    /// <summary>An IDX image file and an IDX label file per split, raw or gzipped (MNIST, Fashion-MNIST).</summary>
    Idx,

    /// <summary>CIFAR-10 binary batches of 1 label byte + 3,072 pixel bytes per record.</summary>
    Cifar10Binary,
}

/// <summary>What PimQuant knows about a dataset: its shape, classes, files, a customary normalisation
/// and where to get it.</summary>
public sealed class DatasetInfo
{
    internal DatasetInfo(string name, string displayName, DatasetFormat format, int channels, int side,
        IReadOnlyList<string> classNames, Normalization normalization, string? debianPackage)
    {
        Name = name;
        DisplayName = displayName;
        Format = format;
        Channels = channels;
        Height = side;
        Width = side;
        ClassNames = classNames;
        Normalization = normalization;
        DebianPackage = debianPackage;
    }

    /// <summary>The name used on the command line and for the data directory, e.g. <c>fashion-mnist</c>.</summary>
    public string Name { get; }

    /// <summary>The usual spelling, e.g. <c>Fashion-MNIST</c>.</summary>
    public string DisplayName { get; }

    /// <summary>How the files are stored.</summary>
    public DatasetFormat Format { get; }

    /// <summary>Channels per image.</summary>
    public int Channels { get; }

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Number of classes.</summary>
    public int Classes => ClassNames.Count;

    /// <summary>Class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The customary normalisation: mean and std of pixel/255 over the training split.</summary>
    public Normalization Normalization { get; }

    /// <summary>The Debian package that installs the dataset under <c>/usr/share/datasets/&lt;name&gt;</c>,
    /// or null when Debian has none.</summary>
    public string? DebianPackage { get; }

    /// <summary>The files a split consists of, in reading order. For IDX datasets each may also be
    /// present with a <c>.gz</c> suffix.</summary>
    public IReadOnlyList<string> FileNames(DatasetSplit split) => (Format, split) switch
    {
        (DatasetFormat.Idx, DatasetSplit.Train) => ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
        (DatasetFormat.Idx, DatasetSplit.Test) => ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
        (DatasetFormat.Cifar10Binary, DatasetSplit.Train) =>
            ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"],
        (DatasetFormat.Cifar10Binary, DatasetSplit.Test) => ["test_batch.bin"],
        _ => throw new ArgumentOutOfRangeException(nameof(split), split, "unknown split"),
    };

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>The datasets PimQuant knows: <c>fashion-mnist</c>, <c>mnist</c> and <c>cifar10</c>.</summary>
public static class DatasetCatalog
{
    /// <summary>Fashion-MNIST: 28×28 greyscale clothing images, 60,000 train / 10,000 test. Its test split
    /// ships with PimQuant in <c>data/fashion-mnist</c>.</summary>
    public static DatasetInfo FashionMnist { get; } = new("fashion-mnist", "Fashion-MNIST", DatasetFormat.Idx, 1, 28,
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
        // Measured on the training split installed by dataset-fashion-mnist: 0.28604, 0.35302.
        new Normalization([0.2860f], [0.3530f]),
        debianPackage: "dataset-fashion-mnist");

    /// <summary>MNIST: 28×28 greyscale handwritten digits, 60,000 train / 10,000 test. Not packaged by Debian.</summary>
    public static DatasetInfo Mnist { get; } = new("mnist", "MNIST", DatasetFormat.Idx, 1, 28,
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
        new Normalization([0.1307f], [0.3081f]),
        debianPackage: null);

    /// <summary>CIFAR-10: 32×32 RGB images, 50,000 train / 10,000 test, binary version. Not packaged by Debian.</summary>
    public static DatasetInfo Cifar10 { get; } = new("cifar10", "CIFAR-10", DatasetFormat.Cifar10Binary, 3, 32,
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        new Normalization([0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]),
        debianPackage: null);

    /// <summary>All known datasets.</summary>
    public static IReadOnlyList<DatasetInfo> All { get; } = [FashionMnist, Mnist, Cifar10];

    /// <summary>The dataset called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="DataException">No dataset has that name; the message lists the known ones.</exception>
    public static DatasetInfo Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return All.FirstOrDefault(d => string.Equals(d.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new DataException($"unknown dataset '{name}': expected one of {string.Join(", ", All.Select(d => d.Name))}");
    }

    /// <summary>Parses <c>train</c> or <c>test</c> (case-insensitive).</summary>
    /// <exception cref="DataException">Anything else.</exception>
    public static DatasetSplit ParseSplit(string split)
    {
        ArgumentNullException.ThrowIfNull(split);
        return split.Trim().ToLowerInvariant() switch
        {
            "train" => DatasetSplit.Train,
            "test" => DatasetSplit.Test,
            _ => throw new DataException($"unknown split '{split}': expected train or test"),
        };
    }
}
