using System.Globalization;

namespace PimQuant.Hardware.Spec;

/// <summary>
/// A hardware specification that cannot be used: a YAML syntax error, an unknown, missing or
/// mistyped field, a value out of range, or two fields that contradict each other. The message
/// is one line: <c>FILE: field 'adc.bits' = 40: must be an integer from 0 to 16</c>.
/// </summary>
public sealed class HardwareSpecException : Exception
{
    private HardwareSpecException(string message, string file, string? field, string? value) : base(message)
    {
        File = file;
        Field = field;
        Value = value;
    }

    /// <summary>The file (or <c>NAME (preset)</c>) the specification came from.</summary>
    public string File { get; }

    /// <summary>The YAML path of the offending field (<c>components[3].power_mw</c>), or null for a syntax error.</summary>
    public string? Field { get; }

    /// <summary>The offending value as written, or null when the field is missing.</summary>
    public string? Value { get; }

    /// <summary><c>FILE: field 'PATH' = VALUE: ALLOWED</c>.</summary>
    public static HardwareSpecException Invalid(string file, string field, string value, string allowed) =>
        new($"{file}: field '{field}' = {value}: {allowed}", file, field, value);

    /// <summary><c>FILE: field 'PATH' is missing: ALLOWED</c>.</summary>
    public static HardwareSpecException Missing(string file, string field, string allowed) =>
        new($"{file}: field '{field}' is missing: {allowed}", file, field, null);

    /// <summary><c>FILE: YAML syntax error at line L, column C: PROBLEM</c>.</summary>
    public static HardwareSpecException Syntax(string file, long line, long column, string problem) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{file}: YAML syntax error at line {line}, column {column}: {problem}"), file, null, null);

    /// <summary>A problem with the whole file (empty, not found) rather than one field.</summary>
    public static HardwareSpecException OfFile(string file, string problem) => new($"{file}: {problem}", file, null, null);
}
