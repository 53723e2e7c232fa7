using System.Globalization;
using PimQuant.Quant.Formats;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Observers;
using PimQuant.Quant.Quantizers;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PimQuant.Quant.Config;

/// <summary>
/// Reads a quantization configuration from YAML (format version 1, see docs/quantization.md):
/// <code>
/// version: 1
/// default:   {weight: {...}, activation: {...}}
/// op_types:  {Conv: {...}, Gemm: {...}}
/// layers:    {conv1: {skip: true}, conv3: {weight: {bits: 4}}}
/// </code>
/// Every key and value is checked on load; a problem is reported as
/// "FILE: PATH: value is not allowed (what is) (line N)".
/// </summary>
public static class QuantConfigLoader
{
    /// <summary>Reads and validates the configuration in file <paramref name="path"/>.</summary>
    /// <exception cref="QuantConfigException">The file cannot be read or holds an invalid configuration.</exception>
    public static QuantConfig LoadFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QuantConfigException($"{path}: cannot read the file: {e.Message}");
        }
        return Parse(text, Path.GetFileName(path), Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    /// <summary>Parses and validates a configuration; <paramref name="source"/> starts every message.</summary>
    /// <param name="yaml">The configuration text.</param>
    /// <param name="source">How messages name the configuration.</param>
    /// <param name="directory">Where relative file names in the configuration (a precision map's <c>bits_file</c>) are found; null: the current directory.</param>
    /// <exception cref="QuantConfigException">The text is not valid YAML or not a valid configuration.</exception>
    public static QuantConfig Parse(string yaml, string source = "quantization config", string? directory = null)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlException e)
        {
            throw new QuantConfigException($"{source}: line {e.Start.Line}, column {e.Start.Column}: not valid YAML: {e.Message}");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new QuantConfigException($"{source}: not valid YAML: {e.Message}");
        }
        return new Reader(source, directory).Read(stream);
    }

    private sealed class Reader(string source, string? directory)
    {
        private QuantConfigException Fail(YamlNode node, string path, string problem) =>
            new($"{source}: {path}: {problem} (line {node.Start.Line})");

        public QuantConfig Read(YamlStream stream)
        {
            if (stream.Documents.Count != 1)
                throw new QuantConfigException($"{source}: expected one YAML document, found {stream.Documents.Count}");
            if (stream.Documents[0].RootNode is not YamlMappingNode root)
                throw new QuantConfigException($"{source}: the top level must be a mapping with version, default, op_types and layers");
            var entries = Entries(root, "", ["version", "default", "op_types", "layers"]);
            if (!entries.TryGetValue("version", out var version))
                throw new QuantConfigException($"{source}: 'version: {QuantConfig.Version}' is missing at the top level");
            int v = Int(version, "version");
            if (v != QuantConfig.Version) throw Fail(version, "version", $"{v} is not allowed (this PimQuant reads version {QuantConfig.Version})");

            var defaults = entries.TryGetValue("default", out var d) ? Rule(d, "default", SettingLevel.Default) : null;
            var opTypes = new Dictionary<string, RuleSettings>(StringComparer.Ordinal);
            if (entries.TryGetValue("op_types", out var ops))
                foreach (var (key, value) in Entries(ops, "op_types", null))
                {
                    if (!QuantConfig.QuantizableOperators.Contains(key))
                        throw Fail(value, $"op_types.{key}", $"'{key}' is not allowed ({string.Join(", ", QuantConfig.QuantizableOperators)})");
                    opTypes[key] = Rule(value, $"op_types.{key}", SettingLevel.OpType);
                }
            var layers = new Dictionary<string, RuleSettings>(StringComparer.Ordinal);
            if (entries.TryGetValue("layers", out var ls))
                foreach (var (key, value) in Entries(ls, "layers", null))
                    layers[key] = Rule(value, $"layers.{key}", SettingLevel.Layer);
            return new QuantConfig(source, defaults, opTypes, layers);
        }

        /// <summary>The entries of a mapping node; keys outside <paramref name="allowed"/> (when given) are refused.</summary>
        private Dictionary<string, YamlNode> Entries(YamlNode node, string path, string[]? allowed)
        {
            if (node is YamlScalarNode { Value: null or "" or "~" or "null" }) return new(StringComparer.Ordinal);
            if (node is not YamlMappingNode mapping)
                throw Fail(node, path.Length == 0 ? "(top level)" : path, $"expected a mapping{(allowed is null ? "" : $" with keys {string.Join(", ", allowed)}")}");
            var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach (var (keyNode, value) in mapping.Children)
            {
                string key = (keyNode as YamlScalarNode)?.Value ?? throw Fail(keyNode, path, "keys must be plain names");
                string at = path.Length == 0 ? key : $"{path}.{key}";
                if (allowed is not null && !allowed.Contains(key))
                    throw Fail(keyNode, at, $"unknown key '{key}' (allowed: {string.Join(", ", allowed)})");
                if (!result.TryAdd(key, value)) throw Fail(keyNode, at, "the key appears twice");
            }
            return result;
        }

        private RuleSettings Rule(YamlNode node, string path, SettingLevel level)
        {
            var entries = Entries(node, path, ["skip", "weight", "activation"]);
            return new RuleSettings(path, level,
                entries.TryGetValue("skip", out var skip) ? new Setting<bool>(Bool(skip, $"{path}.skip"), $"{path}.skip", level) : null,
                entries.TryGetValue("weight", out var w) ? Quantizer(w, $"{path}.weight", level, QuantizerRole.Weight) : null,
                entries.TryGetValue("activation", out var a) ? Quantizer(a, $"{path}.activation", level, QuantizerRole.Activation) : null);
        }

        private static readonly string[] QuantizerKeys =
        [
            "format", "bits", "signed", "narrow_range", "affine", "terms", "exponent_bits", "mantissa_bits", "bias",
            "granularity", "observer", "scale", "rounding", "learn", "precision",
        ];

        private QuantizerSettings Quantizer(YamlNode node, string path, SettingLevel level, QuantizerRole role)
        {
            Setting<T> S<T>(T value, string key) => new(value, $"{path}.{key}", level);
            if (node is YamlScalarNode { Value: "none" })
                return new QuantizerSettings { Path = path, Level = level, Enabled = S(false, "enabled") };
            var e = Entries(node, path, QuantizerKeys);
            string P(string key) => $"{path}.{key}";
            return new QuantizerSettings
            {
                Path = path,
                Level = level,
                Enabled = S(true, "enabled"),
                Format = e.TryGetValue("format", out var f) ? S(Choice(f, P("format"), FormatKinds), "format") : null,
                Bits = e.TryGetValue("bits", out var b) ? S(Ranged(b, P("bits"), IntegerFormat.MinBits, IntegerFormat.MaxBits), "bits") : null,
                Signed = e.TryGetValue("signed", out var s) ? S(Sign(s, P("signed"), role), "signed") : null,
                NarrowRange = e.TryGetValue("narrow_range", out var n) ? S(Bool(n, P("narrow_range")), "narrow_range") : null,
                Affine = e.TryGetValue("affine", out var af) ? S(Bool(af, P("affine")), "affine") : null,
                Terms = e.TryGetValue("terms", out var t) ? S(Ranged(t, P("terms"), 1, 16), "terms") : null,
                ExponentBits = e.TryGetValue("exponent_bits", out var eb) ? S(Ranged(eb, P("exponent_bits"), 1, 8), "exponent_bits") : null,
                MantissaBits = e.TryGetValue("mantissa_bits", out var mb) ? S(Ranged(mb, P("mantissa_bits"), 0, 10), "mantissa_bits") : null,
                Bias = e.TryGetValue("bias", out var bias) ? S(Ranged(bias, P("bias"), -64, 192), "bias") : null,
                Granularity = e.TryGetValue("granularity", out var g) ? S(Granularity(g, P("granularity")), "granularity") : null,
                Observer = e.TryGetValue("observer", out var o) ? S(Observer(o, P("observer")), "observer") : null,
                Scale = e.TryGetValue("scale", out var sc) ? S(Scale(sc, P("scale")), "scale") : null,
                Rounding = e.TryGetValue("rounding", out var r) ? S(Choice(r, P("rounding"), Roundings), "rounding") : null,
                Learn = e.TryGetValue("learn", out var l) ? S(Choice(l, P("learn"), Learnings), "learn") : null,
                Precision = e.TryGetValue("precision", out var pr) ? S(Precision(pr, P("precision"), level, role), "precision") : null,
            };
        }

        /// <summary>
        /// <c>precision: {granularity: G, bits: [b0, b1, ...]}</c> or <c>{granularity: G, bits_file: FILE}</c>
        /// (integers separated by white space or commas, <c>#</c> comments), a layer's weight only.
        /// </summary>
        private PrecisionSetting Precision(YamlNode node, string path, SettingLevel level, QuantizerRole role)
        {
            if (role != QuantizerRole.Weight) throw Fail(node, path, "a per-group precision applies to weights only");
            if (level != SettingLevel.Layer)
                throw Fail(node, path, "a precision map belongs to one layer (its group count is the layer's): set it under layers.NAME.weight");
            var e = Entries(node, path, ["granularity", "bits", "bits_file"]);
            var granularity = e.TryGetValue("granularity", out var g) ? Granularity(g, $"{path}.granularity") : null;
            if (granularity is ScaleGranularity.DynamicGroup) throw Fail(g!, $"{path}.granularity", "dynamic groups apply to activations only (tensor, channel, array, ou)");
            bool hasBits = e.TryGetValue("bits", out var bitsNode), hasFile = e.TryGetValue("bits_file", out var fileNode);
            if (hasBits == hasFile) throw Fail(node, path, "give exactly one of bits (a list, one per group) and bits_file (a file of integers)");
            List<(string Text, string Where, YamlNode At)> values = [];
            if (hasBits)
            {
                if (bitsNode is not YamlSequenceNode sequence) throw Fail(bitsNode!, $"{path}.bits", "expected a list of integers, one per group");
                for (int i = 0; i < sequence.Children.Count; i++)
                    values.Add((Text(sequence.Children[i], $"{path}.bits[{i}]"), $"{path}.bits[{i}]", sequence.Children[i]));
            }
            else
            {
                string file = Text(fileNode!, $"{path}.bits_file");
                string full = Path.Combine(directory ?? Directory.GetCurrentDirectory(), file);
                string text;
                try { text = File.ReadAllText(full); }
                catch (Exception x) when (x is IOException or UnauthorizedAccessException)
                {
                    throw Fail(fileNode!, $"{path}.bits_file", $"{file}: cannot read the file: {x.Message}");
                }
                var tokens = string.Join('\n', text.Split('\n').Select(line => line.Split('#')[0]))
                    .Split([' ', '\t', '\r', '\n', ','], StringSplitOptions.RemoveEmptyEntries);
                for (int i = 0; i < tokens.Length; i++) values.Add((tokens[i], $"{path}.bits_file: {file}: value {i + 1}", fileNode!));
            }
            if (values.Count == 0) throw Fail(node, path, "the precision map has no groups");
            var bits = new int[values.Count];
            for (int i = 0; i < values.Count; i++)
            {
                var (text, at, yamlNode) = values[i];
                if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out bits[i]))
                    throw Fail(yamlNode, at, $"'{text}' is not an integer");
                if (bits[i] is < 0 or > WeightPrecision.MaxBits)
                    throw Fail(yamlNode, at, $"{bits[i]} is not allowed (0 for a pruned group, else 1..{WeightPrecision.MaxBits})");
            }
            return new PrecisionSetting(granularity, bits);
        }

        private static readonly Dictionary<string, FormatKind> FormatKinds = new(StringComparer.Ordinal)
        {
            ["int"] = FormatKind.Integer, ["pot"] = FormatKind.PowerOfTwo, ["apot"] = FormatKind.AdditivePowerOfTwo, ["float"] = FormatKind.Float,
        };

        private static readonly Dictionary<string, RoundingMode> Roundings = new(StringComparer.Ordinal)
        {
            ["nearest"] = RoundingMode.Nearest, ["stochastic"] = RoundingMode.Stochastic, ["learned"] = RoundingMode.Learned,
        };

        private static readonly Dictionary<string, LearningMode> Learnings = new(StringComparer.Ordinal)
        {
            ["none"] = LearningMode.None, ["lsq"] = LearningMode.Lsq, ["pact"] = LearningMode.Pact,
        };

        private ScaleGranularity Granularity(YamlNode node, string path)
        {
            if (node is YamlScalarNode scalar)
                return scalar.Value switch
                {
                    "tensor" => ScaleGranularity.Tensor,
                    "channel" => ScaleGranularity.Channel,
                    "array" or "ou" => throw Fail(node, path, $"'{scalar.Value}' needs its tile size: {{kind: {scalar.Value}, rows: R, cols: C}}"),
                    "dynamic" => throw Fail(node, path, "'dynamic' needs its group size: {kind: dynamic, group_size: G}"),
                    _ => throw Fail(node, path, $"'{scalar.Value}' is not allowed (tensor, channel, {{kind: array|ou, rows, cols}}, {{kind: dynamic, group_size}})"),
                };
            var e = Entries(node, path, ["kind", "rows", "cols", "group_size"]);
            if (!e.TryGetValue("kind", out var kindNode)) throw Fail(node, path, "'kind' is missing (tensor, channel, array, ou, dynamic)");
            string kind = Text(kindNode, $"{path}.kind");
            string[] expected = kind switch
            {
                "tensor" or "channel" => [],
                "array" or "ou" => ["rows", "cols"],
                "dynamic" => ["group_size"],
                _ => throw Fail(kindNode, $"{path}.kind", $"'{kind}' is not allowed (tensor, channel, array, ou, dynamic)"),
            };
            foreach (var key in e.Keys.Where(k => k != "kind" && !expected.Contains(k)))
                throw Fail(e[key], $"{path}.{key}", $"does not apply to granularity {kind}");
            foreach (var key in expected.Where(k => !e.ContainsKey(k)))
                throw Fail(node, $"{path}.{key}", $"is missing (granularity {kind} needs {string.Join(" and ", expected)})");
            int Size(string key) => Ranged(e[key], $"{path}.{key}", 1, 1 << 20);
            return kind switch
            {
                "tensor" => ScaleGranularity.Tensor,
                "channel" => ScaleGranularity.Channel,
                "array" => new ScaleGranularity.PerArray(Size("rows"), Size("cols")),
                "ou" => new ScaleGranularity.PerOuBlock(Size("rows"), Size("cols")),
                _ => new ScaleGranularity.DynamicGroup(Size("group_size")),
            };
        }

        private ObserverSpec Observer(YamlNode node, string path)
        {
            string kind;
            Dictionary<string, YamlNode> e;
            if (node is YamlScalarNode scalar)
            {
                kind = scalar.Value ?? "";
                e = new(StringComparer.Ordinal);
            }
            else
            {
                e = Entries(node, path, ["kind", "momentum", "percentile", "candidates"]);
                if (!e.TryGetValue("kind", out var k)) throw Fail(node, path, "'kind' is missing (minmax, moving_average, percentile, mse)");
                kind = Text(k, $"{path}.kind");
            }
            string? parameter = kind switch
            {
                "minmax" => null,
                "moving_average" => "momentum",
                "percentile" => "percentile",
                "mse" => "candidates",
                _ => throw Fail(node, path, $"'{kind}' is not allowed (minmax, moving_average, percentile, mse)"),
            };
            foreach (var key in e.Keys.Where(k => k != "kind" && k != parameter))
                throw Fail(e[key], $"{path}.{key}", $"does not apply to observer {kind}");
            ObserverSpec spec = kind switch
            {
                "minmax" => ObserverSpec.MinMaxObserver,
                "moving_average" => new ObserverSpec.MovingAverage(e.TryGetValue("momentum", out var m) ? Double(m, $"{path}.momentum") : 0.01),
                "percentile" => new ObserverSpec.Percentile(e.TryGetValue("percentile", out var p) ? Double(p, $"{path}.percentile") : 99.99),
                _ => new ObserverSpec.Mse(e.TryGetValue("candidates", out var c) ? Int(c, $"{path}.candidates") : 100),
            };
            foreach (var (field, problem) in spec.Problems())
                throw Fail(e.GetValueOrDefault(field) ?? node, $"{path}.{field}", problem);
            return spec;
        }

        private ScaleRestriction Scale(YamlNode node, string path)
        {
            if (node is YamlScalarNode scalar)
                return scalar.Value switch
                {
                    "float" => ScaleRestriction.Float,
                    "power_of_two" => new ScaleRestriction.PowerOfTwo(),
                    _ => throw Fail(node, path, $"'{scalar.Value}' is not allowed (float, power_of_two, {{restriction: power_of_two, rounding: ceil|nearest}})"),
                };
            var e = Entries(node, path, ["restriction", "rounding"]);
            string restriction = e.TryGetValue("restriction", out var r) ? Text(r, $"{path}.restriction") : throw Fail(node, path, "'restriction' is missing (float, power_of_two)");
            if (restriction == "float")
            {
                if (e.TryGetValue("rounding", out var extra)) throw Fail(extra, $"{path}.rounding", "applies to power_of_two only");
                return ScaleRestriction.Float;
            }
            if (restriction != "power_of_two") throw Fail(r, $"{path}.restriction", $"'{restriction}' is not allowed (float, power_of_two)");
            string rounding = e.TryGetValue("rounding", out var ro) ? Text(ro, $"{path}.rounding") : "ceil";
            return rounding switch
            {
                "ceil" => new ScaleRestriction.PowerOfTwo(RoundUp: true),
                "nearest" => new ScaleRestriction.PowerOfTwo(RoundUp: false),
                _ => throw Fail(ro!, $"{path}.rounding", $"'{rounding}' is not allowed (ceil, nearest)"),
            };
        }

        private bool? Sign(YamlNode node, string path, QuantizerRole role)
        {
            string text = Text(node, path);
            return text switch
            {
                "true" => true,
                "false" => false,
                "auto" when role == QuantizerRole.Activation => null,
                _ => throw Fail(node, path, $"'{text}' is not allowed ({(role == QuantizerRole.Activation ? "true, false, auto" : "true, false")})"),
            };
        }

        private T Choice<T>(YamlNode node, string path, Dictionary<string, T> choices)
        {
            string text = Text(node, path);
            return choices.TryGetValue(text, out var value) ? value : throw Fail(node, path, $"'{text}' is not allowed ({string.Join(", ", choices.Keys)})");
        }

        private string Text(YamlNode node, string path) =>
            node is YamlScalarNode { Value: { } value } ? value : throw Fail(node, path, "expected a single value");

        private bool Bool(YamlNode node, string path) => Text(node, path) switch
        {
            "true" => true,
            "false" => false,
            var other => throw Fail(node, path, $"'{other}' is not allowed (true, false)"),
        };

        private int Int(YamlNode node, string path)
        {
            string text = Text(node, path);
            return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) ? v : throw Fail(node, path, $"'{text}' is not an integer");
        }

        private int Ranged(YamlNode node, string path, int min, int max)
        {
            int v = Int(node, path);
            return v >= min && v <= max ? v : throw Fail(node, path, $"{v} is not allowed ({min}..{max})");
        }

        private double Double(YamlNode node, string path)
        {
            string text = Text(node, path);
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v : throw Fail(node, path, $"'{text}' is not a number");
        }
    }
}
