using System.Text.Json.Nodes;
using PimQuant.Accelerator;
using PimQuant.Experiments;
using PimQuant.Hardware.Cost;
using PimQuant.Quant.Model;
using PimQuant.Quant.Statistics;
using Spectre.Console;

namespace PimQuant.Cli.Terminal;

/// <summary>The parts of several commands' reports: the same figure is printed the same way by every command.</summary>
public static class Reports
{
    /// <summary>The resolved preprocessing: where it came from, the means and the stds.</summary>
    public static JsonObject PreprocessingJson(Preprocessing preprocessing) => new()
    {
        ["source"] = preprocessing.SourceName,
        ["mean"] = new JsonArray(preprocessing.Normalization.Mean.Select(v => (JsonNode)v).ToArray()),
        ["std"] = new JsonArray(preprocessing.Normalization.Std.Select(v => (JsonNode)v).ToArray()),
    };

    /// <summary>An accuracy change in words: "0.31 points lower" for a drop, "0.31 points higher" for a gain.</summary>
    public static string Change(double fromAccuracy, double toAccuracy)
    {
        double points = 100 * (toAccuracy - fromAccuracy);
        return Math.Round(points, 2) switch
        {
            0 => "unchanged",
            < 0 => $"{-points:F2} points lower",
            _ => $"{points:F2} points higher",
        };
    }

