using PimQuant.Hardware.Presets;

namespace PimQuant.Hardware.Spec;

/// <summary>
/// Loads a hardware spec: parse the YAML → check shape and unknown fields (<see cref="SpecReader"/>)
/// → convert, range-check and cross-check (<see cref="SpecBuilder"/>) → immutable
/// <see cref="HardwareSpec"/>. The only file access of PimQuant.Hardware.
/// </summary>
public static class HardwareSpecLoader
{
    /// <summary>
    /// A preset by name (<c>isaac</c>, see <see cref="PresetCatalog"/>) or a YAML file by path.
    /// A name that is neither is an error listing the presets.
    /// </summary>
    public static HardwareSpec Load(string presetOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(presetOrPath);
        if (PresetCatalog.Contains(presetOrPath)) return PresetCatalog.Load(presetOrPath);
        if (File.Exists(presetOrPath)) return LoadFile(presetOrPath);
        throw HardwareSpecException.OfFile(presetOrPath,
            $"neither a preset ({string.Join(", ", PresetCatalog.Names)}) nor an existing file");
    }

    /// <summary>Reads and validates the YAML file at <paramref name="path"/>; errors name the path as given.</summary>
    public static HardwareSpec LoadFile(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Validates YAML text; <paramref name="origin"/> names it in errors and becomes <see cref="HardwareSpec.Origin"/>.</summary>
    public static HardwareSpec Parse(string yaml, string origin) => SpecBuilder.Build(SpecReader.Read(yaml, origin), origin);
}
