using PimQuant.Accelerator;
using PimQuant.Experiments.Results;
using PimQuant.Quant.Granularity;
using PimQuant.Quant.Model;

namespace PimQuant.Experiments.Report;

/// <summary>
/// What a report's plots need of one scheme and its result row lacks (docs/report.md): the energy of one image by component,
/// and per crossbar layer its weight bits, arrays, utilisation, reads and energy, with its precision map when the weights
/// have one. It rides with the row (results.json, the run's checkpoint).
/// </summary>
/// <param name="Scheme">The row's <see cref="ResultRow.Scheme"/>.</param>
/// <param name="Paper">The published figures of the scheme's method against its baseline; null when none.</param>
/// <param name="EnergyByComponent">Energy of one image by component (dynamic + static), in the spec's order; empty when the spec cannot be priced.</param>
/// <param name="Layers">The crossbar layers in execution order.</param>
public sealed record SchemeDetail(string Scheme, PaperFigures? Paper, IReadOnlyList<ComponentEnergy> EnergyByComponent, IReadOnlyList<LayerDetail> Layers)
{
    /// <summary>The detail of <paramref name="result"/>, simulated from <paramref name="model"/>, reported as <paramref name="row"/>.</summary>
    public static SchemeDetail Of(ResultRow row, PaperFigures? paper, SimulationResult result, QuantizedModel model)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(model);
        var report = result.Cost.Report;
        var energy = report?.Total.EnergyByComponentJ.Select(kv => new ComponentEnergy(kv.Key, kv.Value)).ToList() ?? [];
        long images = result.Simulated.Total;
        var layers = new List<LayerDetail>(result.Layers.Count);
        foreach (var (layer, events) in result.Layers.Zip(result.Events))
        {
            var perImage = CrossbarCost.PerImage(events, images, layer.Mapping, layer.Config.ActivationBits);
            var precision = model.Layer(layer.Name)?.Weight?.Spec.Precision;
            var lowering = layer.Shape.Lowering;
            layers.Add(new LayerDetail(
                layer.Name,
                precision?.MeanBits(lowering) ?? layer.Config.WeightBits,
                layer.Mapping.Arrays.Count,
                layer.Mapping.Utilisation,
                perImage.OuReads,
                perImage.AdcConversions,
                report?.Layers.FirstOrDefault(l => l.Name == layer.Name)?.EnergyJ,
                precision is null ? null : PrecisionMap.Of(precision, lowering)));
        }
        return new SchemeDetail(row.Scheme, paper, energy, layers);
    }
}

/// <summary>One component's energy per image.</summary>
/// <param name="Component">The component as the spec names it.</param>
/// <param name="EnergyJ">Joules per image.</param>
public sealed record ComponentEnergy(string Component, double EnergyJ);

/// <summary>One crossbar layer of a scheme, per image.</summary>
/// <param name="Name">The layer's name in the graph.</param>
/// <param name="WeightBits">Weight bits averaged over the layer's weights (its precision map's mean, else its width).</param>
/// <param name="Arrays">Arrays one copy of its weights takes.</param>
/// <param name="Utilisation">Programmed cells / cells of its arrays.</param>
/// <param name="OuReads">OU reads per image.</param>
/// <param name="AdcConversions">ADC conversions per image.</param>
/// <param name="EnergyJ">Its energy per image; null when the spec cannot be priced.</param>
/// <param name="Precision">Its weights' precision map; null when the layer has one width.</param>
public sealed record LayerDetail(string Name, double WeightBits, int Arrays, double Utilisation, long OuReads, long AdcConversions, double? EnergyJ,
    PrecisionMap? Precision);

/// <summary>A layer's precision map as a grid for a heatmap: the bits of each weight group, groups numbered by convolution group,
/// then block row, then block column (Quant's <c>WeightGroupLayout</c> order).</summary>
/// <param name="Granularity">How the groups are cut (<c>ou 9x8</c>, <c>array 128x128</c>, <c>channel</c>, <c>tensor</c>).</param>
/// <param name="ConvolutionGroups">Convolution groups of the layer.</param>
/// <param name="RowBlocks">Block rows per convolution group.</param>
/// <param name="ColumnBlocks">Block columns per convolution group.</param>
/// <param name="Bits">Bits per group, sign included; 0 for a pruned group.</param>
public sealed record PrecisionMap(string Granularity, int ConvolutionGroups, int RowBlocks, int ColumnBlocks, IReadOnlyList<int> Bits)
{
    /// <summary>The grid of <paramref name="precision"/> over <paramref name="lowering"/>.</summary>
    public static PrecisionMap Of(WeightPrecision precision, WeightLowering lowering)
    {
        ArgumentNullException.ThrowIfNull(precision);
        ArgumentNullException.ThrowIfNull(lowering);
        static int Blocks(int n, int size) => (n + size - 1) / size;
        var (rows, columns) = precision.Granularity switch
        {
            ScaleGranularity.PerOuBlock ou => (Blocks(lowering.Rows, ou.Rows), Blocks(lowering.ColumnsPerGroup, ou.Columns)),
            ScaleGranularity.PerArray array => (Blocks(lowering.Rows, array.Rows), Blocks(lowering.ColumnsPerGroup, array.Columns)),
            ScaleGranularity.PerChannel => (1, lowering.ColumnsPerGroup),
            _ => (1, 1),
        };
        return new PrecisionMap(precision.Granularity.ToString()!, lowering.ConvolutionGroups, rows, columns, precision.Bits);
    }
}
