namespace PimQuant.Data;

/// <summary>A labelled image dataset held in memory as raw bytes: pixels 0..255 in NCHW order and one
/// label per image. Validated on construction. The dataset takes ownership of the arrays it is given
/// and never changes them; callers must not change them either (they are exposed, not copied, so a
/// 47 MB training split is not duplicated).</summary>
public sealed class ImageDataset
{
    /// <summary>Creates a dataset over <paramref name="pixels"/> and <paramref name="labels"/>.</summary>
    /// <param name="name">Display name, e.g. <c>fashion-mnist/test</c>.</param>
    /// <param name="channels">Channels per image (1 for greyscale, 3 for RGB).</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="classes">Number of classes; every label must be below it (at most 256, labels are bytes).</param>
    /// <param name="pixels">N·C·H·W bytes, image after image, each channel plane after plane.</param>
    /// <param name="labels">N labels.</param>
    /// <exception cref="ArgumentException">Sizes are inconsistent or a label is out of range.</exception>
    public ImageDataset(string name, int channels, int height, int width, int classes, byte[] pixels, byte[] labels)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classes, 256);
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);

        long imageSize = (long)channels * height * width;
        if (imageSize > Array.MaxLength)
            throw new ArgumentException($"an image of {channels}×{height}×{width} bytes is too large", nameof(width));
        if ((long)labels.Length * imageSize != pixels.Length)
            throw new ArgumentException(
                $"{pixels.Length} pixel bytes do not hold {labels.Length} images of {channels}×{height}×{width}", nameof(pixels));
        if (classes < 256)
        {
            int bad = labels.AsSpan().IndexOfAnyInRange((byte)classes, byte.MaxValue);
            if (bad >= 0)
                throw new ArgumentException($"label {labels[bad]} of image {bad} is not below the class count {classes}", nameof(labels));
        }

        Name = name;
        Channels = channels;
        Height = height;
        Width = width;
        Classes = classes;
        Pixels = pixels;
        Labels = labels;
    }

    /// <summary>Display name, e.g. <c>fashion-mnist/test</c>.</summary>
    public string Name { get; }

    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>Channels per image.</summary>
    public int Channels { get; }

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Number of classes; every label is below it.</summary>
    public int Classes { get; }

    /// <summary>Bytes per image, C·H·W.</summary>
    public int ImageSize => Channels * Height * Width;

    /// <summary>All pixels, N·C·H·W bytes in NCHW order, 0..255. Do not modify.</summary>
    public byte[] Pixels { get; }

    /// <summary>All labels, one per image, each below <see cref="Classes"/>. Do not modify.</summary>
    public byte[] Labels { get; }

    /// <summary>The C·H·W pixels of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> GetImage(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return Pixels.AsSpan(index * ImageSize, ImageSize);
    }

    /// <summary>A copy of images <paramref name="start"/> .. <paramref name="start"/>+<paramref name="count"/>-1,
    /// e.g. to take a calibration split or a small test set. Its name records the range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the dataset.</exception>
    public ImageDataset Slice(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start, Count);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Count - start);
        return new ImageDataset($"{Name}[{start}..{start + count})", Channels, Height, Width, Classes,
            Pixels.AsSpan(start * ImageSize, count * ImageSize).ToArray(),
            Labels.AsSpan(start, count).ToArray());
    }

    /// <summary>How many images each class has, indexed by label.</summary>
    public int[] CountPerClass()
    {
        var counts = new int[Classes];
        foreach (byte label in Labels) counts[label]++;
        return counts;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {Count} images {Channels}×{Height}×{Width}, {Classes} classes";
}
