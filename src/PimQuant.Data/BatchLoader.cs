using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace PimQuant.Data;

/// <summary>Cuts a dataset into normalised, optionally shuffled and augmented mini-batches, preparing
/// them on a background thread a bounded number of batches ahead of the consumer.
/// <para>Every batch is a pure function of (seed, epoch, batch index): the order of epoch e comes from
/// a generator seeded with (seed, e) alone, and the augmentation of the k-th sample of epoch e from one
/// seeded with (seed, e, k). So epoch e is the same whether or not earlier epochs ran, on any thread,
/// at any speed, and a run resumed at epoch e reproduces an uninterrupted one bit for bit.</para>
/// <para>The loader is immutable and thread-safe; several epochs may be enumerated at once.</para></summary>
public sealed class BatchLoader
{
    // Domain separators, so the shuffle and augmentation streams never coincide for any (epoch, position).
    private const ulong ShuffleStream = 0x53485546464C4531; // "SHUFFLE1"
    private const ulong AugmentStream = 0x4155474D454E5431; // "AUGMENT1"

    private readonly int _imageFloats;
    private readonly Stack<float[]> _freeBuffers = new();

    /// <summary>Creates a loader.</summary>
    /// <param name="dataset">The images; at least one.</param>
    /// <param name="batchSize">Images per batch.</param>
    /// <param name="shuffle">Whether each epoch visits the images in a fresh random order (else dataset order).</param>
    /// <param name="seed">Seed of shuffling and augmentation.</param>
    /// <param name="normalization">Pixel normalisation; null means <see cref="Data.Normalization.Identity"/>.</param>
    /// <param name="augmentation">Augmentation; null means <see cref="Data.Augmentation.None"/>.</param>
    /// <param name="dropLast">Whether to leave out a last batch smaller than <paramref name="batchSize"/>.</param>
    /// <param name="prefetch">How many batches the background thread may prepare ahead, 1..64.</param>
    /// <exception cref="ArgumentException">An argument is out of range, the normalisation does not fit the
    /// channel count, or <paramref name="dropLast"/> would leave no batch at all.</exception>
    public BatchLoader(ImageDataset dataset, int batchSize, bool shuffle = true, long seed = 0,
        Normalization? normalization = null, Augmentation? augmentation = null, bool dropLast = false, int prefetch = 2)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfZero(dataset.Count, nameof(dataset));
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefetch, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefetch, 64);
        if ((long)batchSize * dataset.ImageSize > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "a batch this large does not fit in one array");
        if (dropLast && batchSize > dataset.Count)
            throw new ArgumentException(
                $"batch size {batchSize} exceeds the {dataset.Count} images of {dataset.Name}, so dropLast would leave no batch",
                nameof(dropLast));
        normalization ??= Normalization.Identity;
        normalization.CheckFits(dataset.Channels);

        Dataset = dataset;
        BatchSize = batchSize;
        Shuffle = shuffle;
        Seed = seed;
        Normalization = normalization;
        Augmentation = augmentation ?? Augmentation.None;
        DropLast = dropLast;
        Prefetch = prefetch;
        _imageFloats = dataset.ImageSize;
    }

    /// <summary>The images.</summary>
    public ImageDataset Dataset { get; }

    /// <summary>Images per batch (the last batch of an epoch may have fewer unless <see cref="DropLast"/>).</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch has its own random order.</summary>
    public bool Shuffle { get; }

    /// <summary>Seed of shuffling and augmentation.</summary>
    public long Seed { get; }

    /// <summary>Pixel normalisation.</summary>
    public Normalization Normalization { get; }

    /// <summary>Augmentation.</summary>
    public Augmentation Augmentation { get; }

    /// <summary>Whether a last, smaller batch is left out.</summary>
    public bool DropLast { get; }

    /// <summary>How many batches are prepared ahead of the consumer.</summary>
    public int Prefetch { get; }

    /// <summary>Images per epoch: all of them, or the whole batches' worth with <see cref="DropLast"/>.</summary>
    public int SamplesPerEpoch => DropLast ? Dataset.Count / BatchSize * BatchSize : Dataset.Count;

    /// <summary>Batches per epoch.</summary>
    public int BatchesPerEpoch => (SamplesPerEpoch + BatchSize - 1) / BatchSize;

    /// <summary>The dataset indices in the order epoch <paramref name="epoch"/> visits them (all of them,
    /// including any that <see cref="DropLast"/> leaves out at the end).</summary>
    public int[] EpochOrder(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        var order = new int[Dataset.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (Shuffle) Xoshiro256StarStar.FromKeys((ulong)Seed, ShuffleStream, (ulong)epoch).Shuffle(order);
        return order;
    }

    /// <summary>The batches of epoch <paramref name="epoch"/>, prepared on a background thread at most
    /// <see cref="Prefetch"/> ahead. The thread starts at the first <c>MoveNext</c> and stops when the
    /// enumerator is disposed, also early (<c>foreach</c> with <c>break</c> does this); an enumerator that
    /// is abandoned without disposal leaves it blocked. An exception while preparing a batch is rethrown
    /// to the consumer after the batches before it.</summary>
    /// <param name="epoch">The epoch, from 0.</param>
    /// <param name="cancellationToken">Stops the enumeration with <see cref="OperationCanceledException"/>.</param>
    public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancellationToken = default)
    {
        // Checked here, not inside the iterator, so a bad argument fails at the call.
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        return Produce(epoch, cancellationToken);
    }

    private IEnumerable<Batch> Produce(int epoch, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var ready = new BlockingCollection<Batch>(Prefetch);
        ExceptionDispatchInfo? failure = null;

        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                int[] order = EpochOrder(epoch);
                for (int b = 0; b < BatchesPerEpoch; b++)
                {
                    stop.Token.ThrowIfCancellationRequested();
                    var batch = CreateBatch(epoch, b, order);
                    try
                    {
                        ready.Add(batch, stop.Token);
                    }
                    catch
                    {
                        batch.Dispose();
                        throw;
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The consumer stopped or was cancelled; it reports that itself.
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                ready.CompleteAdding();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        try
        {
            // The caller's token, not the linked one, so an OperationCanceledException names the caller's token.
            foreach (var batch in ready.GetConsumingEnumerable(cancellationToken))
                yield return batch;
            // A producer that saw the cancellation first ends the collection empty: still a cancellation.
            cancellationToken.ThrowIfCancellationRequested();
            producer.Wait(CancellationToken.None);
            failure?.Throw();
        }
        finally
        {
            // Stop the producer and wait for it, so nothing touches the collection once it is disposed.
            stop.Cancel();
            producer.Wait(CancellationToken.None);
            while (ready.TryTake(out var unused)) unused.Dispose();
        }
    }

    /// <summary>Builds batch <paramref name="index"/> of <paramref name="epoch"/> from the epoch's order.</summary>
    private Batch CreateBatch(int epoch, int index, int[] order)
    {
        int start = index * BatchSize;
        int count = Math.Min(BatchSize, SamplesPerEpoch - start);
        float[] images = count == BatchSize ? RentFullBuffer() : new float[count * _imageFloats];
        var labels = new long[count];
        var indices = order.AsSpan(start, count).ToArray();
        int planeSize = Dataset.Height * Dataset.Width;
        for (int i = 0; i < count; i++)
        {
            int sample = indices[i];
            labels[i] = Dataset.Labels[sample];
            var source = Dataset.GetImage(sample);
            var destination = images.AsSpan(i * _imageFloats, _imageFloats);
            if (Augmentation.IsIdentity)
            {
                Normalization.Apply(source, Dataset.Channels, planeSize, destination);
            }
            else
            {
                var random = Xoshiro256StarStar.FromKeys((ulong)Seed, AugmentStream, (ulong)epoch, (ulong)(start + i));
                Augmentation.Apply(source, Dataset.Channels, Dataset.Height, Dataset.Width, Normalization, ref random, destination);
            }
        }
        return new Batch(this, epoch, index, Dataset.Channels, Dataset.Height, Dataset.Width, images, labels, indices);
    }

    /// <summary>Takes back a disposed batch's buffer if it is full-size and the pool is not full.</summary>
    internal void Return(float[] buffer)
    {
        if (buffer.Length != BatchSize * _imageFloats) return;
        lock (_freeBuffers)
        {
            // Prefetched batches plus the one being built plus the consumer's: more would never be reused.
            if (_freeBuffers.Count < Prefetch + 2) _freeBuffers.Push(buffer);
        }
    }

    private float[] RentFullBuffer()
    {
        lock (_freeBuffers)
        {
            if (_freeBuffers.TryPop(out var buffer)) return buffer;
        }
        return new float[BatchSize * _imageFloats];
    }
}