    /// <summary>The cost figures of one image as JSON (null when the spec cannot be priced).</summary>
    public static JsonObject? CostJson(SimulationCost cost)
    {
        if (cost.Report is not { } r) return null;
        var t = r.Total;
        return new JsonObject
        {
            ["energy_j"] = t.EnergyJ,
            ["dynamic_energy_j"] = t.DynamicEnergyJ,
            ["static_energy_j"] = t.StaticEnergyJ,
            ["latency_s"] = t.LatencySeconds,
            ["period_s"] = t.PeriodSeconds,
            ["fps"] = t.Fps,
            ["bottleneck_layer"] = t.BottleneckLayer,
            ["tops"] = t.Tops,
            ["tops_per_w"] = t.TopsPerWatt,
            ["tops_per_mm2"] = t.TopsPerMm2,
            ["area_mm2"] = t.AreaMm2,
            ["tiles_used"] = t.TilesUsed,
            ["fits_on_chip"] = t.Fits,
            ["utilisation"] = t.Utilisation,
            ["index_bits"] = t.IndexBits,
            ["energy_breakdown_j"] = new JsonObject(t.EnergyByComponentJ.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["counts"] = CountsJson(t.Counts),
            ["layers"] = new JsonArray(r.Layers.Select(l => (JsonNode)new JsonObject
            {
                ["name"] = l.Name,
                ["geometry"] = l.Geometry,
                ["arrays"] = l.Arrays, ["replication"] = l.Replication, ["imas"] = l.Imas, ["adc_bits"] = l.AdcBits,
                ["utilisation"] = l.Utilisation,
                ["programmed_cells"] = l.ProgrammedCells, ["allocated_cells"] = l.AllocatedCells, ["index_bits"] = l.IndexBits,
                ["area_mm2"] = l.AreaMm2,
                ["energy_j"] = l.EnergyJ,
                ["dynamic_energy_j"] = l.DynamicEnergyJ,
                ["static_energy_j"] = l.StaticEnergyJ,
                ["latency_s"] = l.LatencySeconds,
                ["counts"] = CountsJson(l.Counts),
            }).ToArray()),
        };
    }

    private static JsonObject CountsJson(EventCounts c) => new()
    {
        ["macs"] = c.Macs, ["ou_reads"] = c.OuReads, ["cell_reads"] = c.CellReads, ["dac_drives"] = c.DacDrives,
        ["adc_conversions"] = c.AdcConversions, ["shift_adds"] = c.ShiftAdds, ["digit_sums"] = c.DigitSums,
        ["buffer_read_bytes"] = c.BufferReadBytes, ["buffer_write_bytes"] = c.BufferWriteBytes, ["router_bytes"] = c.RouterBytes,
        ["index_read_bits"] = c.IndexReadBits, ["critical_path_ou_reads"] = c.CriticalPathOuReads,
    };

    /// <summary>One-line cost summary for the table.</summary>
    public static string CostLine(SimulationCost cost) => cost.Report is { Total: var t }
        ? $"{t.EnergyJ * 1e6:F2} µJ/image ({t.StaticEnergyJ * 1e6:F2} static), {t.Fps:N0} FPS (bottleneck {t.BottleneckLayer}), latency {t.LatencySeconds * 1e6:F1} µs, {t.TopsPerWatt:F2} TOPS/W, {t.AreaMm2:F1} mm², utilisation {t.Utilisation:P1}"
        : "no cost: " + cost.Unavailable;

    /// <summary>The per-layer quantization table: formats, weight bits used, zero bits, compression, activation bits.</summary>
    public static Table StatisticsTable(QuantizedModel model, IReadOnlyList<WeightBitStatistics> weights, IReadOnlyDictionary<string, ActivationStatistics> activations)
    {
        var table = new Table().Title("Per-layer quantization (weights: bits used, zero-bit fraction, compression; activations on the test split)")
            .AddColumns("layer", "weight", "activation", "W bits used", "W zero bits", "W compr.", "A mean bits", "A zero bits");
        var byName = weights.ToDictionary(w => w.Name);
        foreach (var plan in model.Plan.Layers)
        {
            var w = byName.GetValueOrDefault(plan.Layer.Name);
            var a = activations.GetValueOrDefault(plan.Layer.Name);
            table.AddRow(
                Markup.Escape(plan.Layer.Name),
                Markup.Escape(plan.Weight is null ? "fp32" : $"{plan.Weight.Format.Name} {plan.Weight.Granularity}"),
                Markup.Escape(plan.Activation is null ? "fp32" : $"{plan.Activation.Format.Name} {plan.Activation.Granularity}"),
                w is null ? "-" : $"{w.MaxBitsUsed}/{w.Bits}",
                w is null ? "-" : $"{w.ZeroBitFraction:P1}",
                w is null ? "-" : $"{w.CompressionRatio:F1}x",
                a is null ? "-" : $"{a.MeanBitsUsed:F2}/{a.Bits}",
                a is null ? "-" : $"{a.ZeroDigitFraction:P1}");
        }
        return table;
    }

    /// <summary>One layer's, block's or the whole model's weight bit statistics.</summary>
    public static JsonObject StatisticsJson(WeightBitStatistics s) => new()
    {
        ["name"] = s.Name,
        ["format"] = s.Format,
        ["bits"] = s.Bits,
        ["weights"] = s.Weights,
        ["max_bits_used"] = s.MaxBitsUsed,
        ["mean_bits"] = s.MeanBits,
        ["mean_group_bits"] = s.MeanGroupBits,
        ["zero_weight_fraction"] = s.ZeroWeightFraction,
        ["zero_bit_fraction"] = s.ZeroBitFraction,
        ["compression_ratio"] = s.CompressionRatio,
        ["group_compression_ratio"] = s.GroupCompressionRatio,
    };

    /// <summary>Every quantizable layer: its quantizers and bit statistics.</summary>
    public static JsonArray LayersJson(QuantizedModel model, IReadOnlyList<WeightBitStatistics> weights, IReadOnlyDictionary<string, ActivationStatistics> activations)
    {
        var byName = weights.ToDictionary(w => w.Name);
        return new JsonArray(model.Plan.Layers.Select(plan => (JsonNode)new JsonObject
        {
            ["name"] = plan.Layer.Name,
            ["op"] = plan.Layer.OpType,
            ["weight"] = plan.Weight?.ToString(),
            ["activation"] = plan.Activation?.ToString(),
            ["weight_statistics"] = byName.TryGetValue(plan.Layer.Name, out var w) ? StatisticsJson(w) : null,
            ["activation_statistics"] = activations.TryGetValue(plan.Layer.Name, out var a) ? new JsonObject
            {
                ["bits"] = a.Bits,
                ["mean_bits_used"] = a.MeanBitsUsed,
                ["max_bits_used"] = a.MaxBitsUsed,
                ["zero_code_fraction"] = a.ZeroCodeFraction,
                ["zero_bit_fraction"] = a.ZeroDigitFraction,
            } : null,
        }).ToArray());
    }
}
