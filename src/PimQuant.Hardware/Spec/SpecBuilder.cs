using System.Globalization;

namespace PimQuant.Hardware.Spec;

/// <summary>
/// <see cref="SpecDto"/> → validated <see cref="HardwareSpec"/>: converts every value, checks its
/// range, fills documented defaults and checks fields against each other. Every failure is a
/// <see cref="HardwareSpecException"/> naming the file, the field, the value and what is allowed.
/// </summary>
internal sealed class SpecBuilder
{
    private const int MaxArrayDim = 4096;
    private readonly string _file;

    private SpecBuilder(string file) => _file = file;

    /// <summary>Builds the spec read from <paramref name="file"/>.</summary>
    public static HardwareSpec Build(SpecDto dto, string file) => new SpecBuilder(file).BuildSpec(dto);

    /// <summary>Checks the version first, before any other field is looked at (a newer schema may have fields this one does not know).</summary>
    public static void CheckVersion(Scalar? version, string file)
    {
        const string allowed = "this PimQuant reads hardware spec version 1";
        if (version is null) throw HardwareSpecException.Missing(file, "version", "must be 1; " + allowed);
        if (!long.TryParse(version.Text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v))
            throw HardwareSpecException.Invalid(file, "version", version.Text, "must be the integer 1; " + allowed);
        if (v != HardwareSpec.CurrentVersion)
            throw HardwareSpecException.Invalid(file, "version", version.Text, "unsupported version; " + allowed);
    }

    private HardwareSpec BuildSpec(SpecDto d)
    {
        CheckVersion(d.Version, _file);
        string name = Text(d.Name, "name");
        string source = Text(d.Source, "source");
        string description = d.Description?.Text ?? "";
        double? tech = d.TechnologyNm is null ? null : Number(d.TechnologyNm, 0, 1000, exclusiveMin: true);
        double? clock = d.ClockGhz is null ? null : Number(d.ClockGhz, 0, 100, exclusiveMin: true);

        var organisation = d.Organisation is null ? null : BuildOrganisation(d.Organisation);
        var arrays = BuildArrays(d.Arrays, organisation is not null);
        var cell = new CellSpec(Integer(Need(d.Cell?.Bits, Join(d.Cell?.Path ?? "cell", "bits"), "must be an integer from 1 to 8"), 1, 8));
        var dac = new DacSpec(Integer(Need(d.Dac?.Bits, Join(d.Dac?.Path ?? "dac", "bits"), "must be an integer from 1 to 8"), 1, 8));
        var adc = BuildAdc(d.Adc);
        var encoding = BuildEncoding(d.Encoding);
        string mapping = d.Mapping is null ? MappingNames.Dense : OneOf(d.Mapping, MappingNames.All);
        var defaults = BuildDefaults(d.Defaults);
        var basis = d.ComponentBasis is null ? null : BuildComponentBasis(d.ComponentBasis);
        var components = BuildComponents(d.Components, basis);
        if (components.Count > 0 && basis is null)
            throw HardwareSpecException.Missing(_file, "component_basis",
                "must give the design the component table was published for (rows, cols, arrays_per_ima, adcs_per_ima, adc_bits, adc_rate_gsps): every geometry and ADC scales from it");
        // The precision-aware mapping's controller reads a per-block precision table before every OU-read round of a block
        // (docs/hardware.md §4): a priced spec must say what that costs rather than have it counted free.
        if (mapping == MappingNames.PrecisionAware && components.Count > 0 && components.All(c => c.Events.All(e => e.Event != EventKind.IndexRead)))
            throw HardwareSpecException.Missing(_file, "components[].events",
                "mapping 'precision_aware' reads a per-block precision table before each OU-read round of a block; a component must price 'index_read' (energy_pj per bits read)");
        var nonIdeal = BuildNonIdealities(d.NonIdealities, cell);

        return new HardwareSpec(HardwareSpec.CurrentVersion, name, description, source, _file, tech, clock,
            arrays, cell, dac, adc, encoding, mapping, defaults, organisation, basis, components, nonIdeal);
    }

