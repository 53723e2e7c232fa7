namespace PimQuant.Sim;

/// <summary>Options of one run.</summary>
public sealed record RunOptions
{
    /// <summary>Defaults: every digit, events counted, automatic path.</summary>
    public static RunOptions Default { get; } = new();

    /// <summary>Digit schedule, or null to stream all T digits.</summary>
    public IInputDigitPolicy? DigitPolicy { get; init; }

    /// <summary>Global index of the first pixel; keys read noise (and is passed to the digit policy),
    /// so results do not depend on how pixels are batched.</summary>
    public long FirstPixel { get; init; }

    /// <summary>Force a path (must apply to the layer), or null to choose automatically.</summary>
    public SimulationPath? Path { get; init; }

    /// <summary>Count events (the exact path then also scans input digits).</summary>
    public bool CountEvents { get; init; } = true;

    /// <summary>The codes are the two's-complement bit patterns of signed activations (docs/hardware.md §0):
    /// a = Σ_(t&lt;T−1) 2^(d·t)·a_t − 2^(ba−1)·a_(T−1), the most significant digit carrying negative weight.
    /// Every read is the same as for the unsigned pattern; only the digital shift-and-add subtracts the
    /// sign digit's codes. Needs the sign bit to be a digit of its own: (ba − 1) divisible by d.</summary>
    public bool SignedActivations { get; init; }
}
