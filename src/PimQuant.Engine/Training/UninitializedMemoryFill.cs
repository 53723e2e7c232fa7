using System.Runtime.InteropServices;

namespace PimQuant.Engine.Training;

/// <summary>
/// libtorch's fill of every new tensor's memory with NaN while deterministic algorithms are on
/// (<c>torch.utils.deterministic.fill_uninitialized_memory</c>, process-wide, on by default). It is a
/// debugging aid: it changes only what a kernel that reads memory it never wrote would see, never the result
/// of one that does not, so runs stay bit-identical without it. In training it is pure overhead: each
/// activation, gradient and convolution output allocated empty is written twice, and on 2 threads each fill
/// is one more OpenMP parallel region that wakes the sleeping worker thread (122 of the 541 regions of a
/// resnet20 step at batch 128). <see cref="Suspend"/> turns it off for a scope; nested and concurrent scopes
/// nest, and the last one to end restores the setting found by the first.
/// </summary>
public static partial class UninitializedMemoryFill
{
    private const string Library = "torch_cpu";
    private static readonly Lock Gate = new();
    private static int _suspensions;
    private static bool _before;

    [LibraryImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport(Library, EntryPoint = "_ZN2at7Context39setDeterministicFillUninitializedMemoryEb")]
    private static partial void SetFill(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport(Library, EntryPoint = "_ZNK2at7Context36deterministicFillUninitializedMemoryEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool GetFill(IntPtr context);

    /// <summary>Whether libtorch currently fills new tensors (it does so only while deterministic algorithms are on).</summary>
    public static bool Enabled => GetFill(GlobalContext());

    /// <summary>Turns the fill off until the returned scope is disposed.</summary>
    public static IDisposable Suspend()
    {
        lock (Gate)
        {
            if (_suspensions++ == 0)
            {
                _before = Enabled;
                SetFill(GlobalContext(), false);
            }
        }
        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            lock (Gate)
            {
                if (_disposed) return;
                _disposed = true;
                if (--_suspensions == 0) SetFill(GlobalContext(), _before);
            }
        }
    }
}