    private IReadOnlyList<ArrayGeometry> BuildArrays(ListDto<ArrayDto>? list, bool needTiles)
    {
        const string allowed = "must be a list of array geometries (name, rows, cols, ou_rows, ou_cols, tiles)";
        if (list is null) throw HardwareSpecException.Missing(_file, "arrays", allowed);
        if (list.Items.Count == 0) throw HardwareSpecException.Invalid(_file, "arrays", "[]", allowed + ", at least one");
        var result = new List<ArrayGeometry>();
        foreach (var a in list.Items)
        {
            string name = Text(a.Name, Join(a.Path, "name"));
            if (result.Any(r => r.Name == name))
                throw HardwareSpecException.Invalid(_file, Join(a.Path, "name"), name, "must be unique among arrays");
            string dims = $"must be an integer from 1 to {MaxArrayDim}";
            int rows = Integer(Need(a.Rows, Join(a.Path, "rows"), dims), 1, MaxArrayDim);
            int cols = Integer(Need(a.Cols, Join(a.Path, "cols"), dims), 1, MaxArrayDim);
            int ouRows = a.OuRows is null ? rows : Integer(a.OuRows, 1, rows, $"must be an integer from 1 to rows = {rows}");
            int ouCols = a.OuCols is null ? cols : Integer(a.OuCols, 1, cols, $"must be an integer from 1 to cols = {cols}");
            int? tiles = a.Tiles is null ? null : Integer(a.Tiles, 1, 1_000_000);
            if (tiles is null && needTiles)
                throw HardwareSpecException.Missing(_file, Join(a.Path, "tiles"), "must be an integer from 1 to 1000000 (the tiles built from this geometry) when 'organisation' is given");
            result.Add(new ArrayGeometry(name, rows, cols, ouRows, ouCols, tiles));
        }
        return result.AsReadOnly();
    }

    private AdcSpec BuildAdc(AdcDto? a)
    {
        string path = a?.Path ?? "adc";
        var bitsScalar = Need(a?.Bits, Join(path, "bits"), "must be an integer from 0 to 16, or ideal");
        int bits = bitsScalar.Text.Equals("ideal", StringComparison.OrdinalIgnoreCase)
            ? 0
            : Integer(bitsScalar, 0, 16, "must be an integer from 0 to 16, or ideal");
        var step = a!.Step is null ? AdcStepMode.Unit : Enum<AdcStepMode>(a.Step, ["unit", "full_range", "calibrated"]);
        if (bits == 0 && a.Step is not null && step != AdcStepMode.Unit)
            throw HardwareSpecException.Invalid(_file, a.Step.Path, a.Step.Text, "an ideal ADC (bits 0) has no step: remove the field or give adc.bits");
        AdcCalibration? calibration = null;
        if (step == AdcStepMode.Calibrated)
            calibration = Enum<AdcCalibration>(Need(a.Calibration, Join(path, "calibration"), "must be layer or array when step is calibrated"), ["layer", "array"]);
        else if (a.Calibration is not null)
            throw HardwareSpecException.Invalid(_file, a.Calibration.Path, a.Calibration.Text, "only allowed with step: calibrated");
        return new AdcSpec(bits, step, calibration);
    }

    private EncodingSpec BuildEncoding(EncodingDto? e)
    {
        string path = e?.Path ?? "encoding";
        var weights = Enum<WeightEncoding>(Need(e?.Weights, Join(path, "weights"), "must be offset or differential"), ["offset", "differential"]);
        bool flip = e!.ColumnFlip is not null && Bool(e.ColumnFlip);
        bool reference = e.ReferenceColumn is not null && Bool(e.ReferenceColumn);
        return new EncodingSpec(weights, flip, reference);
    }

    private PrecisionDefaults BuildDefaults(DefaultsDto? d)
    {
        if (d is null) return new PrecisionDefaults(8, 8);
        int w = d.WeightBits is null ? 8 : Integer(d.WeightBits, 2, 16, "must be an integer from 2 to 16 (signed, sign included)");
        int a = d.ActivationBits is null ? 8 : Integer(d.ActivationBits, 1, 16);
        return new PrecisionDefaults(w, a);
    }

