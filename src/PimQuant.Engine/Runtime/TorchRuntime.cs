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

    /// <summary>Whether libtorch currently refuses nondeterministic algorithms.</summary>
    public static bool DeterministicAlgorithmsEnabled => LibTorchContext.AreDeterministicAlgorithmsEnabled();

    /// <summary>The libtorch version string, which also proves the native library loaded.</summary>
    public static string LibTorchVersion() => torch.__version__;
}
