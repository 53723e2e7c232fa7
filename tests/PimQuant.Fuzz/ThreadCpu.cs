using System.Runtime.InteropServices;

namespace PimQuant.Fuzz;

/// <summary>CPU time of the calling thread (Linux <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>); .NET exposes only per-process totals cheaply.</summary>
public static partial class ThreadCpu
{
    private const int ClockThreadCpuTimeId = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out Timespec time);

    /// <summary>Seconds of CPU the calling thread has used.</summary>
    /// <exception cref="InvalidOperationException">The clock cannot be read (not Linux).</exception>
    public static double Seconds() =>
        ClockGetTime(ClockThreadCpuTimeId, out var t) == 0 ? t.Seconds + t.Nanoseconds * 1e-9
            : throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed; the fuzzer runs on Linux");
}