    private OrganisationSpec BuildOrganisation(OrganisationDto o)
    {
        int imas = Integer(Need(o.ImasPerTile, Join(o.Path, "imas_per_tile"), "must be an integer from 1 to 1024"), 1, 1024);
        int arrays = Integer(Need(o.ArraysPerIma, Join(o.Path, "arrays_per_ima"), "must be an integer from 1 to 1024"), 1, 1024);
        int adcs = Integer(Need(o.AdcsPerIma, Join(o.Path, "adcs_per_ima"), "must be an integer from 1 to 65536"), 1, 65536);
        double rate = Number(Need(o.AdcRateGsps, Join(o.Path, "adc_rate_gsps"), "must be a number greater than 0 (conversions per second of one ADC, GS/s)"), 0, 1e6, exclusiveMin: true);
        double settle = Number(Need(o.SettleNs, Join(o.Path, "settle_ns"), "must be a number from 0 (analog settle time of one read, ns)"), 0, 1e9);
        var pipeline = o.Pipeline is null ? PipelineMode.Layer : Enum<PipelineMode>(o.Pipeline, ["layer", "none"]);
        var replication = o.Replication is null ? ReplicationMode.Balanced : Enum<ReplicationMode>(o.Replication, ["balanced", "none"]);
        bool overlap = o.OuOverlap is not null && Bool(o.OuOverlap);
        return new OrganisationSpec(imas, arrays, adcs, rate, settle, pipeline, replication, overlap);
    }

    private ComponentBasis BuildComponentBasis(ComponentBasisDto b)
    {
        string dims = $"must be an integer from 1 to {MaxArrayDim}";
        int rows = Integer(Need(b.Rows, Join(b.Path, "rows"), dims), 1, MaxArrayDim);
        int cols = Integer(Need(b.Cols, Join(b.Path, "cols"), dims), 1, MaxArrayDim);
        int arrays = Integer(Need(b.ArraysPerIma, Join(b.Path, "arrays_per_ima"), "must be an integer from 1 to 1024"), 1, 1024);
        int adcs = Integer(Need(b.AdcsPerIma, Join(b.Path, "adcs_per_ima"), "must be an integer from 1 to 65536"), 1, 65536);
        int bits = Integer(Need(b.AdcBits, Join(b.Path, "adc_bits"), "must be an integer from 1 to 16"), 1, 16);
        double rate = Number(Need(b.AdcRateGsps, Join(b.Path, "adc_rate_gsps"), "must be a number greater than 0 (GS/s)"), 0, 1e6, exclusiveMin: true);
        return new ComponentBasis(rows, cols, arrays, adcs, bits, rate);
    }

    private static readonly string[] EventNames =
        ["ou_read", "cell_read", "dac_drive", "adc_conversion", "shift_add", "digit_sum", "buffer_read", "buffer_write", "router_transfer", "digit_selection", "index_read"];

    private static bool IsBitEvent(EventKind e) => e is EventKind.BufferRead or EventKind.BufferWrite or EventKind.RouterTransfer or EventKind.IndexRead;

