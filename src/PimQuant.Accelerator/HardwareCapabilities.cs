using PimQuant.Hardware.Spec;
using PimQuant.Quant.Config;
using PimQuant.Quant.Formats;

namespace PimQuant.Accelerator;

/// <summary>
/// What a hardware spec's crossbars can hold, as the quantization side's <see cref="QuantCapabilities"/>,
/// so a plan is checked against the spec (<see cref="QuantCapabilities.Require"/>) before any work:
/// <list type="bullet">
/// <item>weights: symmetric signed integers (no zero point: the digital side subtracts no weight
/// offset), 1..16 bits with the offset encoding and 2..16 with the differential one (the sign needs
/// G+/G− columns and at least one magnitude bit); power-of-two, APoT and float formats only with
/// the magnitude-aligned mapping, whose bitlines carry any power of two;</item>
/// <item>weight scales per tensor, output channel, crossbar array or OU block, tiles the size of
/// the spec's default array and operation unit (scales per array or block are applied digitally
/// per row tile and column); a precision map over the same groups, pruned groups allowed (an
/// all-zero group is stored as zeros, or left out by a precision-aware mapping);</item>
/// <item>activations: integers streamed digit by digit, unsigned or signed (two's complement),
/// with a zero point, at most 8 bits (the simulator's codes are bytes), one scale per tensor (a
/// per-channel scale would change each row's weight; dynamic groups come with ReDy's plan).</item>
/// </list>
/// </summary>
public static class HardwareCapabilities
{
    /// <summary>Most weight bits the crossbar simulator programs (sign included).</summary>
    public const int MaxWeightBits = 16;

    /// <summary>Most activation bits the simulator streams (its activation codes are bytes).</summary>
    public const int MaxActivationBits = 8;

    /// <summary>The capabilities of <paramref name="spec"/>.</summary>
    public static QuantCapabilities Of(HardwareSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var array = spec.DefaultArray;
        var weightFormats = new HashSet<FormatKind> { FormatKind.Integer };
        if (spec.Mapping == MappingNames.MagnitudeAligned)
            weightFormats.UnionWith([FormatKind.PowerOfTwo, FormatKind.AdditivePowerOfTwo, FormatKind.Float]);
        var granularities = new HashSet<string> { "tensor", "channel", "array", "ou" };
        return new QuantCapabilities
        {
            Name = spec.Name,
            MaxWeightBits = MaxWeightBits,
            MinWeightBits = spec.Encoding.Weights == WeightEncoding.Differential ? 2 : 1,
            MaxActivationBits = MaxActivationBits,
            SignedActivations = true,
            WeightFormats = weightFormats,
            ActivationFormats = new HashSet<FormatKind> { FormatKind.Integer },
            WeightGranularities = granularities,
            ActivationGranularities = new HashSet<string> { "tensor" },
            WeightPrecisionGranularities = granularities,
            PrunedWeightGroups = true,
            // The precision-aware mapping fills an array with whole OU rows only: its array tiles are that many rows.
            Array = (spec.Mapping == MappingNames.PrecisionAware ? array.Rows / array.OuRows * array.OuRows : array.Rows, array.Cols),
            OperationUnit = (array.OuRows, array.OuCols),
            AffineWeights = false,
            AffineActivations = true,
        };
    }
}
