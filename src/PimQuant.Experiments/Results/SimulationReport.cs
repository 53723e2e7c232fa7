using PimQuant.Accelerator;
using PimQuant.Hardware.Spec;

namespace PimQuant.Experiments.Results;

/// <summary>The result row of a <see cref="Simulation"/> run: one scheme, the quantized model on the request's spec.</summary>
public static class SimulationReport
{
    /// <summary>The command name a simulate run's rows carry.</summary>
    public const string Command = "simulate";

    /// <summary>Why a simulate row has no ratios: it runs one scheme and names no baseline to divide by.</summary>
    public const string NoBaselineNote = "speedup and energy_saving are null: simulate runs one scheme and names no baseline to take them against";

    /// <summary>
    /// The report of <paramref name="result"/>: one row, method <c>conventional</c> (the model quantized after training at the
    /// request's widths or config, or a QDQ file's own quantization) or the request's method, labelled <c>HW wWaA</c> and the
    /// method's label. Counts are the simulator's
    /// events per image (<see cref="CrossbarCost.PerImage"/>); cost fields are null, with the reason in the notes, when the spec
    /// cannot be priced; <c>speedup</c> and <c>energy_saving</c> are null (<see cref="NoBaselineNote"/>).
    /// </summary>
    public static ResultReport Of(SimulationRequest request, SimulationResult result)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(result);
        var notes = new List<string>();
        if (result.Cost.Report is null) notes.Add($"the cost fields are null: {result.Cost.Unavailable}");
        notes.Add(NoBaselineNote);
        var context = new ResultContext(Command, Path.GetFullPath(request.Model), result.Data.DatasetName, result.Data.Test.Count, request.Seed,
            Baseline: null, Paper: null, notes);
        return new ResultReport(context, [Row(request.Spec, request.Method, result)]);
    }

    /// <summary>The row of one simulated scheme: <paramref name="result"/> on <paramref name="spec"/> with <paramref name="method"/>'s
    /// parts (null: conventional), labelled <c>HW wWaA</c> and the method's label, without ratios (<see cref="ResultRow.RelativeTo"/>).</summary>
    public static ResultRow Row(HardwareSpec spec, MethodParts? method, SimulationResult result)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(result);
        var total = result.Cost.Report?.Total;

        long images = result.Simulated.Total;
        long ouReads = 0, adcConversions = 0;
        double weights = 0, weightBits = 0, streamed = 0, activationBits = 0;
        foreach (var (layer, events) in result.Layers.Zip(result.Events))
        {
            var perImage = CrossbarCost.PerImage(events, images, layer.Mapping, layer.Config.ActivationBits);
            ouReads += perImage.OuReads;
            adcConversions += perImage.AdcConversions;
            var shape = layer.Shape;
            double layerWeights = (double)shape.Groups * shape.RowsPerGroup * shape.ColumnsPerGroup;
            double layerStreamed = (double)shape.OutputPixels * shape.Groups * shape.RowsPerGroup;
            weights += layerWeights;
            weightBits += layerWeights * layer.MeanWeightBits;
            streamed += layerStreamed;
            activationBits += layerStreamed * layer.Config.ActivationBits;
        }
        double? avgWeightBits = weights > 0 ? weightBits / weights : null;
        double? avgActivationBits = streamed > 0 ? activationBits / streamed : null;

        var row = new ResultRow(
            Scheme: $"{spec.Name} w{result.WeightBits}a{result.ActivationBits}" + (method is { } m ? $" {m.Label}" : ""),
            Method: method?.Method ?? "conventional",
            Hw: spec.Origin == $"{spec.Name} (preset)" ? spec.Name : spec.Origin,
            AdcBits: spec.Adc.Bits,
            Fp32Accuracy: result.Fp32.Accuracy,
            IdealAccuracy: result.Ideal.Accuracy,
            Accuracy: result.Simulated.Accuracy,
            AvgWeightBits: avgWeightBits,
            AvgActivationBits: avgActivationBits,
            WeightCompression: 32 / avgWeightBits,
            Arrays: total?.Arrays,
            Utilisation: total?.Utilisation,
            OuReads: images > 0 ? ouReads : null,
            AdcConversions: images > 0 ? adcConversions : null,
            EnergyJ: total?.EnergyJ,
            LatencyS: total?.LatencySeconds,
            Fps: total?.Fps,
            TopsPerW: total?.TopsPerWatt,
            AreaMm2: total?.AreaMm2,
            Speedup: null,
            EnergySaving: null);
        return row;
    }
}
