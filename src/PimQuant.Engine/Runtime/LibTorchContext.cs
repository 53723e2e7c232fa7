using System.Runtime.InteropServices;

namespace PimQuant.Engine.Runtime;

/// <summary>
/// Direct calls into libtorch's global <c>at::Context</c> for what TorchSharp 0.107 declares but
/// does not implement (<c>torch.use_deterministic_algorithms</c> throws "not implemented").
/// The entry points are libtorch's exported C++ symbols (Itanium ABI: <c>this</c> first).
/// </summary>
internal static partial class LibTorchContext
{
    private const string Library = "torch_cpu";

    [LibraryImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport(Library, EntryPoint = "_ZN2at7Context26setDeterministicAlgorithmsEbb")]
    private static partial void SetDeterministicAlgorithms(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled, [MarshalAs(UnmanagedType.U1)] bool warnOnly);

    [LibraryImport(Library, EntryPoint = "_ZNK2at7Context23deterministicAlgorithmsEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool DeterministicAlgorithms(IntPtr context);

    /// <summary>Equivalent of <c>torch.use_deterministic_algorithms(enabled)</c>.</summary>
    public static void UseDeterministicAlgorithms(bool enabled) => SetDeterministicAlgorithms(GlobalContext(), enabled, false);

    /// <summary>Equivalent of <c>torch.are_deterministic_algorithms_enabled()</c>.</summary>
    public static bool AreDeterministicAlgorithmsEnabled() => DeterministicAlgorithms(GlobalContext());
}
