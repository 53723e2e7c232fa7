using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using Spectre.Console;

namespace PimQuant.Cli.Commands;

/// <summary><c>pimq hw</c>: the accelerator presets — list them, show a preset or a spec file resolved and validated.</summary>
public static class HwCommand
{
    private static readonly JsonSerializerOptions SpecJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static Command Create() => new("hw", "Crossbar accelerator specs: list the presets, show one resolved") { List(), Show() };

    private static Command List()
    {
        var json = CommonOptions.Json();
        var command = new Command("list", CommonOptions.Help("List the hardware presets with one-line descriptions",
            "pimq hw list", "pimq hw list --json")) { json };
        command.SetAction(parse => CommandRunner.Run(parse, json, null, null, (output, _) =>
        {
            var presets = PresetCatalog.List();
            var table = new Table().AddColumns("preset", "description");
            foreach (var p in presets) table.AddRow(p.Name, Markup.Escape(p.Description));
            output.Err.Write(table);
            output.Result(new JsonObject
            {
                ["ok"] = true,
                ["presets"] = new JsonArray(presets.Select(p => (JsonNode)new JsonObject { ["name"] = p.Name, ["description"] = p.Description }).ToArray()),
            }, [.. presets.Select(p => p.Name)]);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Show()
    {
        var json = CommonOptions.Json();
        var spec = new Argument<string>("spec") { Description = $"A preset ({string.Join(", ", PresetCatalog.Names)}) or a hardware spec YAML file" };
        var wbits = CommonOptions.OptionalInteger("--wbits", "Weight bits of the peak figures (default: the spec's defaults.weight_bits)", 2, 16);
        var abits = CommonOptions.OptionalInteger("--abits", "Activation bits of the peak figures (default: the spec's defaults.activation_bits)", 1, 16);
        var command = new Command("show", CommonOptions.Help("Validate a preset or spec file and print it resolved, with the component table scaled to its geometry, tile power, area, peak efficiency and per-event energies",
            "pimq hw show bwq-h", "pimq hw show my-chip.yaml --wbits 4 --abits 4 --json")) { spec, wbits, abits, json };
        command.SetAction(parse => CommandRunner.Run(parse, json, null, null, (output, _) =>
        {
            var s = HardwareSpecLoader.Load(parse.GetValue(spec)!);
            var derived = Derived(s, parse.GetValue(wbits) ?? s.Defaults.WeightBits, parse.GetValue(abits) ?? s.Defaults.ActivationBits, out string summary);
            output.Err.Write(SpecTable(s));
            if (s.Components.Count > 0) output.Err.Write(ComponentTable(s));
            if (derived["scaled_components"] is JsonArray scaled) output.Err.Write(ScaledTable(scaled));
            output.Err.Write(DerivedTable(derived));
            var result = new JsonObject { ["ok"] = true, ["spec"] = JsonSerializer.SerializeToNode(s, SpecJson), ["derived"] = derived };
            output.Result(result, summary);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Table SpecTable(HardwareSpec s)
    {
        string title = s.Origin == $"{s.Name} (preset)" ? s.Origin : $"{s.Name} ({s.Origin})";
        var t = new Table().Title($"[bold]{Markup.Escape(title)}[/]").AddColumns("field", "value");
        void Row(string field, string value) => t.AddRow(field, Markup.Escape(value));
        Row("description", s.Description);
        Row("source", s.Source.Trim());
        Row("technology / clock", $"{Num(s.TechnologyNm)} nm / {Num(s.ClockGhz)} GHz");
        foreach (var a in s.Arrays)
            Row($"array {a.Name}", $"{a.Rows}×{a.Cols}, OU {a.OuRows}×{a.OuCols}" + (a.Tiles is { } tiles ? $", {tiles} tiles" : ""));
        Row("cell / DAC", $"{s.Cell.Bits}-bit cells, {s.Dac.Bits}-bit DAC");
        Row("ADC", s.Adc.IsIdeal ? "ideal" : $"{s.Adc.Bits} bits, step {Snake(s.Adc.Step)}" + (s.Adc.Calibration is { } c ? $" per {Snake(c)}" : ""));
        Row("encoding", $"{Snake(s.Encoding.Weights)}, column flip {(s.Encoding.ColumnFlip ? "on" : "off")}, reference column {(s.Encoding.ReferenceColumn ? "on" : "off")}");
        Row("mapping", s.Mapping);
        Row("defaults", $"{s.Defaults.WeightBits}-bit weights, {s.Defaults.ActivationBits}-bit activations");
        Row("organisation", s.Organisation is { } o
            ? $"{o.ImasPerTile} IMAs/tile, {o.ArraysPerIma} arrays/IMA, {o.AdcsPerIma} ADCs/IMA at {Num(o.AdcRateGsps)} GS/s, settle {Num(o.SettleNs)} ns, pipeline {Snake(o.Pipeline)}{(o.OuOverlap ? ", OUs overlap across ADCs" : "")}"
            : "not given (the cost model refuses this spec)");
        if (s.ComponentBasis is { } b)
            Row("component basis", $"table published for {b.Rows}×{b.Cols} arrays, {b.ArraysPerIma} arrays/IMA, {b.AdcsPerIma} ADCs/IMA, {b.AdcBits}-bit ADC at {Num(b.AdcRateGsps)} GS/s");
        var n = s.NonIdealities;
        Row("non-idealities", n.IsIdeal ? "none" :
            $"variation {Snake(n.Variation.Kind)} σ={Num(n.Variation.Sigma)}{(n.Variation.SigmaPerLevel is { } pl ? " per level [" + string.Join(", ", pl.Select(x => Num(x))) + "]" : "")}, " +
            $"on/off {(n.OnOffRatio is { } r ? Num(r) : "ideal")}, SAF sa0={Num(n.Saf.Sa0)} sa1={Num(n.Saf.Sa1)}, read noise {Num(n.ReadNoise)}, seed {n.Seed}");
        return t;
    }

    private static Table ComponentTable(HardwareSpec s)
    {
        var t = new Table().Title("components as published (rows are totals for `count` instances of the component basis)")
            .AddColumns("name", "level", "count", "power mW", "area mm²", "leakage mW", "scales with", "events (pJ)");
        foreach (var c in s.Components)
            t.AddRow(Markup.Escape(c.Name), Snake(c.Level), Num(c.Count) + (c.SharedBy != 1 ? $" (÷{Num(c.SharedBy)})" : ""),
                Num(c.PowerMw), Num(c.AreaMm2), Num(c.LeakageMw), Snake(c.ScalesWith),
                Markup.Escape(string.Join("; ", c.Events.Select(EventText))));
        return t;
    }

    /// <summary>Each row scaled to one unit of its level on each geometry of the spec (IMA rows: one IMA of that geometry).</summary>
    private static JsonArray Scaled(HardwareSpec s) => new(s.Arrays.SelectMany(g => s.Components.Select(c =>
    {
        var row = ComponentTotals.Row(s, c, g);
        return (JsonNode)new JsonObject
        {
            ["geometry"] = g.Name, ["name"] = c.Name, ["level"] = Snake(c.Level),
            ["power_mw"] = row.PowerMw, ["area_mm2"] = row.AreaMm2, ["leakage_mw"] = row.LeakageMw,
        };
    })).ToArray());

    private static Table ScaledTable(JsonArray scaled)
    {
        var t = new Table().Title("components scaled to this spec (per unit of their level, before sharing)")
            .AddColumns("geometry", "name", "level", "power mW", "area mm²", "leakage mW");
        foreach (var r in scaled)
            t.AddRow(Markup.Escape((string)r!["geometry"]!), Markup.Escape((string)r["name"]!), (string)r["level"]!,
                Num((double)r["power_mw"]!), Num((double)r["area_mm2"]!), Num((double)r["leakage_mw"]!));
        return t;
    }

    private static string EventText(ComponentEvent e)
    {
        string name = EnergyTable.Snake(e.Event);
        if (e.EnergyPjByBits is { } byBits)
            return $"{name} " + string.Join(" ", byBits.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}b:{Num(kv.Value)}"));
        return $"{name} {Num(e.EnergyPj)}" + (e.Bits > 1 ? $"/{e.Bits} bits" : "");
    }

    /// <summary>Derived figures: exactness of the ADC per geometry, power and area sums, per-event energies.</summary>
    private static JsonObject Derived(HardwareSpec s, int weightBits, int activationBits, out string summary)
    {
        var derived = new JsonObject
        {
            ["arrays"] = new JsonArray(s.Arrays.Select(a => (JsonNode)new JsonObject
            {
                ["name"] = a.Name,
                ["partial_sum_bound"] = s.PartialSumBound(a),
                ["adc_bits_for_exact"] = s.AdcBitsForExact(a),
                ["adc_is_exact"] = s.AdcIsExact(a),
            }).ToArray()),
        };
        summary = $"{s.Name}: valid; {string.Join(", ", s.Arrays.Select(a => $"{a.Rows}×{a.Cols} (OU {a.OuRows}×{a.OuCols})"))}, " +
                  $"{s.Cell.Bits}-bit cells, {s.Dac.Bits}-bit DAC, {(s.Adc.IsIdeal ? "ideal" : s.Adc.Bits + "-bit")} ADC";
        if (s.Organisation is not null && s.Components.Count > 0)
        {
            JsonObject Pa(PowerArea p) => new() { ["power_mw"] = p.PowerMw, ["area_mm2"] = p.AreaMm2, ["leakage_mw"] = p.LeakageMw };
            var tile = ComponentTotals.Tile(s);
            derived["scaled_components"] = Scaled(s);
            derived["ima"] = Pa(ComponentTotals.Ima(s));
            derived["tile_level"] = Pa(ComponentTotals.TileLevel(s));
            derived["tile"] = Pa(tile);
            derived["chip"] = Pa(ComponentTotals.Chip(s));
            derived["read_ns"] = new JsonObject(s.Arrays.Select(g => KeyValuePair.Create(g.Name,
                (JsonNode?)(ReadTiming.Seconds(s.Organisation, g.OuCols + (s.Encoding.ReferenceColumn ? 1 : 0)) * 1e9))));
            var peak = PeakThroughput.Of(s, weightBits, activationBits);
            derived["peak"] = new JsonObject
            {
                ["weight_bits"] = weightBits, ["activation_bits"] = activationBits,
                ["gops"] = peak.OpsPerSecond / 1e9, ["gops_per_mm2"] = peak.GopsPerMm2, ["gops_per_w"] = peak.GopsPerWatt,
            };
            summary += string.Create(CultureInfo.InvariantCulture,
                $"; tile {tile.PowerMw:F2} mW, {tile.AreaMm2:F4} mm²; peak W{weightBits}A{activationBits} {peak.GopsPerMm2:F2} GOPs/s/mm², {peak.GopsPerWatt:F2} GOPs/W");
        }
        if (s.Components.Count > 0)
        {
            try
            {
                var table = EnergyTable.From(s);
                var perEvent = new JsonObject();
                foreach (var e in System.Enum.GetValues<EventKind>().Except(table.Unpriced))
                    perEvent[EnergyTable.Snake(e) + (e is EventKind.BufferRead or EventKind.BufferWrite or EventKind.RouterTransfer or EventKind.IndexRead ? "_per_bit" : "")] =
                        table.PerEventPj(e, s.Adc.IsIdeal ? null : s.Adc.Bits);
                derived["energy_pj"] = perEvent;
                derived["unpriced_events"] = new JsonArray(table.Unpriced.Select(e => (JsonNode)EnergyTable.Snake(e)).ToArray());
            }
            catch (HardwareSpecException e)
            {
                derived["cost_model"] = e.Message;
            }
        }
        if (!derived.ContainsKey("cost_model"))
            derived["cost_model"] = s.Organisation is null || s.Components.Count == 0
                ? "unavailable: the spec gives no organisation or component table (see its source)"
                : "available";
        return derived;
    }

    private static Table DerivedTable(JsonObject derived)
    {
        var t = new Table().Title("derived").AddColumns("quantity", "value");
        foreach (var a in derived["arrays"]!.AsArray())
            t.AddRow($"ADC exact on {Markup.Escape((string)a!["name"]!)}",
                $"{((bool)a["adc_is_exact"]! ? "yes" : "no")} (partial sums ≤ {a["partial_sum_bound"]}, need {a["adc_bits_for_exact"]} bits)");
        foreach (var part in new[] { "ima", "tile_level", "tile", "chip" })
            if (derived[part] is JsonObject pa)
                t.AddRow(part.Replace('_', ' '), string.Create(CultureInfo.InvariantCulture,
                    $"{(double)pa["power_mw"]!:F3} mW, {(double)pa["area_mm2"]!:F5} mm², leakage {(double)pa["leakage_mw"]!:F3} mW"));
        if (derived["read_ns"] is JsonObject reads)
            foreach (var (name, ns) in reads)
                t.AddRow($"one OU read on {Markup.Escape(name)}", string.Create(CultureInfo.InvariantCulture, $"{(double)ns!:G4} ns"));
        if (derived["peak"] is JsonObject p)
            t.AddRow($"peak at W{p["weight_bits"]}A{p["activation_bits"]}", string.Create(CultureInfo.InvariantCulture,
                $"{(double)p["gops"]!:F0} GOPs/s, {(double)p["gops_per_mm2"]!:F2} GOPs/s/mm², {(double)p["gops_per_w"]!:F2} GOPs/W"));
        if (derived["energy_pj"] is JsonObject energies)
            foreach (var (name, value) in energies)
                t.AddRow(Markup.Escape(name), string.Create(CultureInfo.InvariantCulture, $"{(double)value!:G4} pJ"));
        t.AddRow("cost model", Markup.Escape((string)derived["cost_model"]!));
        return t;
    }

    private static string Num(double? v) => v is { } x ? x.ToString("G6", CultureInfo.InvariantCulture) : "n/a";

    private static string Snake<T>(T value) where T : struct, System.Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());
}
