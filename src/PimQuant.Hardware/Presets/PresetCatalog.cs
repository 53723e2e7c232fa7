using System.Reflection;
using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Presets;

/// <summary>A shipped preset: its name (part of the interface) and one-line description.</summary>
public sealed record PresetInfo(string Name, string Description);

/// <summary>
/// The shipped accelerator presets, embedded as <c>PimQuant.Hardware.Presets.NAME.yaml</c>. Each
/// YAML states its sources in <c>source:</c> and per component; docs/hardware.md summarises them.
/// </summary>
public static class PresetCatalog
{
    private const string Prefix = "PimQuant.Hardware.Presets.";

    /// <summary>The preset names, in the order the docs list them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["isaac", "isaac-ou", "bwq-h", "neurosim-rram"];

    /// <summary>True when <paramref name="name"/> is a preset.</summary>
    public static bool Contains(string name) => Names.Contains(name);

    /// <summary>Every preset with its description.</summary>
    public static IReadOnlyList<PresetInfo> List() => Names.Select(n => new PresetInfo(n, Load(n).Description)).ToArray();

    /// <summary>The preset's YAML text, exactly as shipped.</summary>
    public static string ReadYaml(string name)
    {
        if (!Contains(name))
            throw new ArgumentException($"no preset '{name}'; presets: {string.Join(", ", Names)}", nameof(name));
        using var stream = typeof(PresetCatalog).Assembly.GetManifestResourceStream(Prefix + name + ".yaml")
            ?? throw new InvalidOperationException($"preset '{name}' is not embedded in {typeof(PresetCatalog).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The validated preset; its <see cref="HardwareSpec.Origin"/> is <c>NAME (preset)</c>.</summary>
    public static HardwareSpec Load(string name) => HardwareSpecLoader.Parse(ReadYaml(name), $"{name} (preset)");

    /// <summary>Names of the resources embedded under the preset prefix (for the test that every file is listed).</summary>
    internal static IEnumerable<string> EmbeddedNames() =>
        Assembly.GetAssembly(typeof(PresetCatalog))!.GetManifestResourceNames()
            .Where(r => r.StartsWith(Prefix, StringComparison.Ordinal) && r.EndsWith(".yaml", StringComparison.Ordinal))
            .Select(r => r[Prefix.Length..^".yaml".Length]);
}
