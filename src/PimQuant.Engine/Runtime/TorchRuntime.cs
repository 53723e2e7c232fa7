using TorchSharp;

namespace PimQuant.Engine.Runtime;

/// <summary>
/// Applies <see cref="EngineOptions"/> to libtorch. libtorch's thread pool, generator and
/// determinism flag are process-wide by nature; this is the single place that sets them.
/// </summary>
public static class TorchRuntime
{
    /// <summary>
    /// Loads libtorch (if not yet loaded) and applies the options. Called before anything else touches
    /// torch, it also makes libtorch's OpenMP threads wait passively (see <see cref="NativeProcess"/>).
    /// </summary>
    public static void Apply(EngineOptions options)
    {
        NativeProcess.PreferPassiveOpenMpThreads();
        NativeProcess.KeepFreedMemory();
        torch.set_num_threads(options.Threads);
        LibTorchContext.UseDeterministicAlgorithms(options.Deterministic);
        torch.manual_seed(options.Seed);
    }

    /// <summary>
    /// Frees the native objects TorchSharp releases only from finalizers; batch loops call it between batches.
    /// Dispose scopes free tensors, but not the native scalars every operator with a number argument allocates
    /// (<c>x * 0.5</c>, <c>clamp(lo, hi)</c>): those wait for a garbage collection, which a loop that allocates
    /// little managed memory rarely triggers. Thousands of them per quantized batch, left between the
    /// activation-sized blocks in the C heap, kept glibc from reusing freed blocks: `pimq quantize`'s quantized
    /// evaluation grew to 2.9 GB resident, against 0.75–1.25 GB when the loop collects each batch
    /// (docs/performance.md, Memory). It costs FP32 evaluation about 5 %, which does not need it but shares the loop.
    /// </summary>
    public static void ReleaseFinalizedNativeObjects()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    /// <summary>Whether libtorch currently refuses nondeterministic algorithms.</summary>
    public static bool DeterministicAlgorithmsEnabled => LibTorchContext.AreDeterministicAlgorithmsEnabled();

    /// <summary>The libtorch version string, which also proves the native library loaded.</summary>
    public static string LibTorchVersion() => torch.__version__;
}
