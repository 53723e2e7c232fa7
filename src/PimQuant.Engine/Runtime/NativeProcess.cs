using System.Runtime.InteropServices;

namespace PimQuant.Engine.Runtime;

/// <summary>
/// The two process-wide settings of the C runtime beneath libtorch that decide its CPU speed on a
/// shared machine; applied by <see cref="TorchRuntime.Apply"/>. Linux (glibc) only; elsewhere nothing.
/// </summary>
internal static partial class NativeProcess
{
    private const int MallocTrimThreshold = -1, MallocMmapMax = -4;

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);

    /// <summary>
    /// OpenMP threads that wait passively. libgomp's default spins at every barrier; when another process
    /// holds a core, the spinning thread takes the time slice its partner needs, and a 2-thread resnet20
    /// forward pass ran 5× slower than at 1 thread. libgomp reads the variable once, when libtorch is
    /// loaded, so this must come before the first torch call; a value the user set is kept.
    /// </summary>
    public static void PreferPassiveOpenMpThreads()
    {
        if (OperatingSystem.IsLinux()) SetEnv("OMP_WAIT_POLICY", "PASSIVE", overwrite: 0);
    }

    /// <summary>
    /// Keeps freed memory for reuse instead of returning it to the system. libtorch allocates every
    /// activation with malloc; glibc serves large blocks with fresh mmaps (and trims its heap), so each
    /// batch page-faulted its activations in again: 490,000 faults and 15 % more CPU time over 40 resnet20
    /// batches, against 60,000 with the memory kept. Peak resident memory is unchanged; it is just not
    /// returned until the process ends.
    /// </summary>
    public static void KeepFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return;
        MallOpt(MallocMmapMax, 0);
        MallOpt(MallocTrimThreshold, int.MaxValue);
    }
}
