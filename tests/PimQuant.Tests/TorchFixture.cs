using PimQuant.Engine.Runtime;

namespace PimQuant.Tests;

/// <summary>
/// libtorch settings are process-wide; every test that touches torch runs with the same ones
/// (2 threads, deterministic algorithms), applied once before the first such test.
/// </summary>
public static class Torch
{
    private static readonly Lazy<bool> Applied = new(() =>
    {
        TorchRuntime.Apply(new EngineOptions(threads: 2, seed: 0));
        return true;
    });

    /// <summary>Makes sure libtorch is loaded and configured.</summary>
    public static void Ensure() => _ = Applied.Value;
}

/// <summary>Tests that measure the whole process (memory) and must not share it with other tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedCollection
{
    public const string Name = "isolated";
}