    private IReadOnlyList<ComponentSpec> BuildComponents(ListDto<ComponentDto>? list, ComponentBasis? basis)
    {
        if (list is null) return [];
        var result = new List<ComponentSpec>();
        foreach (var c in list.Items)
        {
            string name = Text(c.Name, Join(c.Path, "name"));
            if (result.Any(r => r.Name == name))
                throw HardwareSpecException.Invalid(_file, Join(c.Path, "name"), name, "must be unique among components");
            var level = Enum<ComponentLevel>(Need(c.Level, Join(c.Path, "level"), "must be one of chip, tile, ima"), ["chip", "tile", "ima"]);
            double count = c.Count is null ? 1 : Number(c.Count, 0, 1e12, exclusiveMin: true);
            double power = Number(Need(c.PowerMw, Join(c.Path, "power_mw"), "must be a number from 0 (mW, the row's total)"), 0, 1e9);
            double area = Number(Need(c.AreaMm2, Join(c.Path, "area_mm2"), "must be a number from 0 (mm², the row's total)"), 0, 1e6);
            double shared = c.SharedBy is null ? 1 : Number(c.SharedBy, 1, 1e6);
            double leakage = c.LeakageMw is null ? 0 : Number(c.LeakageMw, 0, 1e9);
            var scales = c.ScalesWith is null ? ScaleBasis.None : Enum<ScaleBasis>(c.ScalesWith, ["none", "cells", "rows", "cols", "adcs"]);

            var events = new List<ComponentEvent>();
            foreach (var e in c.Events?.Items ?? [])
            {
                var kind = Enum<EventKind>(Need(e.Event, Join(e.Path, "event"), "must be one of " + string.Join(", ", EventNames)), EventNames);
                if (events.Any(x => x.Event == kind))
                    throw HardwareSpecException.Invalid(_file, e.Event!.Path, e.Event.Text, "listed twice for this component");
                int bits = 1;
                if (IsBitEvent(kind))
                    bits = Integer(Need(e.Bits, Join(e.Path, "bits"), $"must be an integer from 1 to 65536 (the bits one priced {e.Event!.Text} moves)"), 1, 65536);
                else if (e.Bits is not null)
                    throw HardwareSpecException.Invalid(_file, e.Bits.Path, e.Bits.Text, "only allowed for buffer_read, buffer_write, router_transfer and index_read");
                double? energy = null;
                Dictionary<int, double>? byBits = null;
                if (e.EnergyPjByBits is not null)
                {
                    if (kind != EventKind.AdcConversion)
                        throw HardwareSpecException.Invalid(_file, e.EnergyPjByBits.Path, "{...}", "only allowed for adc_conversion; give energy_pj");
                    if (e.EnergyPj is not null)
                        throw HardwareSpecException.Invalid(_file, e.EnergyPj.Path, e.EnergyPj.Text, "give either energy_pj or energy_pj_by_bits, not both");
                    byBits = [];
                    foreach (var (k, v) in e.EnergyPjByBits.Entries)
                    {
                        int b = Integer(k, 1, 16, "must be an ADC resolution from 1 to 16 bits");
                        if (!byBits.TryAdd(b, Number(v, 0, 1e9)))
                            throw HardwareSpecException.Invalid(_file, k.Path, k.Text, "listed twice");
                    }
                    if (byBits.Count == 0)
                        throw HardwareSpecException.Invalid(_file, e.EnergyPjByBits.Path, "{}", "must map at least one ADC resolution to pJ");
                }
                else
                {
                    energy = Number(Need(e.EnergyPj, Join(e.Path, "energy_pj"), "must be a number from 0 (pJ per event)"), 0, 1e9);
                }
                events.Add(new ComponentEvent(kind, energy, byBits?.AsReadOnly(), bits));
            }

            if (basis is not null && level == ComponentLevel.Ima && c.Count is not null)
            {
                if (events.Any(e => e.EnergyPjByBits is not null) && count != basis.AdcsPerIma)
                    throw HardwareSpecException.Invalid(_file, c.Count.Path, c.Count.Text,
                        $"must equal component_basis.adcs_per_ima = {basis.AdcsPerIma} (this component prices adc_conversion by resolution)");
                if (events.Any(e => e.Event == EventKind.CellRead) && count != basis.ArraysPerIma)
                    throw HardwareSpecException.Invalid(_file, c.Count.Path, c.Count.Text,
                        $"must equal component_basis.arrays_per_ima = {basis.ArraysPerIma} (this component prices cell_read)");
            }
            result.Add(new ComponentSpec(name, level, count, c.Detail?.Text, power, area, shared, leakage, scales, events.AsReadOnly(), c.Source?.Text));
        }
        return result.AsReadOnly();
    }

