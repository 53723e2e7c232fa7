using System.Globalization;

namespace PimQuant.Data;

/// <summary>Per-channel normalisation of raw pixels to floats: x = (pixel/255 − mean)/std. Either one
/// mean and one std for all channels, or one per channel. Validated on construction.</summary>
public sealed record Normalization
{
    // One 256-entry lookup table per distinct channel setting: every pixel value maps to exactly one
    // float, computed once in double precision, so results are bit-identical however they are applied.
    private readonly float[][] _tables;

    /// <summary>Creates a normalisation.</summary>
    /// <param name="mean">Mean of pixel/255, one value for all channels or one per channel.</param>
    /// <param name="std">Standard deviation of pixel/255, each positive; one value or one per channel.</param>
    /// <exception cref="ArgumentException">A list is empty, a value is not finite, a std is not
    /// positive, or the lists have different lengths that are both above 1.</exception>
    public Normalization(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Count == 0) throw new ArgumentException("at least one mean is needed", nameof(mean));
        if (std.Count == 0) throw new ArgumentException("at least one std is needed", nameof(std));
        if (mean.Count != std.Count && mean.Count != 1 && std.Count != 1)
            throw new ArgumentException($"{mean.Count} means but {std.Count} stds: give one value or one per channel", nameof(std));
        foreach (float m in mean)
            if (!float.IsFinite(m)) throw new ArgumentException($"mean {m} is not finite", nameof(mean));
        foreach (float s in std)
            if (!float.IsFinite(s) || s <= 0) throw new ArgumentException($"std {s} must be positive and finite", nameof(std));

        Mean = mean.ToArray();
        Std = std.ToArray();
        _tables = new float[Math.Max(mean.Count, std.Count)][];
        for (int c = 0; c < _tables.Length; c++)
        {
            double m = Mean[Mean.Count == 1 ? 0 : c], s = Std[Std.Count == 1 ? 0 : c];
            var table = new float[256];
            for (int p = 0; p < 256; p++) table[p] = (float)((p / 255.0 - m) / s);
            _tables[c] = table;
        }
    }

    /// <summary>Mean 0, std 1: pixels scaled to [0, 1].</summary>
    public static Normalization Identity { get; } = new([0f], [1f]);

    /// <summary>The means, one value or one per channel.</summary>
    public IReadOnlyList<float> Mean { get; }

    /// <summary>The standard deviations, one value or one per channel.</summary>
    public IReadOnlyList<float> Std { get; }

    /// <summary>Whether images with <paramref name="channels"/> channels can be normalised: every list
    /// has one value or exactly <paramref name="channels"/>.</summary>
    public bool Fits(int channels) =>
        channels >= 1 && (Mean.Count == 1 || Mean.Count == channels) && (Std.Count == 1 || Std.Count == channels);

    /// <summary>Normalises one image (or several, back to back) of CHW bytes into <paramref name="destination"/>.</summary>
    /// <param name="pixels">Bytes, channel planes one after another; length a multiple of <paramref name="channels"/>.</param>
    /// <param name="channels">Channels per image.</param>
    /// <param name="planeSize">Pixels per channel plane, H·W.</param>
    /// <param name="destination">Receives one float per byte.</param>
    /// <exception cref="ArgumentException">The sizes do not fit or <see cref="Fits"/> is false.</exception>
    public void Apply(ReadOnlySpan<byte> pixels, int channels, int planeSize, Span<float> destination)
    {
        CheckFits(channels);
        ArgumentOutOfRangeException.ThrowIfLessThan(planeSize, 1);
        if (pixels.Length % ((long)channels * planeSize) != 0)
            throw new ArgumentException($"{pixels.Length} bytes are not whole images of {channels}×{planeSize}", nameof(pixels));
        if (destination.Length < pixels.Length)
            throw new ArgumentException($"destination holds {destination.Length} floats, {pixels.Length} needed", nameof(destination));

        for (int plane = 0, at = 0; at < pixels.Length; plane++, at += planeSize)
        {
            float[] table = TableFor(plane % channels);
            var src = pixels.Slice(at, planeSize);
            var dst = destination.Slice(at, planeSize);
            for (int i = 0; i < src.Length; i++) dst[i] = table[src[i]];
        }
    }

    /// <summary>Normalises a whole dataset into a new N·C·H·W float array.</summary>
    public float[] Apply(ImageDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var result = new float[dataset.Pixels.Length];
        Apply(dataset.Pixels, dataset.Channels, dataset.Height * dataset.Width, result);
        return result;
    }

    /// <summary>The value pixel 0..255 maps to in channel <paramref name="channel"/>.</summary>
    internal float[] TableFor(int channel) => _tables[_tables.Length == 1 ? 0 : channel];

    /// <summary>Throws unless <see cref="Fits"/>(<paramref name="channels"/>).</summary>
    internal void CheckFits(int channels)
    {
        if (!Fits(channels))
            throw new ArgumentException(
                $"normalisation with {Mean.Count} means and {Std.Count} stds does not fit {channels}-channel images: give one value or {channels}",
                nameof(channels));
    }

    /// <summary>Equal when the means and stds are equal, value by value.</summary>
    public bool Equals(Normalization? other) =>
        other is not null && Mean.SequenceEqual(other.Mean) && Std.SequenceEqual(other.Std);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (float m in Mean) hash.Add(m);
        hash.Add(Mean.Count);
        foreach (float s in Std) hash.Add(s);
        return hash.ToHashCode();
    }

    /// <inheritdoc/>
    public override string ToString() => $"mean [{Format(Mean)}], std [{Format(Std)}]";

    private static string Format(IReadOnlyList<float> values) =>
        string.Join(", ", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
}
