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