    private NonIdealitySpec BuildNonIdealities(NonIdealityDto? d, CellSpec cell)
    {
        var variation = new VariationSpec(VariationKind.Gaussian, 0, null);
        if (d?.Variation is { } v)
        {
            var kind = v.Kind is null ? VariationKind.Gaussian : Enum<VariationKind>(v.Kind, ["gaussian", "lognormal"]);
            double sigma = v.Sigma is null ? 0 : Number(v.Sigma, 0, 10);
            double[]? perLevel = null;
            if (v.SigmaPerLevel is { } list)
            {
                if (list.Items.Count != cell.Levels)
                    throw HardwareSpecException.Invalid(_file, list.Path, "[" + string.Join(", ", list.Items.Select(s => s.Text)) + "]",
                        $"must list one sigma per cell level: {cell.Levels} values for cell.bits = {cell.Bits}");
                perLevel = list.Items.Select(s => Number(s, 0, 10)).ToArray();
            }
            variation = new VariationSpec(kind, sigma, perLevel?.AsReadOnly());
        }
        double? onOff = null;
        if (d?.OnOffRatio is { } r && !IsInfinite(r.Text))
            onOff = Number(r, 1, 1e12, exclusiveMin: true, allowed: "must be a number greater than 1, or ideal (infinite)");
        double sa0 = 0, sa1 = 0;
        if (d?.Saf is { } saf)
        {
            sa0 = saf.Sa0 is null ? 0 : Number(saf.Sa0, 0, 1);
            sa1 = saf.Sa1 is null ? 0 : Number(saf.Sa1, 0, 1);
            if (sa0 + sa1 > 1)
                throw HardwareSpecException.Invalid(_file, saf.Sa1!.Path, saf.Sa1.Text, $"sa0 + sa1 must be at most 1 (sa0 = {sa0.ToString(CultureInfo.InvariantCulture)})");
        }
        double noise = d?.ReadNoise is null ? 0 : Number(d.ReadNoise, 0, 1e6);
        long seed = 0;
        if (d?.Seed is { } s && !long.TryParse(s.Text, NumberStyles.Integer, CultureInfo.InvariantCulture, out seed))
            throw HardwareSpecException.Invalid(_file, s.Path, s.Text, "must be an integer");
        return new NonIdealitySpec(variation, onOff, new StuckAtFaults(sa0, sa1), noise, seed);
    }

    private static bool IsInfinite(string text) =>
        text.Equals("ideal", StringComparison.OrdinalIgnoreCase) || text.Equals("inf", StringComparison.OrdinalIgnoreCase)
        || text.Equals(".inf", StringComparison.OrdinalIgnoreCase) || text.Equals("infinity", StringComparison.OrdinalIgnoreCase);

    // ---- scalar conversions: each names the field, the value and what is allowed ----

    private Scalar Need(Scalar? s, string path, string allowed) => s ?? throw HardwareSpecException.Missing(_file, path, allowed);

    private string Text(Scalar? s, string path)
    {
        var value = Need(s, path, "must be a non-empty text");
        if (string.IsNullOrWhiteSpace(value.Text)) throw HardwareSpecException.Invalid(_file, path, "(empty)", "must be a non-empty text");
        return value.Text.Trim();
    }

    private int Integer(Scalar s, int min, int max, string? allowed = null)
    {
        allowed ??= $"must be an integer from {min} to {max}";
        if (!long.TryParse(s.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) || v < min || v > max)
            throw HardwareSpecException.Invalid(_file, s.Path, s.Text, allowed);
        return (int)v;
    }

    private double Number(Scalar s, double min, double max, bool exclusiveMin = false, string? allowed = null)
    {
        allowed ??= exclusiveMin ? $"must be a number greater than {Fmt(min)}" + (max < 1e6 ? $" and at most {Fmt(max)}" : "")
                                 : $"must be a number from {Fmt(min)}" + (max < 1e6 ? $" to {Fmt(max)}" : "");
        if (!double.TryParse(s.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            || !double.IsFinite(v) || v > max || (exclusiveMin ? v <= min : v < min))
            throw HardwareSpecException.Invalid(_file, s.Path, s.Text, allowed);
        return v;
    }

    private bool Bool(Scalar s)
    {
        if (s.Text.Equals("true", StringComparison.OrdinalIgnoreCase)) return true;
        if (s.Text.Equals("false", StringComparison.OrdinalIgnoreCase)) return false;
        throw HardwareSpecException.Invalid(_file, s.Path, s.Text, "must be true or false");
    }

    private string OneOf(Scalar s, IReadOnlyList<string> names)
    {
        foreach (var n in names)
            if (n == s.Text) return n;
        throw HardwareSpecException.Invalid(_file, s.Path, s.Text, "must be one of " + string.Join(", ", names));
    }

    /// <summary>Parses one of <paramref name="names"/> (snake_case, in the enum's order) into <typeparamref name="T"/>.</summary>
    private T Enum<T>(Scalar s, string[] names) where T : struct, System.Enum
    {
        var values = System.Enum.GetValues<T>();
        for (int i = 0; i < names.Length; i++)
            if (names[i] == s.Text) return values[i];
        throw HardwareSpecException.Invalid(_file, s.Path, s.Text, "must be one of " + string.Join(", ", names));
    }

    private static string Join(string path, string field) => path.Length == 0 ? field : $"{path}.{field}";

    private static string Fmt(double v) => v.ToString(CultureInfo.InvariantCulture);
}
