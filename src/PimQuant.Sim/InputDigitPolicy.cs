namespace PimQuant.Sim;

/// <summary>Chooses at run time which input digits each (pixel, OU row group) streams, e.g. ReDy's
/// dynamic activation precision. A digit that is not streamed is not read: it costs no read, no
/// conversion and no drive, and contributes nothing, so the layer sees a' = Σ_{t streamed} 2^(d·t)·a_t
/// (the offset encoding's digital correction uses a' too). Called concurrently from worker threads.</summary>
public interface IInputDigitPolicy
{
    /// <summary>Fills <paramref name="digitMasks"/> (one per OU row group; bit t set = digit t is read)
    /// for one pixel whose im2col vector is <paramref name="activations"/> (K codes).</summary>
    /// <param name="pixel">Global pixel index (<see cref="RunOptions.FirstPixel"/> + row).</param>
    /// <param name="activations">The pixel's activation codes.</param>
    /// <param name="geometry">The layer's tiles and row groups.</param>
    /// <param name="digitMasks">Output, pre-filled with all T digits.</param>
    void SelectDigits(long pixel, ReadOnlySpan<byte> activations, LayerGeometry geometry, Span<uint> digitMasks);

    /// <summary>True when the policy rewrites a pixel's codes before its digits are chosen (<see cref="Rewrite"/>).</summary>
    bool RewritesCodes => false;

    /// <summary>Rewrites one pixel's codes in place before they are streamed, e.g. rounding the digits a window will drop
    /// into the ones it keeps; the layer then computes with, and counts the reads of, the rewritten codes. Called once per
    /// pixel and layer run, only when <see cref="RewritesCodes"/> is true.</summary>
    /// <param name="pixel">Global pixel index.</param>
    /// <param name="activations">The pixel's K codes, rewritten in place.</param>
    /// <param name="geometry">The layer's tiles and row groups.</param>
    /// <param name="signed">The codes are two's-complement patterns (<see cref="RunOptions.SignedActivations"/>).</param>
    void Rewrite(long pixel, Span<byte> activations, LayerGeometry geometry, bool signed) { }
}

/// <summary>Built-in input digit policies.</summary>
public static class InputDigitPolicies
{
    /// <summary>Skips, per pixel and OU row group, every digit that is zero on all of the group's rows: those reads would
    /// sum nothing, so skipping them is lossless on any device (an undriven row conducts nothing) and leaves only reads
    /// that carry a one (CIMQ's bit-level sparsity; ReDy's lossless rule skips the leading and trailing ones of these).
    /// Detecting them takes an OR over the group's inputs, counted as digit selections.</summary>
    public static IInputDigitPolicy SkipZeroDigits { get; } = new ZeroDigitSkip();

    /// <summary>The digits both policies read (a digit is streamed only when each would stream it), with the codes rewritten by
    /// the one of them that rewrites codes, if any: e.g. CIMQ's zero-digit skip with ReDy's windows.</summary>
    /// <exception cref="ArgumentException">Both rewrite codes: the order would change the result.</exception>
    public static IInputDigitPolicy Both(IInputDigitPolicy first, IInputDigitPolicy second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        if (first.RewritesCodes && second.RewritesCodes) throw new ArgumentException("two digit policies that both rewrite the codes do not combine");
        return new Intersection(first, second);
    }

    private sealed class Intersection(IInputDigitPolicy first, IInputDigitPolicy second) : IInputDigitPolicy
    {
        public bool RewritesCodes => first.RewritesCodes || second.RewritesCodes;

        public void Rewrite(long pixel, Span<byte> activations, LayerGeometry geometry, bool signed) =>
            (first.RewritesCodes ? first : second).Rewrite(pixel, activations, geometry, signed);

        public void SelectDigits(long pixel, ReadOnlySpan<byte> activations, LayerGeometry geometry, Span<uint> digitMasks)
        {
            Span<uint> other = digitMasks.Length <= 256 ? stackalloc uint[digitMasks.Length] : new uint[digitMasks.Length];
            digitMasks.CopyTo(other);
            first.SelectDigits(pixel, activations, geometry, digitMasks);
            second.SelectDigits(pixel, activations, geometry, other);
            for (int g = 0; g < digitMasks.Length; g++) digitMasks[g] &= other[g];
        }
    }

    private sealed class ZeroDigitSkip : IInputDigitPolicy
    {
        public void SelectDigits(long pixel, ReadOnlySpan<byte> activations, LayerGeometry geometry, Span<uint> digitMasks)
        {
            int d = geometry.DigitBits, digitMax = (1 << d) - 1;
            for (int g = 0; g < digitMasks.Length; g++)
            {
                int any = 0;
                foreach (byte code in activations.Slice(geometry.GroupStart[g], geometry.GroupRows[g])) any |= code;
                uint mask = 0;
                for (int t = 0; t < geometry.Digits; t++)
                    if ((any >> (d * t) & digitMax) != 0) mask |= 1u << t;
                digitMasks[g] &= mask;
            }
        }
    }
}
