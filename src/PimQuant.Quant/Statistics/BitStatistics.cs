using PimQuant.Quant.Formats;
using PimQuant.Quant.Model;
using PimQuant.Quant.Ptq;
using PimQuant.Quant.Quantizers;

namespace PimQuant.Quant.Statistics;

/// <summary>
/// Bit statistics of quantized weights, for one layer or a block of layers. Each weight is taken
/// as stored: sign and magnitude, the magnitude being |code − zero point| for integer formats and
/// the code without its sign bit for the others, as wide as its own format's magnitudes (with a
/// precision map each group has its own format; a pruned group's weights have no bits).
/// </summary>
/// <param name="Name">The layer or block.</param>
/// <param name="Format">The (first) layer's format name.</param>
/// <param name="Bits">Configured bits per weight (sign included); with precision maps, the widest group's.</param>
/// <param name="MeanBits">Configured bits averaged over the weights: a precision map's group bits weighted by the groups' sizes (a pruned group counts 0); <paramref name="Bits"/> without maps.</param>
/// <param name="Weights">Number of weights.</param>
/// <param name="MagnitudeBits">Magnitude bits of the (widest) format (the largest magnitude's bit length).</param>
/// <param name="MaxBitsUsed">Bits the largest magnitude actually present needs, plus the sign bit of signed formats.</param>
/// <param name="MeanGroupBits">Mean over scale groups of the bits the group needs (its largest magnitude's bit length, plus the sign; 0 for an all-zero group): the precision a block-wise mapping (BWQ) stores, weighted by group size.</param>
/// <param name="ZeroWeightFraction">Fraction of weights whose value is 0.</param>
/// <param name="ZeroBitFraction">Fraction of zero bits among the magnitude bits of all weights (bit-level sparsity).</param>
/// <param name="ZeroDigitFraction">Fraction of zero digits when magnitudes are cut into digits of <paramref name="DigitBits"/> bits (a cell's bits).</param>
/// <param name="DigitBits">Digit width for <paramref name="ZeroDigitFraction"/>.</param>
/// <param name="CompressionRatio">32·weights / Σ configured bits = 32 / <paramref name="MeanBits"/>: float32 storage over the configured bits.</param>
/// <param name="GroupCompressionRatio">32·weights / Σ_groups (size·needed bits + index bits): storage when each scale group keeps only the bits it needs, with a per-group precision index of ceil(log2(bits + 1)) bits (bits: the widest configured).</param>
public sealed record WeightBitStatistics(
    string Name, string Format, int Bits, double MeanBits, long Weights, int MagnitudeBits, int MaxBitsUsed, double MeanGroupBits,
    double ZeroWeightFraction, double ZeroBitFraction, double ZeroDigitFraction, int DigitBits,
    double CompressionRatio, double GroupCompressionRatio)
{
    /// <summary>Statistics of one layer's integer weights.</summary>
    /// <param name="name">How to name the layer.</param>
    /// <param name="weights">The integer view of the layer's weight.</param>
    /// <param name="digitBits">Digit width for the digit sparsity (e.g. the cell bits).</param>
    public static WeightBitStatistics Of(string name, IntegerWeights weights, int digitBits = 1) =>
        Combine(name, [Count(weights, digitBits)], digitBits, weights.Format.Name);

    /// <summary>Statistics of every weight-quantized layer of <paramref name="model"/>, and of every reconstruction block.</summary>
    public static (IReadOnlyList<WeightBitStatistics> Layers, IReadOnlyList<WeightBitStatistics> Blocks, WeightBitStatistics Total) Of(QuantizedModel model, int digitBits = 1)
    {
        var counts = new Dictionary<string, Counts>(StringComparer.Ordinal);
        var layers = new List<WeightBitStatistics>();
        foreach (var layer in model.Layers)
        {
            if (layer.Weight is not { IsCalibrated: true } quantizer) continue;
            var c = Count(quantizer.ToIntegers(model.WeightOf(layer)), digitBits);
            counts[layer.Name] = c;
            layers.Add(Combine(layer.Name, [c], digitBits, quantizer.Spec.Format.Name));
        }
        var blocks = new List<WeightBitStatistics>();
        if (counts.Count > 0 && model.Graph.Inputs.Count == 1 && model.Graph.Outputs.Count == 1)
            foreach (var block in BlockPartition.Of(model.Graph, model.Layers.Select(l => l.Name).ToHashSet(StringComparer.Ordinal)))
            {
                var members = block.Layers.Where(counts.ContainsKey).Select(l => counts[l]).ToList();
                if (members.Count > 0) blocks.Add(Combine($"block {block.Index + 1} ({block})", members, digitBits, members[0].Format));
            }
        return (layers, blocks, Combine("total", [.. counts.Values], digitBits, counts.Count > 0 ? counts.Values.First().Format : "-"));
    }

    /// <summary>Raw counts of one layer.</summary>
    private sealed record Counts(string Format, int Bits, double ConfiguredBits, long Weights, int MagnitudeBits, long TotalMagnitudeBits, int MaxBitsUsed,
        double GroupBitsTimesSize, long ZeroWeights, long ZeroBits, long ZeroDigits, long Digits, double GroupStorageBits);

    private static Counts Count(IntegerWeights weights, int digitBits)
    {
        int sign = weights.Format.Signed ? 1 : 0;
        int zeroPoint = weights.ZeroPoints.Select(Math.Abs).DefaultIfEmpty(0).Max();
        // Per precision group: magnitude bits (0 when pruned) and the mask of a non-uniform code's magnitude.
        int MagnitudeBitsOf(NumberFormat? f) => f is null ? 0
            : f.IsUniform ? BitLength((long)Math.Max(Math.Abs(f.MinLevel), f.MaxLevel) + zeroPoint) : f.Bits - sign;
        int[] groupMagnitudeBits = [.. weights.GroupFormats.Select(MagnitudeBitsOf)];
        long Magnitude(int i, NumberFormat? f) => f is null ? 0
            : f.IsUniform ? (long)Math.Abs(weights.Levels[i]) : weights.Codes[i] & ((1L << (f.Bits - sign)) - 1);
        var groupMax = new long[weights.Groups.Count];
        long zeroWeights = 0, oneBits = 0, zeroDigits = 0, digits = 0, magnitudeBits = 0;
        double configured = 0;
        int maxUsed = 0;
        for (int i = 0; i < weights.Codes.Count; i++)
        {
            int p = weights.PrecisionGroupOfElement[i];
            var f = weights.GroupFormats[p];
            long m = Magnitude(i, f);
            int bits = groupMagnitudeBits[p];
            int digitsPerWeight = (bits + digitBits - 1) / digitBits;
            configured += f?.Bits ?? 0;
            magnitudeBits += bits;
            digits += digitsPerWeight;
            if (weights.Levels[i] == 0) zeroWeights++;
            oneBits += long.PopCount(m);
            for (int t = 0; t < digitsPerWeight; t++)
                if ((m >> (t * digitBits) & ((1L << digitBits) - 1)) == 0) zeroDigits++;
            int g = weights.GroupOfElement[i];
            groupMax[g] = Math.Max(groupMax[g], m);
            maxUsed = Math.Max(maxUsed, BitLength(m));
        }
        long n = weights.Codes.Count;
        int widest = weights.GroupFormats.Max(f => f?.Bits ?? 0);
        int indexBits = BitLength(widest);
        double groupBits = 0, storage = 0;
        for (int g = 0; g < groupMax.Length; g++)
        {
            int needed = groupMax[g] == 0 ? 0 : BitLength(groupMax[g]) + sign;
            groupBits += (double)needed * weights.Groups[g].Count;
            storage += (double)needed * weights.Groups[g].Count + indexBits;
        }
        return new Counts(weights.Format.Name, widest, configured, n, groupMagnitudeBits.Max(), magnitudeBits, maxUsed == 0 ? 0 : maxUsed + sign, groupBits,
            zeroWeights, magnitudeBits - oneBits, zeroDigits, digits, storage);
    }

    private static int BitLength(long value) => value == 0 ? 0 : 64 - (int)long.LeadingZeroCount(value);

    private static WeightBitStatistics Combine(string name, IReadOnlyList<Counts> parts, int digitBits, string format)
    {
        long weights = parts.Sum(p => p.Weights);
        double configured = parts.Sum(p => p.ConfiguredBits);
        double Ratio(double numerator, double denominator) => denominator == 0 ? 0 : numerator / denominator;
        return new WeightBitStatistics(
            name, format,
            parts.Count == 0 ? 0 : parts.Max(p => p.Bits),
            Ratio(configured, weights),
            weights,
            parts.Count == 0 ? 0 : parts.Max(p => p.MagnitudeBits),
            parts.Count == 0 ? 0 : parts.Max(p => p.MaxBitsUsed),
            Ratio(parts.Sum(p => p.GroupBitsTimesSize), weights),
            Ratio(parts.Sum(p => p.ZeroWeights), weights),
            Ratio(parts.Sum(p => p.ZeroBits), parts.Sum(p => p.TotalMagnitudeBits)),
            Ratio(parts.Sum(p => p.ZeroDigits), parts.Sum(p => p.Digits)),
            digitBits,
            Ratio(32.0 * weights, configured),
            Ratio(32.0 * weights, parts.Sum(p => p.GroupStorageBits)));
    }
}
