using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace PimQuant.Hardware.Spec;

/// <summary>
/// YAML text → <see cref="SpecDto"/>: checks the shape (mappings, lists, single values) and
/// rejects unknown fields, so a typo is never silently ignored. Values stay text; the builder
/// converts and range-checks them.
/// </summary>
internal sealed partial class SpecReader
{
    private readonly string _file;

    private SpecReader(string file) => _file = file;

    internal static readonly string[] RootFields =
        ["version", "name", "description", "source", "technology_nm", "clock_ghz", "arrays", "cell", "dac", "adc",
         "encoding", "mapping", "defaults", "organisation", "component_basis", "components", "non_idealities"];
    internal static readonly string[] ArrayFields = ["name", "rows", "cols", "ou_rows", "ou_cols", "tiles"];
    internal static readonly string[] CellFields = ["bits"];
    internal static readonly string[] DacFields = ["bits"];
    internal static readonly string[] AdcFields = ["bits", "step", "calibration"];
    internal static readonly string[] EncodingFields = ["weights", "column_flip", "reference_column"];
    internal static readonly string[] DefaultsFields = ["weight_bits", "activation_bits"];
    internal static readonly string[] OrganisationFields = ["imas_per_tile", "arrays_per_ima", "adcs_per_ima", "adc_rate_gsps", "settle_ns", "pipeline", "replication", "ou_overlap"];
    internal static readonly string[] ComponentBasisFields = ["rows", "cols", "arrays_per_ima", "adcs_per_ima", "adc_bits", "adc_rate_gsps"];
    internal static readonly string[] ComponentFields =
        ["name", "level", "count", "detail", "power_mw", "area_mm2", "shared_by", "leakage_mw", "scales_with", "events", "source"];
    internal static readonly string[] EventFields = ["event", "energy_pj", "energy_pj_by_bits", "bits"];
    internal static readonly string[] NonIdealityFields = ["variation", "on_off_ratio", "saf", "read_noise", "seed"];
    internal static readonly string[] VariationFields = ["kind", "sigma", "sigma_per_level"];
    internal static readonly string[] SafFields = ["sa0", "sa1"];

    /// <summary>Parses <paramref name="yaml"/>; <paramref name="file"/> names it in every error.</summary>
    public static SpecDto Read(string yaml, string file) => new SpecReader(file).ReadRoot(yaml);

    private SpecDto ReadRoot(string yaml)
    {
        var stream = new YamlStream();
        var parser = new TrackingParser(new Parser(new StringReader(yaml)));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException e)
        {
            throw HardwareSpecException.Syntax(_file, e.Start.Line, e.Start.Column, CleanMessage(e));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet's scanner fails this way on some unterminated flow collections, and its
            // node loader on event sequences it does not expect (found by fuzzing); the problem
            // starts after the last event it parsed.
            throw HardwareSpecException.Syntax(_file, parser.LastEnd.Line, parser.LastEnd.Column,
                "malformed YAML after this point (an unclosed [ or { ?)");
        }
        if (stream.Documents.Count == 0)
            throw HardwareSpecException.OfFile(_file, "empty; a hardware spec is a YAML mapping starting with 'version: 1'");
        if (stream.Documents.Count > 1)
            throw HardwareSpecException.OfFile(_file, $"holds {stream.Documents.Count} YAML documents; a hardware spec is exactly one");
        var root = stream.Documents[0].RootNode;
        if (root is not YamlMappingNode)
            throw HardwareSpecException.OfFile(_file, $"is a YAML {Kind(root)}, not a mapping; a hardware spec is a mapping starting with 'version: 1'");

        // The version decides what the rest may hold, so it is checked before anything else.
        var versionNode = ((YamlMappingNode)root).Children
            .FirstOrDefault(kv => kv.Key is YamlScalarNode { Value: "version" }).Value;
        SpecBuilder.CheckVersion(versionNode is null ? null : Value(versionNode, "version"), _file);

