namespace PimQuant.Data;

/// <summary>Training-time augmentation, applied independently to every image with a random generator
/// derived from (seed, epoch, position in the epoch), so it is reproducible: a random crop of the
/// image zero-padded by <see cref="CropPadding"/> pixels on every side (the padding is black, i.e.
/// pixel 0 before normalisation), then a horizontal flip with probability ½ if
/// <see cref="HorizontalFlip"/>.</summary>
public sealed record Augmentation
{
    /// <summary>Creates an augmentation.</summary>
    /// <param name="cropPadding">Padding of the random crop in pixels; 0 turns cropping off.</param>
    /// <param name="horizontalFlip">Whether to mirror left–right with probability ½.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="cropPadding"/> is negative or above 1024.</exception>
    public Augmentation(int cropPadding = 0, bool horizontalFlip = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cropPadding);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(cropPadding, 1024);
        CropPadding = cropPadding;
        HorizontalFlip = horizontalFlip;
    }

    /// <summary>No augmentation.</summary>
    public static Augmentation None { get; } = new();

    /// <summary>Padding of the random crop in pixels; 0 means no cropping.</summary>
    public int CropPadding { get; }

    /// <summary>Whether images are mirrored left–right with probability ½.</summary>
    public bool HorizontalFlip { get; }

    /// <summary>True when the augmentation leaves images unchanged.</summary>
    public bool IsIdentity => CropPadding == 0 && !HorizontalFlip;

    /// <summary>Augments and normalises one CHW image in a single pass. The random draws are, in this
    /// order: crop row offset and crop column offset (if padding), flip (if enabled).</summary>
    internal void Apply(ReadOnlySpan<byte> image, int channels, int height, int width,
        Normalization normalization, ref Xoshiro256StarStar random, Span<float> destination)
    {
        int pad = CropPadding;
        int dy = pad == 0 ? 0 : random.NextInt(2 * pad + 1) - pad;
        int dx = pad == 0 ? 0 : random.NextInt(2 * pad + 1) - pad;
        bool flip = HorizontalFlip && random.NextBool();

        int planeSize = height * width;
        for (int c = 0; c < channels; c++)
        {
            float[] table = normalization.TableFor(c);
            float padValue = table[0];
            var src = image.Slice(c * planeSize, planeSize);
            var dst = destination.Slice(c * planeSize, planeSize);
            for (int y = 0; y < height; y++)
            {
                // Output (y, x) comes from the padded image at (y + pad + dy, x' + pad + dx), where x' is
                // x or its mirror; in original coordinates that is (y + dy, x' + dx).
                int sy = y + dy;
                var row = dst.Slice(y * width, width);
                if ((uint)sy >= (uint)height)
                {
                    row.Fill(padValue);
                    continue;
                }
                var srcRow = src.Slice(sy * width, width);
                for (int x = 0; x < width; x++)
                {
                    int sx = (flip ? width - 1 - x : x) + dx;
                    row[x] = (uint)sx < (uint)width ? table[srcRow[sx]] : padValue;
                }
            }
        }
    }
}
