using PimQuant.Experiments;

namespace PimQuant.Methods.Bwq;

/// <summary>
/// BWQ as a scheme of <c>pimq compare</c>: the block-precision model BWQ-A wrote (a QDQ file with its own precision map, so nothing
/// is quantized again) on <c>bwq-h</c>, whose precision-aware mapping reads only the OUs its blocks' bits fill. The model is found
/// beside the comparison's: <c>MODEL-bwq.onnx</c>, what <c>pimq reproduce bwq --model MODEL</c> writes with <c>-o</c> there.
/// </summary>
public static class BwqScheme
{
    /// <summary>Weight bits of a BWQ model: a sign and 8 magnitude bits (n = 8), its blocks holding fewer.</summary>
    public const int WeightBits = 9;

    /// <summary>The BWQ model trained from <paramref name="model"/>: <c>MODEL-bwq.onnx</c> in the same folder.</summary>
    public static string ModelFor(string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Path.Combine(Path.GetDirectoryName(Path.GetFullPath(model))!, Path.GetFileNameWithoutExtension(model) + "-bwq.onnx");
    }

    /// <summary>BWQ's parts in a run: none beyond its model and mapping (the digit policy, ADC steps and quantization are left to
    /// the methods it is combined with).</summary>
    public static MethodParts Parts => new("bwq", "bwq");
}
