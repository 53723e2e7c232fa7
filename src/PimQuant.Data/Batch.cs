namespace PimQuant.Data;

/// <summary>A mini-batch ready for a model: <see cref="Count"/> normalised (and possibly augmented)
/// images in NCHW order and their labels. A batch stays valid for as long as the consumer keeps it.
/// Disposing it is optional and hands its image buffer back to the <see cref="BatchLoader"/> for reuse;
/// after that the batch, and any reference to its <see cref="Images"/> array, must no longer be used.</summary>
public sealed class Batch : IDisposable
{
    private readonly BatchLoader? _owner;
    private float[]? _images;

    internal Batch(BatchLoader? owner, int epoch, int index, int channels, int height, int width,
        float[] images, long[] labels, int[] indices)
    {
        _owner = owner;
        Epoch = epoch;
        Index = index;
        Channels = channels;
        Height = height;
        Width = width;
        _images = images;
        Labels = labels;
        Indices = indices;
    }

    /// <summary>The epoch this batch belongs to.</summary>
    public int Epoch { get; }

    /// <summary>Position of this batch within its epoch, from 0.</summary>
    public int Index { get; }

    /// <summary>Number of images; the last batch of an epoch may be smaller than the batch size.</summary>
    public int Count => Labels.Length;

    /// <summary>Channels per image.</summary>
    public int Channels { get; }

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Count·Channels·Height·Width floats, NCHW, exactly that long.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public float[] Images => _images ?? throw new ObjectDisposedException(nameof(Batch));

    /// <summary>The class label of each image.</summary>
    public long[] Labels { get; }

    /// <summary>The index in the dataset of each image, for tracing a prediction back to its sample.</summary>
    public int[] Indices { get; }

    /// <summary>Hands the image buffer back to the loader for reuse. Idempotent.</summary>
    public void Dispose()
    {
        float[]? images = Interlocked.Exchange(ref _images, null);
        if (images is not null) _owner?.Return(images);
    }
}
