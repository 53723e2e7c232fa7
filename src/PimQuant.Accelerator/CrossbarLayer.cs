using PimQuant.Hardware.Mapping;
using PimQuant.Quant.Config;
using PimQuant.Sim;
using PimQuant.Hardware.Cost;

namespace PimQuant.Accelerator;

/// <summary>One Conv or Gemm of the model on crossbars: its lowered shape, its mapping, the programmed crossbars of
/// each convolution group, and the events counted while it ran.</summary>
public sealed class CrossbarLayer
{
    internal CrossbarLayer(QuantizableLayer layer, LayerShape shape, CrossbarConfig config, LayerMapping mapping, ProgrammedLayer[] groups, double meanWeightBits)
    {
        MeanWeightBits = meanWeightBits;
        Layer = layer;
        Shape = shape;
        Config = config;
        Mapping = mapping;
        Groups = groups;
    }

    /// <summary>The graph layer.</summary>
    public QuantizableLayer Layer { get; }

    /// <summary>The layer's name.</summary>
    public string Name => Layer.Name;

    /// <summary>Its lowered shape per image (the mapping's and cost model's input).</summary>
    public LayerShape Shape { get; }

    /// <summary>The crossbar the layer is programmed on: the spec at the layer's own weight and activation bits.</summary>
    public CrossbarConfig Config { get; }

    /// <summary>Where the spec's mapping strategy puts the layer's integer weights: the instance the cost model prices
    /// (<see cref="CrossbarCost"/>), and with the precision-aware mapping also the OUs and arrays the simulator reads.</summary>
    public LayerMapping Mapping { get; }

    /// <summary>Weight bits averaged over the layer's weights, sign included: the precision map's mean where the quantizer has one
    /// (BWQ's block precision; a pruned block's weights count 0), else the weight format's bits.</summary>
    public double MeanWeightBits { get; }

    /// <summary>The programmed crossbars of each convolution group (each group's K × Cout/groups matrix on
    /// crossbars of its own).</summary>
    public IReadOnlyList<ProgrammedLayer> Groups { get; internal set; }

    /// <summary>Events since the last <see cref="CrossbarModel.ResetEvents"/>; groups of one run count as
    /// arrays read in parallel (their critical paths do not add), runs as one after another.</summary>
    public EventCounts Events { get; internal set; } = EventCounts.Zero;

    /// <summary>Whether every group simulates on the exact path (lossless).</summary>
    public bool IsLossless => Groups.All(g => g.IsLossless);
}