        var dto = new SpecDto();
        foreach (var (key, node, path) in Fields(root, "", RootFields))
        {
            switch (key)
            {
                case "version": dto.Version = Value(node, path); break;
                case "name": dto.Name = Value(node, path); break;
                case "description": dto.Description = Value(node, path); break;
                case "source": dto.Source = Value(node, path); break;
                case "technology_nm": dto.TechnologyNm = Value(node, path); break;
                case "clock_ghz": dto.ClockGhz = Value(node, path); break;
                case "mapping": dto.Mapping = Value(node, path); break;
                case "arrays": dto.Arrays = List(node, path, ReadArray); break;
                case "cell":
                    dto.Cell = new CellDto { Path = path };
                    foreach (var (k, n, p) in Fields(node, path, CellFields)) dto.Cell.Bits = Value(n, p);
                    break;
                case "dac":
                    dto.Dac = new DacDto { Path = path };
                    foreach (var (k, n, p) in Fields(node, path, DacFields)) dto.Dac.Bits = Value(n, p);
                    break;
                case "adc": dto.Adc = ReadAdc(node, path); break;
                case "encoding": dto.Encoding = ReadEncoding(node, path); break;
                case "defaults": dto.Defaults = ReadDefaults(node, path); break;
                case "organisation": dto.Organisation = ReadOrganisation(node, path); break;
                case "component_basis": dto.ComponentBasis = ReadComponentBasis(node, path); break;
                case "components": dto.Components = List(node, path, ReadComponent); break;
                case "non_idealities": dto.NonIdealities = ReadNonIdealities(node, path); break;
            }
        }
        return dto;
    }

    private ArrayDto ReadArray(YamlNode node, string path)
    {
        var a = new ArrayDto { Path = path };
        foreach (var (key, n, p) in Fields(node, path, ArrayFields))
        {
            var v = Value(n, p);
            switch (key)
            {
                case "name": a.Name = v; break;
                case "rows": a.Rows = v; break;
                case "cols": a.Cols = v; break;
                case "ou_rows": a.OuRows = v; break;
                case "ou_cols": a.OuCols = v; break;
                case "tiles": a.Tiles = v; break;
            }
        }
        return a;
    }

    private AdcDto ReadAdc(YamlNode node, string path)
    {
        var a = new AdcDto { Path = path };
        foreach (var (key, n, p) in Fields(node, path, AdcFields))
        {
            var v = Value(n, p);
            switch (key)
            {
                case "bits": a.Bits = v; break;
                case "step": a.Step = v; break;
                case "calibration": a.Calibration = v; break;
            }
        }
        return a;
    }

    private EncodingDto ReadEncoding(YamlNode node, string path)
    {
        var e = new EncodingDto { Path = path };
        foreach (var (key, n, p) in Fields(node, path, EncodingFields))
        {
            if (key == "weights") e.Weights = Value(n, p);
            else if (key == "column_flip") e.ColumnFlip = Value(n, p);
            else e.ReferenceColumn = Value(n, p);
        }
        return e;
    }

    private DefaultsDto ReadDefaults(YamlNode node, string path)
    {
        var d = new DefaultsDto { Path = path };
        foreach (var (key, n, p) in Fields(node, path, DefaultsFields))
        {
            if (key == "weight_bits") d.WeightBits = Value(n, p);
            else d.ActivationBits = Value(n, p);
        }
        return d;
    }

    private OrganisationDto ReadOrganisation(YamlNode node, string path)
    {
        var o = new OrganisationDto { Path = path };
        foreach (var (key, n, p) in Fields(node, path, OrganisationFields))
        {
            var v = Value(n, p);
            switch (key)
            {
                case "imas_per_tile": o.ImasPerTile = v; break;
                case "arrays_per_ima": o.ArraysPerIma = v; break;
                case "adcs_per_ima": o.AdcsPerIma = v; break;
                case "adc_rate_gsps": o.AdcRateGsps = v; break;
                case "settle_ns": o.SettleNs = v; break;
                case "pipeline": o.Pipeline = v; break;
                case "replication": o.Replication = v; break;
                case "ou_overlap": o.OuOverlap = v; break;
            }
        }
        return o;
    }

    private ComponentBasisDto ReadComponentBasis(YamlNode node, string path)
    {
        var b = new ComponentBasisDto { Path = path };
        foreach (var (key, n, p) in Fields(node, path, ComponentBasisFields))
        {
            var v = Value(n, p);
            switch (key)
            {
                case "rows": b.Rows = v; break;
                case "cols": b.Cols = v; break;
                case "arrays_per_ima": b.ArraysPerIma = v; break;
                case "adcs_per_ima": b.AdcsPerIma = v; break;
                case "adc_bits": b.AdcBits = v; break;
                case "adc_rate_gsps": b.AdcRateGsps = v; break;
            }
        }
        return b;
    }

    private ComponentDto ReadComponent(YamlNode node, string path)
    {
        var c = new ComponentDto { Path = path };
        foreach (var (key, n, p) in Fields(node, path, ComponentFields))
        {
            if (key == "events")
            {
                c.Events = List(n, p, ReadEvent);
                continue;
            }
            var v = Value(n, p);
            switch (key)
            {
                case "name": c.Name = v; break;
                case "level": c.Level = v; break;
                case "count": c.Count = v; break;
                case "detail": c.Detail = v; break;
                case "power_mw": c.PowerMw = v; break;
                case "area_mm2": c.AreaMm2 = v; break;
                case "shared_by": c.SharedBy = v; break;
                case "leakage_mw": c.LeakageMw = v; break;
                case "scales_with": c.ScalesWith = v; break;
                case "source": c.Source = v; break;
            }
        }
        return c;
    }

    private EventDto ReadEvent(YamlNode node, string path)
    {
        var e = new EventDto { Path = path };
        foreach (var (key, n, p) in Fields(node, path, EventFields))
        {
            switch (key)
            {
                case "event": e.Event = Value(n, p); break;
                case "energy_pj": e.EnergyPj = Value(n, p); break;
                case "bits": e.Bits = Value(n, p); break;
                case "energy_pj_by_bits":
                    if (n is not YamlMappingNode map)
                        throw HardwareSpecException.Invalid(_file, p, Show(n), "must be a mapping from ADC bits to pJ, e.g. {4: 0.79, 8: 1.67}");
                    var entries = new List<(Scalar, Scalar)>();
                    foreach (var (k, v) in map.Children)
                    {
                        string keyText = k is YamlScalarNode ks ? ks.Value ?? "" : Show(k);
                        string entryPath = $"{p}.{keyText}";
                        entries.Add((new Scalar(keyText, entryPath), Value(v, entryPath) ?? throw HardwareSpecException.Missing(_file, entryPath, "must be an energy in pJ")));
                    }
                    e.EnergyPjByBits = new EnergyByBitsDto { Path = p, Entries = entries };
                    break;
            }
        }
        return e;
    }

    private NonIdealityDto ReadNonIdealities(YamlNode node, string path)
    {
        var d = new NonIdealityDto { Path = path };
        foreach (var (key, n, p) in Fields(node, path, NonIdealityFields))
        {
            switch (key)
            {
                case "on_off_ratio": d.OnOffRatio = Value(n, p); break;
                case "read_noise": d.ReadNoise = Value(n, p); break;
                case "seed": d.Seed = Value(n, p); break;
                case "saf":
                    d.Saf = new SafDto { Path = p };
                    foreach (var (k, sn, sp) in Fields(n, p, SafFields))
                        if (k == "sa0") d.Saf.Sa0 = Value(sn, sp); else d.Saf.Sa1 = Value(sn, sp);
                    break;
                case "variation":
                    d.Variation = new VariationDto { Path = p };
                    foreach (var (k, vn, vp) in Fields(n, p, VariationFields))
                    {
                        switch (k)
                        {
                            case "kind": d.Variation.Kind = Value(vn, vp); break;
                            case "sigma": d.Variation.Sigma = Value(vn, vp); break;
                            case "sigma_per_level":
                                d.Variation.SigmaPerLevel = List(vn, vp, (ln, lp) => Value(ln, lp) ?? throw HardwareSpecException.Missing(_file, lp, "must be a sigma"));
                                break;
                        }
                    }
                    break;
            }
        }
        return d;
    }

    /// <summary>The fields of a mapping node, in order; throws on a non-mapping or an unknown field.</summary>
    private IEnumerable<(string Key, YamlNode Node, string Path)> Fields(YamlNode node, string path, string[] allowed)
    {
        if (node is not YamlMappingNode map)
            throw HardwareSpecException.Invalid(_file, path, Show(node), $"must be a mapping with fields {string.Join(", ", allowed)}");
        var result = new List<(string, YamlNode, string)>(map.Children.Count);
        foreach (var (k, v) in map.Children)
        {
            string key = k is YamlScalarNode s ? s.Value ?? "" : Show(k);
            string child = path.Length == 0 ? key : $"{path}.{key}";
            if (Array.IndexOf(allowed, key) < 0)
                throw HardwareSpecException.Invalid(_file, child, Show(v),
                    $"unknown field; {(path.Length == 0 ? "the top level" : $"'{path}'")} allows {string.Join(", ", allowed)}");
            result.Add((key, v, child));
        }
        return result;
    }

    private ListDto<T> List<T>(YamlNode node, string path, Func<YamlNode, string, T> item)
    {
        if (node is not YamlSequenceNode seq)
            throw HardwareSpecException.Invalid(_file, path, Show(node), "must be a list (YAML '- ' items)");
        var items = new List<T>(seq.Children.Count);
        for (int i = 0; i < seq.Children.Count; i++) items.Add(item(seq.Children[i], $"{path}[{i}]"));
        return new ListDto<T>(path, items);
    }

    /// <summary>A single value, or null for an explicit YAML null (<c>~</c>, <c>null</c>, nothing).</summary>
    private Scalar? Value(YamlNode node, string path)
    {
        if (node is not YamlScalarNode s)
            throw HardwareSpecException.Invalid(_file, path, Show(node), $"must be a single value, not a {Kind(node)}");
        string text = s.Value ?? "";
        if (s.Style == ScalarStyle.Plain && (text.Length == 0 || text == "~" || text.Equals("null", StringComparison.OrdinalIgnoreCase)))
            return null;
        return new Scalar(text, path);
    }

    /// <summary>Remembers where the last parsed event ended, to place errors YamlDotNet reports without a position.</summary>
    private sealed class TrackingParser(IParser inner) : IParser
    {
        public Mark LastEnd { get; private set; } = Mark.Empty;

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            bool moved = inner.MoveNext();
            if (inner.Current is { } current) LastEnd = current.End;
            return moved;
        }
    }

    private static string Kind(YamlNode node) => node switch
    {
        YamlMappingNode => "mapping",
        YamlSequenceNode => "list",
        _ => "single value",
    };

    /// <summary>A short rendering of a node for messages.</summary>
    internal static string Show(YamlNode node) => node switch
    {
        YamlScalarNode s => string.IsNullOrEmpty(s.Value) ? "(empty)" : s.Value!,
        YamlSequenceNode q => "[" + string.Join(", ", q.Children.Take(4).Select(Show)) + (q.Children.Count > 4 ? ", ..." : "") + "]",
        YamlMappingNode m => "{" + string.Join(", ", m.Children.Take(3).Select(kv => $"{Show(kv.Key)}: {Show(kv.Value)}")) + (m.Children.Count > 3 ? ", ..." : "") + "}",
        _ => node.ToString(),
    };

    private static string CleanMessage(YamlException e)
    {
        string message = LocationPrefix().Replace(e.Message, "").Trim();
        if (e.InnerException is YamlException inner && message.Length == 0) message = CleanMessage(inner);
        return message.Length == 0 ? "malformed YAML" : message;
    }

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\):\s*")]
    private static partial Regex LocationPrefix();
}
